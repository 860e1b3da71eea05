//! People from an LDAP directory or Active Directory: the LDAP
//! conversation. The settings are `config::DirectorySettings`; what Tessera
//! does with the answers (provisioning, roles, the sync) lives in
//! `service::directory`.

mod client;

pub use crate::config::{DirectorySettings, Transport};
pub use client::{Directory, DirectoryError, DirectoryPerson, Verdict};
