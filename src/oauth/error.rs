//! The OAuth error of RFC 6749 §5.2 (and RFC 7009 / 7662 / 8707): `Display`
//! is the error code; the HTTP adapter turns it into the JSON body.

use std::fmt;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    InvalidRequest(String),
    /// Client authentication failed; `basic` if the client used the
    /// Authorization header (the answer then names that scheme).
    InvalidClient {
        basic: bool,
    },
    /// A client assertion (`private_key_jwt`) was refused; the text says
    /// which rule it broke, so the client's developer can mend it.
    InvalidClientAssertion(String),
    InvalidGrant(String),
    UnauthorizedClient(String),
    UnsupportedGrantType(String),
    InvalidScope(String),
    InvalidTarget(String),
    /// RFC 8628 §3.5: the person has not answered yet.
    AuthorizationPending,
    /// RFC 8628 §3.5: the device polls faster than its interval (now 5 s longer).
    PollingTooFast,
    /// RFC 8628 §3.5: the person said no.
    AccessDenied(String),
    /// RFC 8628 §3.5: the device code expired before it was approved.
    ExpiredToken(String),
    /// An authorization request's own error (RFC 6749 §4.1.2.1), answered
    /// as JSON at the PAR endpoint: `unsupported_response_type`,
    /// `request_not_supported`, `access_denied`.
    Authorization {
        code: &'static str,
        description: String,
    },
    /// Too many failed attempts from this client or address.
    SlowDown {
        retry_after: u64,
    },
    TemporarilyUnavailable,
    ServerError(#[source] anyhow::Error),
}

impl OAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient { .. } | Self::InvalidClientAssertion(_) => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::SlowDown { .. } | Self::PollingTooFast => "slow_down",
            Self::AuthorizationPending => "authorization_pending",
            Self::Authorization { code, .. } => code,
            Self::AccessDenied(_) => "access_denied",
            Self::ExpiredToken(_) => "expired_token",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::ServerError(_) => "server_error",
        }
    }

    /// A description safe to send: ASCII, never a secret, SQL or stack trace.
    pub fn description(&self) -> String {
        let text = match self {
            Self::InvalidRequest(d)
            | Self::InvalidGrant(d)
            | Self::UnauthorizedClient(d)
            | Self::UnsupportedGrantType(d)
            | Self::InvalidScope(d)
            | Self::InvalidTarget(d)
            | Self::InvalidClientAssertion(d)
            | Self::AccessDenied(d)
            | Self::ExpiredToken(d)
            | Self::Authorization { description: d, .. } => d.as_str(),
            Self::AuthorizationPending => {
                "the person has not approved the device yet; poll again after the interval"
            }
            Self::PollingTooFast => {
                "polled faster than the interval; wait 5 seconds longer between polls from now on"
            }
            Self::InvalidClient { .. } => "client authentication failed",
            Self::SlowDown { .. } => "too many failed attempts; wait before retrying",
            Self::TemporarilyUnavailable => "the server cannot reach its database; retry later",
            Self::ServerError(_) => "the server met an unexpected error",
        };
        // RFC 6749 §5.2: %x20-21 / %x23-5B / %x5D-7E only.
        text.chars()
            .map(|c| match c {
                ' ' | '!' | '#'..='[' | ']'..='~' => c,
                _ => '?',
            })
            .collect()
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::InvalidRequest(description.into())
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                Self::TemporarilyUnavailable
            }
            other => Self::ServerError(anyhow::Error::new(other)),
        }
    }
}

impl From<anyhow::Error> for OAuthError {
    fn from(error: anyhow::Error) -> Self {
        Self::ServerError(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_the_rfc_code_and_descriptions_are_restricted_ascii() {
        let error = OAuthError::invalid_request("bad \"quote\" and \\ and ünicode");
        assert_eq!(error.to_string(), "invalid_request");
        assert_eq!(error.description(), "bad ?quote? and ? and ?nicode");
    }

    #[test]
    fn an_unavailable_store_is_temporarily_unavailable() {
        let error: OAuthError = StoreError::Unavailable(anyhow::anyhow!("down")).into();
        assert_eq!(error.code(), "temporarily_unavailable");
    }
}
