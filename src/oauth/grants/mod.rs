//! One file per grant type.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

use super::OAuthError;
use crate::domain::{Audience, Client};

/// The `aud` of a token (SPEC §4): the requested `resource`s (RFC 8707)
/// when the client is allowed them, else the client's audiences, else the
/// server default.
pub fn resolve_audience(
    client: &Client,
    resources: &[String],
    default: &str,
) -> Result<Vec<String>, OAuthError> {
    if resources.is_empty() {
        if client.audiences.is_empty() {
            return Ok(vec![default.to_owned()]);
        }
        return Ok(client.audiences.iter().map(|a| a.as_str().to_owned()).collect());
    }
    let mut out = Vec::with_capacity(resources.len());
    for resource in resources {
        let valid = url::Url::parse(resource).is_ok_and(|u| u.fragment().is_none());
        if !valid {
            return Err(OAuthError::InvalidTarget(
                "resource must be an absolute URI without a fragment".into(),
            ));
        }
        let allowed = Audience::parse(resource).is_ok_and(|a| client.audiences.contains(&a));
        if !allowed {
            return Err(OAuthError::InvalidTarget("this client may not request that resource".into()));
        }
        if !out.contains(resource) {
            out.push(resource.clone());
        }
    }
    Ok(out)
}
