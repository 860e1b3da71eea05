//! Browser sessions at the authorization server: an opaque 256-bit cookie
//! stored by keyed hash, a CSRF token per session, a new id at sign-in
//! (session fixation), idle and absolute timeouts.
//!
//! Before sign-in nothing is stored: the sign-in form's CSRF token is bound
//! to an *anonymous* cookie that carries its own expiry and a MAC under the
//! server's key (`anon.<nonce>.<expiry>.<mac>`), and the token is a second
//! MAC of the same cookie. Looking at a sign-in page writes no row, so
//! anonymous page views cannot fill the sessions table.

use std::sync::Arc;

use crate::clock::Clock;
use crate::crypto::secrets::{generate_secret, random_id, SecretHasher};
use crate::domain::{UnixTime, User, UserId};
pub use crate::store::StoredSession;
use crate::store::{NewSession, Store, StoreResult};

/// A session unused this long is over.
pub const IDLE_TIMEOUT_SECONDS: i64 = 3_600;
/// A session is over this long after it began, used or not.
pub const ABSOLUTE_TIMEOUT_SECONDS: i64 = 8 * 3_600;
/// `last_seen_at` is written at most this often, not on every request.
const TOUCH_EVERY_SECONDS: i64 = 60;
/// How long a sign-in form may stay open before its token expires.
pub const ANONYMOUS_TIMEOUT_SECONDS: i64 = 3_600;
/// The prefix of an anonymous (stateless, unstored) session cookie.
const ANONYMOUS_PREFIX: &str = "anon.";

pub struct Sessions {
    store: Arc<dyn Store>,
    hasher: SecretHasher,
    clock: Arc<dyn Clock>,
}

/// A session as the browser holds it: the cookie value and its CSRF token.
pub struct Started {
    pub cookie: String,
    pub csrf_token: String,
}

impl Sessions {
    pub fn new(store: Arc<dyn Store>, hasher: SecretHasher, clock: Arc<dyn Clock>) -> Self {
        Self { store, hasher, clock }
    }

    /// The live session behind a cookie value, if any.
    pub async fn load(&self, cookie: &str) -> StoreResult<Option<StoredSession>> {
        if cookie.len() > 150 {
            return Ok(None);
        }
        if cookie.starts_with(ANONYMOUS_PREFIX) {
            return Ok(self.load_anonymous(cookie));
        }
        let id_hash = self.hasher.digest(cookie);
        let Some(session) = self.store.find_session(&id_hash).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if now >= session.expires_at || now.seconds() - session.last_seen_at.seconds() >= IDLE_TIMEOUT_SECONDS
        {
            self.store.delete_session(&id_hash).await?;
            return Ok(None);
        }
        if now.seconds() - session.last_seen_at.seconds() >= TOUCH_EVERY_SECONDS {
            self.store.touch_session(&id_hash, now).await?;
        }
        Ok(Some(session))
    }

    /// A session before sign-in: it only carries the login form's CSRF
    /// token, and lives in the cookie alone (nothing is stored).
    pub fn start_anonymous(&self) -> Started {
        let expires_at = self.clock.now().plus(ANONYMOUS_TIMEOUT_SECONDS);
        let body = format!("{ANONYMOUS_PREFIX}{}.{}", random_id(32), expires_at.seconds());
        let cookie = format!("{body}.{}", self.mac("anonymous-session", &body));
        let csrf_token = self.mac("anonymous-csrf", &cookie);
        Started { cookie, csrf_token }
    }

    /// An anonymous cookie whose MAC holds and whose expiry is ahead.
    fn load_anonymous(&self, cookie: &str) -> Option<StoredSession> {
        let (body, mac) = cookie.rsplit_once('.')?;
        if !self.hasher.matches(&format!("anonymous-session:{body}"), mac) {
            return None;
        }
        let expires_at = UnixTime::from_seconds(body.rsplit_once('.')?.1.parse().ok()?);
        let now = self.clock.now();
        if now >= expires_at {
            return None;
        }
        Some(StoredSession {
            user: None,
            csrf_token: self.mac("anonymous-csrf", cookie),
            auth_time: None,
            last_seen_at: now,
            expires_at,
        })
    }

    /// A keyed MAC of `text` for `purpose`.
    fn mac(&self, purpose: &str, text: &str) -> String {
        self.hasher.digest(&format!("{purpose}:{text}"))
    }

    /// Signs `user` in: the old session (if any) is destroyed and a new id
    /// issued, so a planted cookie never becomes a signed-in one.
    pub async fn sign_in(&self, old_cookie: Option<&str>, user: &User) -> StoreResult<(Started, UnixTime)> {
        if let Some(old) = old_cookie.filter(|c| !c.starts_with(ANONYMOUS_PREFIX)) {
            self.end(old).await?;
        }
        let now = self.clock.now();
        Ok((self.start(Some(user.id.clone()), Some(now)).await?, now))
    }

    pub async fn end(&self, cookie: &str) -> StoreResult<()> {
        if cookie.starts_with(ANONYMOUS_PREFIX) {
            return Ok(());
        }
        self.store.delete_session(&self.hasher.digest(cookie)).await
    }

    async fn start(&self, user_id: Option<UserId>, auth_time: Option<UnixTime>) -> StoreResult<Started> {
        let now = self.clock.now();
        let cookie = generate_secret("");
        let csrf_token = random_id(32);
        let session = NewSession {
            user_id,
            csrf_token: csrf_token.clone(),
            auth_time,
            expires_at: now.plus(ABSOLUTE_TIMEOUT_SECONDS),
        };
        self.store.create_session(&self.hasher.digest(cookie.expose()), &session, now).await?;
        Ok(Started { cookie: cookie.expose().to_owned(), csrf_token })
    }
}
