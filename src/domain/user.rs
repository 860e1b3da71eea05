use std::fmt;
use std::str::FromStr;

use unicode_normalization::UnicodeNormalization as _;

use super::{InvalidInput, UnixTime, UserId, Username};

/// An email address, stored and compared lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        let text = text.trim();
        let bad = || InvalidInput::new(format!("'{}' is not an email address", printable(text)));
        if text.len() > 254 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = text.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || domain.is_empty()
            || local.contains('@')
            || domain.starts_with('.')
            || domain.ends_with('.')
        {
            return Err(bad());
        }
        Ok(Self(text.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn printable(text: &str) -> String {
    text.chars().take(80).filter(|c| !c.is_control()).collect()
}

/// A password as typed: NFKC-normalised (NIST SP 800-63B §5.1.1.2), 8 to
/// 1,024 bytes. Never printed, never cloned by accident.
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_BYTES: usize = 1_024;

    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        let normalised: String = text.nfkc().collect();
        // Both as typed and as stored: compatibility normalisation can
        // make one character three (`¼` → `1⁄4`) or three one.
        if text.chars().count().min(normalised.chars().count()) < Self::MIN_CHARS {
            return Err(InvalidInput::new(format!(
                "the password must be at least {} characters",
                Self::MIN_CHARS
            )));
        }
        if normalised.len() > Self::MAX_BYTES {
            return Err(InvalidInput::new(format!("the password must be at most {} bytes", Self::MAX_BYTES)));
        }
        Ok(Self(normalised))
    }

    /// For verification only: a login attempt is checked whatever its
    /// length (within the upper bound), so the answer never says why.
    pub fn for_verification(text: &str) -> Option<Self> {
        let normalised: String = text.nfkc().collect();
        (normalised.len() <= Self::MAX_BYTES).then_some(Self(normalised))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::User => "user",
        }
    }
}

impl FromStr for Role {
    type Err = InvalidInput;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "admin" => Ok(Self::Admin),
            "user" => Ok(Self::User),
            other => Err(InvalidInput::new(format!("unknown role '{other}' (expected admin or user)"))),
        }
    }
}

/// A person who signs in. The password hash never leaves the store layer
/// except to be verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub email: Email,
    pub display_name: Option<String>,
    pub role: Role,
    pub enabled: bool,
    pub created_at: UnixTime,
}

#[derive(Debug)]
pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub display_name: Option<String>,
    pub password: Password,
    pub role: Role,
}

/// What an admin may change of a user (the password has its own path).
#[derive(Debug, Clone)]
pub struct UserChanges {
    /// The Jira username; tokens issued from now on carry the new one.
    pub username: Username,
    pub email: Email,
    pub display_name: Option<String>,
    pub role: Role,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(Email::parse(" Jane.Doe@Example.COM ").unwrap().as_str(), "jane.doe@example.com");
        assert!(Email::parse("admin@localhost").is_ok());
        for bad in
            ["", "no-at", "@example.com", "jane@", "two words@example.com", "a@b@c", "a@.com", "a@com."]
        {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_are_normalised_and_bounded() {
        assert!(Password::parse("short").is_err());
        // Four characters as typed, nine after NFKC (`¼` is `1⁄4`): too short.
        assert!(Password::parse("Q¼¼¼").is_err(), "counted as typed");
        assert!(Password::parse("Q\u{1F600}ß\u{F10CD}").is_err(), "characters, not UTF-8 bytes");
        // Eight combining sequences typed are four characters stored: too short too.
        assert!(Password::parse(&"e\u{301}".repeat(4)).is_err(), "counted as stored");
        assert!(Password::parse(&"x".repeat(1_025)).is_err());
        // U+FB01 (the "fi" ligature) normalises to "fi" under NFKC.
        assert_eq!(Password::parse("\u{fb01}rst-secret").unwrap().expose(), "first-secret");
        assert_eq!(format!("{:?}", Password::parse("correct horse").unwrap()), "Password([redacted])");
        assert!(Password::for_verification("short").is_some());
    }
}
