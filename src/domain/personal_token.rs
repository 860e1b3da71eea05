use super::{Email, InvalidInput, Lifetime, PersonalTokenId, ScopeSet, UnixTime, UserId, Username};

/// A personal API token as listed: everything but the token itself, which
/// exists only in the creation response (the store keeps a digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalToken {
    pub id: PersonalTokenId,
    pub user_id: UserId,
    pub username: Username,
    /// The owner's email, for the claims of a JWT exchanged from the token.
    pub email: Email,
    pub label: String,
    /// Possibly empty.
    pub scope: ScopeSet,
    pub created_at: UnixTime,
    pub expires_at: Option<UnixTime>,
    pub last_used_at: Option<UnixTime>,
    pub revoked_at: Option<UnixTime>,
    /// Whether the owner may still sign in; a disabled owner's tokens are dead.
    pub owner_enabled: bool,
}

/// Where a personal token stands, as the console and the API show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
    /// Its owner is disabled.
    Suspended,
}

impl TokenStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Suspended => "owner_disabled",
        }
    }
}

impl PersonalToken {
    pub fn status(&self, now: UnixTime) -> TokenStatus {
        if self.revoked_at.is_some() {
            TokenStatus::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            TokenStatus::Expired
        } else if !self.owner_enabled {
            TokenStatus::Suspended
        } else {
            TokenStatus::Active
        }
    }

    /// Good as a bearer token at `now`.
    pub fn is_live(&self, now: UnixTime) -> bool {
        self.status(now) == TokenStatus::Active
    }
}

/// A token's label: what it is for ("deploy script"), 1 to 100 characters,
/// no control characters; surrounding space is dropped.
pub fn parse_token_label(text: &str) -> Result<String, InvalidInput> {
    let label = text.trim();
    if label.is_empty() {
        return Err(InvalidInput::new("give the token a label saying what it is for").in_field("label"));
    }
    if label.chars().count() > 100 {
        return Err(InvalidInput::new("the label must be at most 100 characters").in_field("label"));
    }
    if label.chars().any(char::is_control) {
        return Err(InvalidInput::new("the label must not contain control characters").in_field("label"));
    }
    Ok(label.to_owned())
}

/// The server's rules for new tokens (`TESSERA_PAT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPolicy {
    /// The longest a token may live; a token asked for without an expiry
    /// gets this one. `None`: tokens may live for ever.
    pub max_lifetime: Option<Lifetime>,
    /// Every token must be given an explicit expiry.
    pub require_expiry: bool,
    /// Live tokens one person may hold.
    pub max_per_user: u32,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        Self {
            max_lifetime: Some(Lifetime::from_seconds(365 * 86_400)),
            require_expiry: false,
            max_per_user: 50,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> PersonalToken {
        PersonalToken {
            id: PersonalTokenId::new("t1"),
            user_id: UserId::new("u1"),
            username: Username::parse("alice").unwrap(),
            email: Email::parse("alice@example.com").unwrap(),
            label: "ci".into(),
            scope: ScopeSet::default(),
            created_at: UnixTime::from_seconds(100),
            expires_at: Some(UnixTime::from_seconds(200)),
            last_used_at: None,
            revoked_at: None,
            owner_enabled: true,
        }
    }

    #[test]
    fn status_follows_revocation_expiry_and_owner() {
        let live = token();
        assert_eq!(live.status(UnixTime::from_seconds(199)), TokenStatus::Active);
        assert_eq!(live.status(UnixTime::from_seconds(200)), TokenStatus::Expired);
        let revoked = PersonalToken { revoked_at: Some(UnixTime::from_seconds(150)), ..token() };
        assert_eq!(revoked.status(UnixTime::from_seconds(160)), TokenStatus::Revoked);
        let orphan = PersonalToken { owner_enabled: false, ..token() };
        assert!(!orphan.is_live(UnixTime::from_seconds(150)));
        let forever = PersonalToken { expires_at: None, ..token() };
        assert!(forever.is_live(UnixTime::from_seconds(i64::MAX / 2)));
    }

    #[test]
    fn labels_are_trimmed_and_bounded() {
        assert_eq!(parse_token_label("  deploy script ").unwrap(), "deploy script");
        for bad in ["", "   ", "a\nb", &"x".repeat(101)] {
            let error = parse_token_label(bad).unwrap_err();
            assert_eq!(error.field, Some("label"), "{bad:?}");
        }
    }
}
