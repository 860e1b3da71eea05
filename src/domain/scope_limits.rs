//! Who may grant which scope: the admin scope only an admin; a scope an
//! admin limited to directory groups only their members (e.g. `jira:admin`
//! only for `jira-administrators`). One rule for the consent page, the
//! code, the device approval, the refresh and the personal API token.

use super::{InvalidInput, Role, ScopeName, ScopeSet, User, ADMIN_SCOPE};

/// Most groups one scope may be limited to.
const MAX_GROUPS: usize = 50;
/// Longest group name accepted.
const MAX_GROUP_NAME: usize = 256;

/// The group names a scope is limited to, as typed: one per line (or per
/// list item), blanks dropped, duplicates (ignoring case) folded.
pub fn parse_group_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, InvalidInput> {
    let mut groups: Vec<String> = Vec::new();
    for name in names.into_iter().map(str::trim).filter(|n| !n.is_empty()) {
        if name.chars().count() > MAX_GROUP_NAME || name.chars().any(char::is_control) {
            return Err(InvalidInput::new(format!(
                "a group name must be at most {MAX_GROUP_NAME} characters, without control characters"
            ))
            .in_field("allowed_groups"));
        }
        if !groups.iter().any(|g| g.eq_ignore_ascii_case(name)) {
            groups.push(name.to_owned());
        }
    }
    if groups.len() > MAX_GROUPS {
        return Err(InvalidInput::new(format!("a scope may be limited to at most {MAX_GROUPS} groups"))
            .in_field("allowed_groups"));
    }
    Ok(groups)
}

/// The limits of every scope that has some.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeLimits {
    limited: Vec<(ScopeName, Vec<String>)>,
}

impl ScopeLimits {
    pub fn new(limited: impl IntoIterator<Item = (ScopeName, Vec<String>)>) -> Self {
        Self { limited: limited.into_iter().filter(|(_, groups)| !groups.is_empty()).collect() }
    }

    /// Every group some scope is limited to (what a directory sign-in asks about).
    pub fn groups(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for group in self.limited.iter().flat_map(|(_, groups)| groups) {
            if !all.iter().any(|g| g.eq_ignore_ascii_case(group)) {
                all.push(group.clone());
            }
        }
        all
    }

    /// The groups `scope` is limited to (empty: not limited).
    pub fn groups_of(&self, scope: &str) -> &[String] {
        self.limited.iter().find(|(name, _)| name.as_str() == scope).map_or(&[], |(_, groups)| groups)
    }

    /// May `user` grant `scope`?
    pub fn allows(&self, user: &User, scope: &str) -> bool {
        if scope == ADMIN_SCOPE && user.role != Role::Admin {
            return false;
        }
        let groups = self.groups_of(scope);
        groups.is_empty() || user.in_any_group(groups)
    }

    /// What of `scope` `user` may grant.
    pub fn grantable(&self, user: &User, scope: &ScopeSet) -> ScopeSet {
        ScopeSet::from_names(scope.iter().filter(|s| self.allows(user, s.as_str())).cloned())
    }

    /// Why `user` may not grant `scope`, for a page or an error; `None`
    /// when they may.
    pub fn refusal(&self, user: &User, scope: &str) -> Option<String> {
        if self.allows(user, scope) {
            return None;
        }
        let groups = self.groups_of(scope);
        Some(if scope == ADMIN_SCOPE && user.role != Role::Admin {
            format!("'{scope}' is for administrators only")
        } else {
            format!("'{scope}' is for members of {} only", groups.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DirectoryLink, Email, UnixTime, UserId, Username};

    fn person(role: Role, groups: &[&str]) -> User {
        User {
            id: UserId::new("u1"),
            username: Username::parse("jane").unwrap(),
            email: Email::parse("jane@example.com").unwrap(),
            display_name: None,
            profile: Default::default(),
            role,
            enabled: true,
            created_at: UnixTime::from_seconds(0),
            updated_at: UnixTime::from_seconds(0),
            directory: (!groups.is_empty()).then(|| DirectoryLink {
                dn: "uid=jane".into(),
                groups: groups.iter().map(|g| (*g).to_owned()).collect(),
                seen_at: UnixTime::from_seconds(0),
            }),
        }
    }

    fn scopes(names: &[&str]) -> ScopeSet {
        ScopeSet::from_names(names.iter().map(|n| ScopeName::parse(n).unwrap()))
    }

    #[test]
    fn limited_scopes_are_for_their_groups_and_the_admin_scope_for_admins() {
        let limits = ScopeLimits::new([
            (ScopeName::parse("jira:admin").unwrap(), vec!["jira-administrators".to_owned()]),
            (ScopeName::parse("jira:read").unwrap(), Vec::new()),
        ]);
        let asked = scopes(&["jira:read", "jira:admin", ADMIN_SCOPE]);
        let member = person(Role::User, &["JIRA-Administrators"]);
        assert_eq!(limits.grantable(&member, &asked), scopes(&["jira:read", "jira:admin"]));
        let other = person(Role::Admin, &["jira-users"]);
        assert_eq!(limits.grantable(&other, &asked), scopes(&["jira:read", ADMIN_SCOPE]));
        let local = person(Role::User, &[]);
        assert_eq!(limits.grantable(&local, &asked), scopes(&["jira:read"]));
        assert_eq!(
            limits.refusal(&local, "jira:admin").unwrap(),
            "'jira:admin' is for members of jira-administrators only"
        );
        assert_eq!(limits.groups(), vec!["jira-administrators".to_owned()]);
    }

    #[test]
    fn group_lists_are_trimmed_folded_and_bounded() {
        assert_eq!(parse_group_names(["a", " A ", "", "b"]).unwrap(), vec!["a".to_owned(), "b".to_owned()]);
        assert!(parse_group_names(["bad\u{7}name"]).is_err());
        let many: Vec<String> = (0..51).map(|i| format!("g{i}")).collect();
        assert!(parse_group_names(many.iter().map(String::as_str)).is_err());
    }
}
