//! `ServiceError`: the one error every application service returns. Each
//! adapter maps it in one place (`http::api::Failure`, the console's
//! `failure` page, the command line's one line on stderr); the cause of an
//! `Unavailable` or `Internal` is logged there, once.

use crate::crypto::password::PasswordError;
use crate::domain::InvalidInput;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Nothing by that name or id; the text says what was looked for.
    #[error("{0}")]
    NotFound(String),
    /// A rule about what already exists: a name taken, a token already
    /// revoked, the last administrator. The text is safe to show.
    #[error("{0}")]
    Conflict(String),
    /// A value refused, with the field at fault when there is one.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Too much at once (the password-hashing pool is full); the text says
    /// so, and a moment later the same request works.
    #[error("{0}")]
    Busy(&'static str),
    /// The database did not answer in time; try again.
    #[error("the database is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// A bug, or a state the code does not expect.
    #[error("unexpected error")]
    Internal(#[source] anyhow::Error),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    pub fn not_found(text: impl Into<String>) -> Self {
        Self::NotFound(text.into())
    }

    pub fn conflict(text: impl Into<String>) -> Self {
        Self::Conflict(text.into())
    }

    pub fn invalid(text: impl Into<String>) -> Self {
        Self::Invalid(InvalidInput::new(text))
    }

    /// A draft's field errors as one: every message, the first field named.
    pub fn from_field_errors(errors: Vec<InvalidInput>) -> Self {
        let field = errors.first().and_then(|e| e.field);
        let message = errors.into_iter().map(|e| e.message).collect::<Vec<_>>().join("; ");
        Self::Invalid(InvalidInput { message, field })
    }

    /// Logs the cause of an `Unavailable` or `Internal` error (the adapters
    /// call this once, where they map the error); the others are the
    /// caller's doing and are not logged.
    pub fn log(&self, operation: &str) {
        match self {
            Self::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), operation, "the database is unavailable")
            }
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), operation, "an operation failed")
            }
            _ => {}
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(text) => Self::NotFound(text),
            StoreError::Conflict(text) => Self::Conflict(text),
            StoreError::Unavailable(cause) => Self::Unavailable(cause),
            StoreError::Unexpected(cause) => Self::Internal(cause),
        }
    }
}

impl From<PasswordError> for ServiceError {
    fn from(error: PasswordError) -> Self {
        match error {
            PasswordError::Busy => Self::Busy("too many sign-ins at once; try again in a moment"),
            PasswordError::Unexpected(cause) => Self::Internal(cause),
        }
    }
}

impl From<anyhow::Error> for ServiceError {
    fn from(cause: anyhow::Error) -> Self {
        Self::Internal(cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_keep_their_kind_and_text() {
        let found = ServiceError::from(StoreError::NotFound("no client with id 'x'".into()));
        assert!(matches!(&found, ServiceError::NotFound(text) if text == "no client with id 'x'"));
        let taken = ServiceError::from(StoreError::Conflict("taken".into()));
        assert!(matches!(taken, ServiceError::Conflict(_)));
        let down = ServiceError::from(StoreError::Unavailable(anyhow::anyhow!("timed out")));
        assert_eq!(down.to_string(), "the database is unavailable");
    }

    #[test]
    fn an_invalid_value_is_said_once() {
        let error = ServiceError::from(InvalidInput::new("bad name").in_field("name"));
        assert_eq!(format!("{:#}", anyhow::Error::new(error)), "bad name");
    }
}
