//! A condition a trusted issuer's JWT must meet, such as
//! `repository=acme/deploy-tools` or `ref=refs/heads/*`: one top-level
//! string claim, equal to a value, where `*` stands for any run of
//! characters (none included). Nested and array claims are refused when
//! the condition is written, not silently never matched.

use std::fmt;

use serde_json::{Map, Value};

use super::InvalidInput;

/// Claims a trust checks itself; a condition on them would only confuse.
const RESERVED: &[&str] = &["iss", "aud", "exp", "nbf", "iat", "jti"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimCondition {
    name: String,
    pattern: String,
}

impl ClaimCondition {
    /// Parses `NAME=VALUE`.
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        let Some((name, pattern)) = text.split_once('=') else {
            return Err(InvalidInput::new(
                "a claim condition is written NAME=VALUE, e.g. ref=refs/heads/main",
            ));
        };
        let (name, pattern) = (name.trim(), pattern.trim());
        if name.is_empty() || name.len() > 64 {
            return Err(InvalidInput::new("a claim condition's name must be 1 to 64 characters"));
        }
        if name.contains(['.', '[', ']', '/']) {
            return Err(InvalidInput::new(format!(
                "claim '{}' looks nested: conditions apply to top-level claims only",
                shown(name)
            )));
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b':') {
            return Err(InvalidInput::new(format!(
                "claim name '{}' may hold only letters, digits, '_', '-' and ':'",
                shown(name)
            )));
        }
        if RESERVED.contains(&name) {
            return Err(InvalidInput::new(format!(
                "'{name}' is checked by the trust itself (issuer, audience, lifetime): it takes no condition"
            )));
        }
        if pattern.is_empty() || pattern.chars().count() > 256 || pattern.chars().any(char::is_control) {
            return Err(InvalidInput::new(format!(
                "the value for '{name}' must be 1 to 256 characters without control characters"
            )));
        }
        if pattern.chars().all(|c| c == '*') {
            return Err(InvalidInput::new(format!(
                "'{name}={pattern}' matches anything: name the value, or leave the condition out"
            )));
        }
        Ok(Self { name: name.to_owned(), pattern: pattern.to_owned() })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Whether `claims` meet the condition: the claim is present, a string,
    /// and equal to the pattern (with `*` standing for any run).
    pub fn matches(&self, claims: &Map<String, Value>) -> bool {
        match claims.get(&self.name) {
            Some(Value::String(value)) => glob_matches(&self.pattern, value),
            _ => false,
        }
    }
}

impl fmt::Display for ClaimCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.pattern)
    }
}

/// `pattern` with `*` standing for any run of characters, against `value`.
fn glob_matches(pattern: &str, value: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = value.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No '*': the whole value must be the pattern.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

fn shown(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn exact_and_glob_values_match_top_level_string_claims() {
        let github = claims(json!({
            "repository": "acme/deploy-tools",
            "ref": "refs/heads/main",
            "sub": "repo:acme/deploy-tools:ref:refs/heads/main",
            "run_attempt": "1",
            "groups": ["a", "b"],
            "nested": {"ref": "refs/heads/main"},
            "number": 7
        }));
        let meets = |text: &str| ClaimCondition::parse(text).unwrap().matches(&github);
        assert!(meets("repository=acme/deploy-tools"));
        assert!(!meets("repository=acme/deploy"), "exact means whole");
        assert!(!meets("repository=Acme/deploy-tools"), "case counts");
        assert!(meets("ref=refs/heads/*"));
        assert!(meets("sub=repo:acme/*:ref:refs/heads/main"));
        assert!(meets("sub=*:ref:refs/heads/main"));
        assert!(meets("sub=repo:acme/deploy-tools*"));
        assert!(meets("sub=repo:*deploy*main"));
        assert!(!meets("sub=repo:*:ref:refs/tags/*"));
        assert!(!meets("ref=refs/heads/*/x"));
        assert!(!meets("missing=x"), "an absent claim never matches");
        assert!(!meets("groups=a"), "an array claim never matches");
        assert!(!meets("number=7"), "only string claims match");
    }

    #[test]
    fn the_glob_needs_every_part_in_order() {
        assert!(glob_matches("a*b*c", "abc"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("a*b*c", "acb"));
        assert!(glob_matches("*c", "c"));
        assert!(!glob_matches("ab*ba", "aba"), "the prefix and the suffix may not overlap");
        assert!(glob_matches("x", "x") && !glob_matches("x", "xx"));
    }

    #[test]
    fn bad_conditions_are_refused_when_written() {
        let cases = [
            ("ref", "NAME=VALUE"),
            ("=main", "1 to 64"),
            ("job.ref=main", "looks nested"),
            ("groups[0]=a", "looks nested"),
            ("ref name=main", "only letters"),
            ("aud=tessera", "checked by the trust itself"),
            ("exp=1", "checked by the trust itself"),
            ("ref=", "1 to 256"),
            ("ref=*", "matches anything"),
            ("ref=a\u{7}b", "control characters"),
        ];
        for (text, expected) in cases {
            let error = ClaimCondition::parse(text).unwrap_err();
            assert!(error.message.contains(expected), "{text}: {}", error.message);
        }
        let condition = ClaimCondition::parse(" environment = production ").unwrap();
        assert_eq!(condition.to_string(), "environment=production");
    }
}
