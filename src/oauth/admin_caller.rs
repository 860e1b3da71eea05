//! Who may call the admin API: the bearer of a live access token carrying
//! `tessera:admin`, whose subject is an admin *now* — a user with the admin
//! role, or a service account flagged admin — both enabled. Checked on every
//! call (one introspection read plus one principal read), so a demoted
//! admin's token stops working at once.

use super::OAuthServer;
use crate::domain::Role;
use crate::domain::ADMIN_SCOPE;
use crate::store::StoreError;

#[derive(Debug)]
pub enum CallerError {
    /// No token, or one that is unknown, expired or revoked.
    InvalidToken,
    /// A live token without the scope, or whose subject is not an admin.
    NotAdmin,
    Unavailable,
    Unexpected(anyhow::Error),
}

impl From<StoreError> for CallerError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => Self::Unavailable,
            other => Self::Unexpected(other.into()),
        }
    }
}

impl From<super::OAuthError> for CallerError {
    fn from(error: super::OAuthError) -> Self {
        match error {
            super::OAuthError::TemporarilyUnavailable => Self::Unavailable,
            other => Self::Unexpected(anyhow::anyhow!("{other}")),
        }
    }
}

impl OAuthServer {
    /// The name the audit log records for the admin behind `token`.
    pub async fn admin_caller(&self, token: &str) -> Result<String, CallerError> {
        let now = self.clock.now();
        let Some(facts) = self.live_token(token, now).await? else {
            return Err(CallerError::InvalidToken);
        };
        if !facts.has_scope(ADMIN_SCOPE) {
            return Err(CallerError::NotAdmin);
        }
        let name = match (facts.user_id(), &facts.client_id) {
            // A person's token (a grant's or a personal token): the user must be an admin.
            (Some(user_id), _) => {
                let user = self.store.find_user(&user_id).await?;
                user.filter(|u| u.enabled && u.role == Role::Admin).map(|u| u.username.to_string())
            }
            // A machine token: the client's service account must be an admin.
            (None, Some(client_id)) => {
                let client = self.store.find_client(client_id).await?;
                client
                    .and_then(|c| c.client.service_account)
                    .filter(|sa| sa.enabled && sa.admin)
                    .map(|sa| crate::service::audit::Actor::service_account_name(sa.username.as_str()))
            }
            (None, None) => None,
        };
        name.ok_or(CallerError::NotAdmin)
    }
}
