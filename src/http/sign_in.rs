//! Checking a typed username and password, for the authorization pages and
//! the console alike: the back-off per (account, address) and per address,
//! checked before any argon2 run; the audit record; and a new session id on
//! success (session fixation).

use actix_web::HttpRequest;

use super::AppState;
use crate::domain::{UnixTime, User};
use crate::http::observe::client_address;
use crate::service::accounts::AccountError;
use crate::service::audit::{Actor, Kind};
use crate::service::sessions::Started;

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
    let peer = client_address(request);
    let attempt = match state.accounts.resolve_login(login).await {
        Ok(attempt) => attempt,
        Err(error) => {
            tracing::error!(%error, "sign-in failed");
            return Outcome::Unavailable;
        }
    };
    // Counted per account and address, never per account alone: someone
    // guessing jane's password from elsewhere does not lock jane out.
    let account = attempt.throttle_key();
    if let Some(wait) = state.login_throttle.blocked(Some(&account), peer, now) {
        return Outcome::Refused {
            message: format!("Too many failed sign-ins. Try again in {}.", wait_text(wait)),
            status: 429,
        };
    }
    let user = match state.accounts.check_password(attempt, password).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            state.login_throttle.record_failure(Some(&account), peer, now);
            // The typed login is not recorded: people paste passwords into it.
            let detail = format!("wrong username or password, {place}");
            state.oauth.audit.record_later(Kind::SignInFailed, &Actor::anonymous(peer), "", &detail);
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
    state.login_throttle.record_success(&account, peer);
    let (started, auth_time) = match state.sessions.sign_in(old_cookie, &user).await {
        Ok(started) => started,
        Err(_) => return Outcome::Unavailable,
    };
    let actor = Actor::new(user.username.as_str(), peer);
    state.oauth.audit.record_later(Kind::SignIn, &actor, &format!("user:{}", user.username), place);
    Outcome::SignedIn { user, started, auth_time }
}

/// "N seconds" or "N minutes", for the back-off message.
fn wait_text(seconds: u64) -> String {
    match seconds {
        1 => "1 second".to_owned(),
        2..=90 => format!("{seconds} seconds"),
        _ => format!("{} minutes", seconds.div_ceil(60)),
    }
}
