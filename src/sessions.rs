//! Browser sessions at the authorization server: an opaque 256-bit cookie
//! stored by keyed hash, a CSRF token per session, a new id at sign-in
//! (session fixation), idle and absolute timeouts.

use std::sync::Arc;

use crate::clock::Clock;
use crate::crypto::secrets::{generate_secret, random_id, SecretHasher};
use crate::domain::{UnixTime, User};
use crate::store::{NewSession, Store, StoreResult, StoredSession};

/// A session unused this long is over.
pub const IDLE_TIMEOUT_SECONDS: i64 = 3_600;
/// A session is over this long after it began, used or not.
pub const ABSOLUTE_TIMEOUT_SECONDS: i64 = 8 * 3_600;
/// `last_seen_at` is written at most this often, not on every request.
const TOUCH_EVERY_SECONDS: i64 = 60;

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
        if cookie.len() > 100 {
            return Ok(None);
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

    /// A session before sign-in: it only carries the login form's CSRF token.
    pub async fn start_anonymous(&self) -> StoreResult<Started> {
        self.start(None, None).await
    }

    /// Signs `user` in: the old session (if any) is destroyed and a new id
    /// issued, so a planted cookie never becomes a signed-in one.
    pub async fn sign_in(&self, old_cookie: Option<&str>, user: &User) -> StoreResult<(Started, UnixTime)> {
        if let Some(old) = old_cookie {
            self.end(old).await?;
        }
        let now = self.clock.now();
        Ok((self.start(Some(user.id.clone()), Some(now)).await?, now))
    }

    pub async fn end(&self, cookie: &str) -> StoreResult<()> {
        self.store.delete_session(&self.hasher.digest(cookie)).await
    }

    async fn start(&self, user_id: Option<String>, auth_time: Option<UnixTime>) -> StoreResult<Started> {
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
