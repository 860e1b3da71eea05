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
    /// The OpenID Connect `name`.
    pub display_name: Option<String>,
    pub profile: Profile,
    pub role: Role,
    pub enabled: bool,
    pub created_at: UnixTime,
    /// Last change of the profile (`updated_at`).
    pub updated_at: UnixTime,
    /// For a person from the directory: where they are there. `None`: a
    /// local account, whose password is kept here.
    pub directory: Option<DirectoryLink>,
}

/// What Tessera remembers of a directory user's entry: its DN and the
/// groups that matter here (the admin group, the groups scopes are limited
/// to), as of their last sign-in or sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryLink {
    pub dn: String,
    pub groups: Vec<String>,
    pub seen_at: UnixTime,
}

impl User {
    /// Is the person a member of one of `groups` (directory group names,
    /// compared without regard to case)? Local users are in no group.
    pub fn in_any_group(&self, groups: &[String]) -> bool {
        self.directory
            .as_ref()
            .is_some_and(|link| link.groups.iter().any(|g| groups.iter().any(|w| w.eq_ignore_ascii_case(g))))
    }
}

#[derive(Debug)]
pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub display_name: Option<String>,
    pub profile: Profile,
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
    pub profile: Profile,
    pub role: Role,
}

/// The OpenID Connect standard claims of a person beyond username, name and
/// email (Core §5.1), as applications may ask for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// Whether the address is known to reach this person.
    pub email_verified: bool,
    /// A BCP 47 language tag, e.g. `en-GB`.
    pub locale: Option<String>,
    /// An IANA time zone, e.g. `Europe/Paris`.
    pub zoneinfo: Option<String>,
}

/// The profile as typed (command line, API, console form): every field
/// optional text, checked by `parse`.
#[derive(Debug, Clone, Default)]
pub struct ProfileDraft {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email_verified: bool,
    pub locale: Option<String>,
    pub zoneinfo: Option<String>,
}

/// Longest name part accepted.
const MAX_NAME: usize = 200;

impl ProfileDraft {
    /// The checked profile, or the first field that is wrong (named).
    pub fn parse(&self) -> Result<Profile, InvalidInput> {
        Ok(Profile {
            given_name: name_part(self.given_name.as_deref()).map_err(|e| e.in_field("given_name"))?,
            family_name: name_part(self.family_name.as_deref()).map_err(|e| e.in_field("family_name"))?,
            email_verified: self.email_verified,
            locale: given(self.locale.as_deref())
                .map(parse_locale)
                .transpose()
                .map_err(|e| e.in_field("locale"))?,
            zoneinfo: given(self.zoneinfo.as_deref())
                .map(parse_zoneinfo)
                .transpose()
                .map_err(|e| e.in_field("zoneinfo"))?,
        })
    }
}

impl From<&Profile> for ProfileDraft {
    fn from(profile: &Profile) -> Self {
        Self {
            given_name: profile.given_name.clone(),
            family_name: profile.family_name.clone(),
            email_verified: profile.email_verified,
            locale: profile.locale.clone(),
            zoneinfo: profile.zoneinfo.clone(),
        }
    }
}

fn given(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

fn name_part(text: Option<&str>) -> Result<Option<String>, InvalidInput> {
    let Some(text) = given(text) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_NAME || text.chars().any(char::is_control) {
        return Err(InvalidInput::new(format!(
            "a name must be at most {MAX_NAME} characters, without control characters"
        )));
    }
    Ok(Some(text.to_owned()))
}

/// A BCP 47 language tag in its common shape: a 2–3 letter language, then
/// subtags of 1–8 letters or digits, joined by hyphens (`en`, `en-GB`,
/// `zh-Hant-TW`). `en_GB` is refused with the fix in the message.
fn parse_locale(text: &str) -> Result<String, InvalidInput> {
    let bad = || {
        InvalidInput::new(format!(
            "'{}' is not a language tag (BCP 47, like en or en-GB; use '-', not '_')",
            printable(text)
        ))
    };
    let mut parts = text.split('-');
    let language = parts.next().unwrap_or_default();
    if !(2..=3).contains(&language.len()) || !language.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(bad());
    }
    if text.len() > 35
        || !parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        return Err(bad());
    }
    Ok(text.to_owned())
}

/// An IANA time zone name in its shape: `Area/Location` parts of letters,
/// digits, `_`, `-` and `+`, or `UTC`.
fn parse_zoneinfo(text: &str) -> Result<String, InvalidInput> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.starts_with(|c: char| c.is_ascii_alphabetic())
            && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
    };
    if text.len() > 64 || !text.split('/').all(part_ok) {
        return Err(InvalidInput::new(format!(
            "'{}' is not a time zone (an IANA name, like Europe/Paris or UTC)",
            printable(text)
        )));
    }
    Ok(text.to_owned())
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
    fn profiles_are_checked_field_by_field() {
        let draft = ProfileDraft {
            given_name: Some(" Jane ".into()),
            family_name: Some("".into()),
            email_verified: true,
            locale: Some("en-GB".into()),
            zoneinfo: Some("America/Argentina/Buenos_Aires".into()),
        };
        let profile = draft.parse().unwrap();
        assert_eq!(profile.given_name.as_deref(), Some("Jane"));
        assert_eq!(profile.family_name, None, "empty is absent");
        for (locale, ok) in
            [("en", true), ("zh-Hant-TW", true), ("en_GB", false), ("e", false), ("english", false)]
        {
            let draft = ProfileDraft { locale: Some(locale.into()), ..ProfileDraft::default() };
            assert_eq!(draft.parse().is_ok(), ok, "{locale}");
        }
        for (zone, ok) in
            [("UTC", true), ("Etc/GMT+1", true), ("Europe/", false), ("../etc", false), ("a b", false)]
        {
            let draft = ProfileDraft { zoneinfo: Some(zone.into()), ..ProfileDraft::default() };
            assert_eq!(draft.parse().is_ok(), ok, "{zone}");
        }
        let long = ProfileDraft { given_name: Some("x".repeat(201)), ..ProfileDraft::default() };
        assert_eq!(long.parse().unwrap_err().field, Some("given_name"));
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
