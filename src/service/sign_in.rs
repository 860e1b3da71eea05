//! Signing a person in and out, for the authorization pages and the console
//! alike: the back-off per (account, address) and per address, checked
//! before any argon2 run; the audit record; a new session id on success
//! (session fixation); and the end of a session.

use std::net::IpAddr;
use std::sync::Arc;

use crate::clock::Clock;
use crate::domain::{UnixTime, User};
use crate::service::accounts::{Accounts, LoginAttempt};
use crate::service::audit::{Actor, Audit, Kind, Target};
use crate::service::directory::{DirectoryPeople, DirectorySignIn};
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
    /// People from LDAP / Active Directory, when configured.
    directory: Option<Arc<DirectoryPeople>>,
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
    /// The account is in the directory, which does not answer.
    DirectoryUnavailable,
    /// The directory knows the person, but they cannot be a user here (a
    /// local account holds the name, the entry has no email …).
    DirectoryRefused,
}

impl Refusal {
    pub fn message(self) -> String {
        match self {
            Self::Throttled { wait_seconds } => {
                format!("Too many failed sign-ins. Try again in {}.", wait_text(wait_seconds))
            }
            Self::WrongCredentials => "The username or password is not right.".into(),
            Self::Busy => "Too many sign-ins at once. Try again in a moment.".into(),
            Self::DirectoryUnavailable => {
                "The company directory (LDAP) cannot be reached right now, so directory accounts cannot sign in. \
                 Try again in a moment."
                    .into()
            }
            Self::DirectoryRefused => {
                "Your directory account cannot sign in here yet. Ask an administrator: the audit log says why.".into()
            }
        }
    }

    /// The HTTP status the form is answered with.
    pub fn status(self) -> u16 {
        match self {
            Self::Throttled { .. } => 429,
            Self::WrongCredentials => 200,
            Self::Busy | Self::DirectoryUnavailable => 503,
            Self::DirectoryRefused => 403,
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
        directory: Option<Arc<DirectoryPeople>>,
    ) -> Self {
        Self { accounts, sessions, throttle, audit, clock, directory }
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
        let user = match self.check(attempt, password).await? {
            Checked::User(user) => *user,
            Checked::Wrong(why) => {
                self.throttle.record_failure(Some(&account), peer, now);
                // The typed login is not recorded: people paste passwords into it.
                let detail = format!("{why}, {place}");
                self.audit.record_later(Kind::SignInFailed, &Actor::anonymous(peer), Target::None, &detail);
                return Ok(Err(Refusal::WrongCredentials));
            }
            Checked::Refused(refusal, why) => {
                if let Some(why) = why {
                    let detail = format!("{why}, {place}");
                    self.audit.record_later(
                        Kind::SignInFailed,
                        &Actor::anonymous(peer),
                        Target::None,
                        &detail,
                    );
                }
                return Ok(Err(refusal));
            }
        };
        self.throttle.record_success(&account, peer);
        let (started, auth_time) = self.sessions.sign_in(old_cookie, &user).await?;
        let actor = Actor::new(user.username.as_str(), peer);
        self.audit.record_later(Kind::SignIn, &actor, Target::User(&user.username), place);
        Ok(Ok(SignedIn { user, started, auth_time }))
    }

    /// Checks the password where the account's password lives: here for a
    /// local account (and, with no directory, for a login that names
    /// nobody: the same argon2 run either way), in the directory for a
    /// directory account or a login that names nobody here. A local
    /// account is never checked against the directory, nor a directory one
    /// here.
    async fn check(&self, attempt: LoginAttempt, password: &str) -> ServiceResult<Checked> {
        let local = attempt.user().is_some_and(|u| u.directory.is_none());
        let directory = match &self.directory {
            Some(directory) if !local => directory,
            _ => {
                // (A directory user, with no directory configured, never matches.)
                return match self.accounts.check_password(attempt, password).await {
                    Ok(Some(user)) => Ok(Checked::User(Box::new(user))),
                    Ok(None) => Ok(Checked::Wrong("wrong username or password")),
                    // Not audited: nobody was refused, only asked to come back.
                    Err(ServiceError::Busy(_)) => Ok(Checked::Refused(Refusal::Busy, None)),
                    Err(error) => Err(error),
                };
            }
        };
        // A directory user found by email signs in by their username there.
        let (username, known) = match attempt.user() {
            Some(user) => (user.username.as_str(), Some(&user.id)),
            None => (attempt.typed(), None),
        };
        match directory.sign_in(username, password).await? {
            DirectorySignIn::SignedIn(user) if known.is_some_and(|id| *id != user.id) => {
                Ok(Checked::Wrong("wrong username or password"))
            }
            DirectorySignIn::SignedIn(user) => Ok(Checked::User(user)),
            DirectorySignIn::WrongCredentials => Ok(Checked::Wrong("wrong username or password (directory)")),
            DirectorySignIn::Unavailable => Ok(Checked::Refused(
                Refusal::DirectoryUnavailable,
                Some("the directory did not answer".into()),
            )),
            DirectorySignIn::Refused(why) => Ok(Checked::Refused(
                Refusal::DirectoryRefused,
                Some(format!("the directory knows the person but they cannot sign in here: {why}")),
            )),
        }
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

/// What checking a password came to.
enum Checked {
    User(Box<User>),
    /// A wrong password or unknown login: counted by the back-off.
    Wrong(&'static str),
    /// Refused for another reason (not counted), with the audit's words
    /// (none: not audited).
    Refused(Refusal, Option<String>),
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
