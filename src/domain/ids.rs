//! The ids of stored things, one type each, so a user's id can never be
//! handed where a grant's is expected. The server makes them (random,
//! URL-safe); an id typed by someone is only ever looked up, and one that
//! matches nothing is "not found".

use std::fmt;

macro_rules! entity_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// An id the server made, read back from the store, or given
            /// by someone to look up.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

entity_id!(
    /// A person who signs in.
    UserId
);

entity_id!(
    /// A service account.
    ServiceAccountId
);

entity_id!(
    /// A grant: one approval of a client by a user (or the Jira page's
    /// test), under which codes, refresh and access tokens are issued.
    GrantId
);

entity_id!(
    /// A personal API token (its id, never the token).
    PersonalTokenId
);

entity_id!(
    /// A trust: one outside issuer mapped to one service account.
    TrustId
);
