use std::fmt;

use super::InvalidInput;

/// A Jira username: what lands in the username claim and what Jira looks up.
/// Jira allows up to 255 characters; we refuse whitespace and control
/// characters so the value survives every header and log line unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        if text.is_empty() {
            return Err(InvalidInput::new("username must not be empty"));
        }
        if text.chars().count() > 255 {
            return Err(InvalidInput::new("username must be at most 255 characters"));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidInput::new("username must not contain spaces or control characters"));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_jira_style_names() {
        for ok in ["svc-deploy", "jane.doe@example.com", "JIRAUSER10000", "ü-user"] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_empty_spaced_control_and_long_names() {
        let long = "a".repeat(256);
        for bad in ["", "two words", "tab\tname", "nl\n", long.as_str()] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }
}
