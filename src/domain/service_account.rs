use super::{ServiceAccountId, UnixTime, Username};

/// A non-human principal with a Jira username; client-credentials tokens of
/// clients bound to it carry it as subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub id: ServiceAccountId,
    pub username: Username,
    pub display_name: Option<String>,
    pub enabled: bool,
    /// May be granted the `tessera:admin` scope (the admin API).
    pub admin: bool,
    pub created_at: UnixTime,
}

#[derive(Debug, Clone)]
pub struct NewServiceAccount {
    pub username: Username,
    pub display_name: Option<String>,
}

/// What an admin may change of a service account.
#[derive(Debug, Clone)]
pub struct ServiceAccountChanges {
    /// The Jira username; tokens issued from now on carry the new one.
    pub username: Username,
    pub display_name: Option<String>,
    pub admin: bool,
}
