//! Checking a typed username and password, for the authorization pages and
//! the console alike: the back-off per account and per address, the audit
//! record, and a new session id on success (session fixation).

use actix_web::HttpRequest;

use super::AppState;
use crate::accounts::AccountError;
use crate::audit::{Actor, Kind};
use crate::domain::{UnixTime, User};
use crate::sessions::Started;

pub enum Outcome {
    SignedIn {
        user: User,
        started: Started,
        auth_time: UnixTime,
    },
    /// A message for the form, and the status to answer with.
    Refused {
        message: String,
        status: u16,
    },
    Unavailable,
}

/// `place` says where the sign-in happened, for the audit log.
pub async fn sign_in(
    request: &HttpRequest,
    state: &AppState,
    login: &str,
    password: &str,
    old_cookie: Option<&str>,
    place: &str,
) -> Outcome {
    let now = state.oauth.clock.now();
    let account = login.trim().to_lowercase();
    let peer = request.peer_addr().map(|a| a.ip());
    if let Some(wait) = state.login_throttle.blocked(Some(&account), peer, now) {
        let minutes = wait.div_ceil(60);
        return Outcome::Refused {
            message: format!("Too many failed sign-ins. Try again in {minutes} minute(s)."),
            status: 429,
        };
    }
    let user = match state.accounts.verify_login(login, password).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            state.login_throttle.record_failure(Some(&account), peer, now);
            // The typed login is not recorded: people paste passwords into it.
            let detail = format!("wrong username or password, {place}");
            state.oauth.audit.record(Kind::SignInFailed, &Actor::anonymous(peer), "", &detail).await;
            return Outcome::Refused {
                message: "The username or password is not right.".into(),
                status: 200,
            };
        }
        Err(AccountError::Busy) => {
            return Outcome::Refused {
                message: "Too many sign-ins at once. Try again in a moment.".into(),
                status: 503,
            };
        }
        Err(error) => {
            tracing::error!(%error, "sign-in failed");
            return Outcome::Unavailable;
        }
    };
    let (started, auth_time) = match state.sessions.sign_in(old_cookie, &user).await {
        Ok(started) => started,
        Err(_) => return Outcome::Unavailable,
    };
    let actor = Actor::new(user.username.as_str(), peer);
    state.oauth.audit.record(Kind::SignIn, &actor, &format!("user:{}", user.username), place).await;
    Outcome::SignedIn { user, started, auth_time }
}
