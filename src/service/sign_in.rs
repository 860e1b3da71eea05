//! Signing a person in and out, for the authorization pages and the console
//! alike: the back-off per (account, address) and per address, checked
//! before any argon2 run; the audit record; a new session id on success
//! (session fixation); and the end of a session.

use std::net::IpAddr;
use std::sync::Arc;

use crate::clock::Clock;
use crate::domain::{UnixTime, User};
use crate::service::accounts::Accounts;
use crate::service::audit::{Actor, Audit, Kind, Target};
use crate::service::sessions::{Sessions, Started};
use crate::service::throttle::FailureThrottle;
use crate::service::{ServiceError, ServiceResult};
use crate::store::StoredSession;

pub struct SignIn {
    accounts: Arc<Accounts>,
    sessions: Arc<Sessions>,
    /// Back-off after failed sign-ins, per account and per address.
    throttle: FailureThrottle,
    audit: Arc<Audit>,
    clock: Arc<dyn Clock>,
}

/// A person signed in: their new session, and when (the ID token's `auth_time`).
pub struct SignedIn {
    pub user: User,
    pub started: Started,
    pub auth_time: UnixTime,
}

impl SignedIn {
    /// The new session as a page handling this request sees it, and what
    /// the browser's cookie must be set to.
    pub fn into_session(self) -> (StoredSession, Started) {
        let session = StoredSession {
            user: Some(self.user),
            csrf_token: self.started.csrf_token.clone(),
            auth_time: Some(self.auth_time),
            last_seen_at: self.auth_time,
            expires_at: self.auth_time,
        };
        (session, self.started)
    }
}

/// Why a sign-in was refused; `message` is for the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many failures from this address (for this account): wait.
    Throttled {
        wait_seconds: u64,
    },
    WrongCredentials,
    /// Too many password checks at once: try again in a moment.
    Busy,
}

impl Refusal {
    pub fn message(self) -> String {
        match self {
            Self::Throttled { wait_seconds } => {
                format!("Too many failed sign-ins. Try again in {}.", wait_text(wait_seconds))
            }
            Self::WrongCredentials => "The username or password is not right.".into(),
            Self::Busy => "Too many sign-ins at once. Try again in a moment.".into(),
        }
    }

    /// The HTTP status the form is answered with.
    pub fn status(self) -> u16 {
        match self {
            Self::Throttled { .. } => 429,
            Self::WrongCredentials => 200,
            Self::Busy => 503,
        }
    }
}

impl SignIn {
    pub fn new(
        accounts: Arc<Accounts>,
        sessions: Arc<Sessions>,
        throttle: FailureThrottle,
        audit: Arc<Audit>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { accounts, sessions, throttle, audit, clock }
    }

    /// Checks `login` and `password` typed at `place` (for the audit log)
    /// from `peer`; on success the session behind `old_cookie` ends and a
    /// new one starts.
    pub async fn sign_in(
        &self,
        login: &str,
        password: &str,
        old_cookie: Option<&str>,
        peer: Option<IpAddr>,
        place: &str,
    ) -> ServiceResult<Result<SignedIn, Refusal>> {
        let now = self.clock.now();
        let attempt = self.accounts.resolve_login(login).await?;
        // Counted per account and address, never per account alone: someone
        // guessing jane's password from elsewhere does not lock jane out.
        let account = attempt.throttle_key();
        if let Some(wait_seconds) = self.throttle.blocked(Some(&account), peer, now) {
            return Ok(Err(Refusal::Throttled { wait_seconds }));
        }
        let user = match self.accounts.check_password(attempt, password).await {
            Ok(Some(user)) => user,
            Ok(None) => {
                self.throttle.record_failure(Some(&account), peer, now);
                // The typed login is not recorded: people paste passwords into it.
                let detail = format!("wrong username or password, {place}");
                self.audit.record_later(Kind::SignInFailed, &Actor::anonymous(peer), Target::None, &detail);
                return Ok(Err(Refusal::WrongCredentials));
            }
            Err(ServiceError::Busy(_)) => return Ok(Err(Refusal::Busy)),
            Err(error) => return Err(error),
        };
        self.throttle.record_success(&account, peer);
        let (started, auth_time) = self.sessions.sign_in(old_cookie, &user).await?;
        let actor = Actor::new(user.username.as_str(), peer);
        self.audit.record_later(Kind::SignIn, &actor, Target::User(&user.username), place);
        Ok(Ok(SignedIn { user, started, auth_time }))
    }

    /// The session behind a cookie value, if it is live.
    pub async fn session(&self, cookie: &str) -> ServiceResult<Option<StoredSession>> {
        Ok(self.sessions.load(cookie).await?)
    }

    /// Ends the session behind `cookie`; the sign-out of `user`, the person
    /// it held, is audited (from `place`).
    pub async fn sign_out(
        &self,
        cookie: &str,
        user: Option<&User>,
        peer: Option<IpAddr>,
        place: &str,
    ) -> ServiceResult<()> {
        self.sessions.end(cookie).await?;
        if let Some(user) = user {
            let actor = Actor::new(user.username.as_str(), peer);
            self.audit.record_later(Kind::SignOut, &actor, Target::User(&user.username), place);
        }
        Ok(())
    }
}

/// "N seconds" or "N minutes", for the back-off message.
fn wait_text(seconds: u64) -> String {
    match seconds {
        1 => "1 second".to_owned(),
        2..=90 => format!("{seconds} seconds"),
        _ => format!("{} minutes", seconds.div_ceil(60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_as_people_say_them() {
        assert_eq!(
            Refusal::Throttled { wait_seconds: 1 }.message(),
            "Too many failed sign-ins. Try again in 1 second."
        );
        assert_eq!(wait_text(90), "90 seconds");
        assert_eq!(wait_text(91), "2 minutes");
        assert_eq!(Refusal::WrongCredentials.status(), 200);
    }
}
