use std::collections::BTreeSet;
use std::fmt;

use super::InvalidInput;

/// The scope that opens the admin API.
pub const ADMIN_SCOPE: &str = "tessera:admin";

/// The scope that asks for a refresh token (OIDC Core §11).
pub const OFFLINE_ACCESS: &str = "offline_access";

/// One scope token: `1*NQCHAR` (RFC 6749 §3.3): printable ASCII except
/// space, `"` and `\`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScopeName(String);

impl ScopeName {
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        if text.is_empty() {
            return Err(InvalidInput::new("scope name must not be empty"));
        }
        if text.len() > 128 {
            return Err(InvalidInput::new("scope name must be at most 128 characters"));
        }
        let nqchar = |b: u8| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b);
        if !text.bytes().all(nqchar) {
            return Err(InvalidInput::new(
                "scope name may only contain printable ASCII without spaces, quotes or backslashes",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ScopeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A set of scopes, written on the wire as space-separated names in a stable
/// (sorted) order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<ScopeName>);

impl ScopeSet {
    /// Parses the `scope` parameter: names separated by single or repeated
    /// spaces (RFC 6749 §3.3).
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        text.split(' ')
            .filter(|part| !part.is_empty())
            .map(ScopeName::parse)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    pub fn from_names(names: impl IntoIterator<Item = ScopeName>) -> Self {
        Self(names.into_iter().collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn is_subset_of(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The names in `self` that `other` lacks.
    pub fn missing_from<'a>(&'a self, other: &'a ScopeSet) -> impl Iterator<Item = &'a ScopeName> {
        self.0.difference(&other.0)
    }

    pub fn iter(&self) -> impl Iterator<Item = &ScopeName> {
        self.0.iter()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|n| n.as_str() == name)
    }

    /// The set without `name`.
    pub fn without(&self, name: &str) -> Self {
        Self(self.0.iter().filter(|n| n.as_str() != name).cloned().collect())
    }

    /// The names in both sets.
    pub fn intersection(&self, other: &ScopeSet) -> Self {
        Self(self.0.intersection(&other.0).cloned().collect())
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for name in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(name.as_str())?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises_order_and_spacing() {
        let set = ScopeSet::parse("write  read read").unwrap();
        assert_eq!(set.to_string(), "read write");
    }

    #[test]
    fn rejects_non_nqchar() {
        for bad in ["a\"b", "a\\b", "ünï", "tab\t"] {
            assert!(ScopeSet::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn subset_and_difference() {
        let allowed = ScopeSet::parse("a b c").unwrap();
        let asked = ScopeSet::parse("a d").unwrap();
        assert!(!asked.is_subset_of(&allowed));
        let missing: Vec<_> = asked.missing_from(&allowed).map(|s| s.as_str()).collect();
        assert_eq!(missing, ["d"]);
    }
}
