//! The `TESSERA_LDAP_*` settings, checked once at start: a URL Tessera can
//! reach with TLS, filters that parse, attribute names that are names.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};

use super::{RawSettings, SecretString};
use crate::domain::Lifetime;

/// How the connection to the directory is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `ldaps://`: TLS from the first byte.
    Ldaps,
    /// `ldap://` upgraded with StartTLS before anything else is sent.
    StartTls,
    /// `ldap://` in the clear: only for a directory on loopback.
    Plain,
}

/// Where people sign in against, and how their entries read.
#[derive(Debug, Clone)]
pub struct DirectorySettings {
    pub url: String,
    pub transport: Transport,
    /// `None`: the searches run anonymously.
    pub bind_dn: Option<String>,
    pub bind_password: Option<SecretString>,
    pub user_base: String,
    pub user_filter: String,
    pub username_attribute: String,
    pub email_attribute: String,
    pub name_attribute: String,
    pub given_name_attribute: String,
    pub family_name_attribute: String,
    /// Members of this group are admins here (by the group's name).
    pub admin_group: Option<String>,
    pub group_base: String,
    pub group_name_attribute: String,
    /// Entries this filter matches count as disabled.
    pub disabled_filter: Option<String>,
    pub ca_file: Option<PathBuf>,
    /// Longest wait for the directory, per sign-in or search.
    pub timeout: Duration,
    /// `None`: no scheduled sync (`tessera directory sync` still works).
    pub sync_interval: Option<Duration>,
}

impl DirectorySettings {
    /// `None` when `TESSERA_LDAP_URL` is not set; an error naming the
    /// setting for anything that cannot work.
    pub fn from_raw(raw: &RawSettings) -> anyhow::Result<Option<Self>> {
        let Some(url) = raw.ldap_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let parsed = url::Url::parse(url).context("TESSERA_LDAP_URL is not a URL")?;
        let host = parsed.host_str().filter(|h| !h.is_empty()).map(str::to_owned);
        let Some(host) = host else { bail!("TESSERA_LDAP_URL '{url}' names no host") };
        if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
            bail!("TESSERA_LDAP_URL must be just ldaps://host[:port] or ldap://host[:port]; set the base DN with TESSERA_LDAP_USER_BASE");
        }
        let starttls = raw.ldap_starttls.unwrap_or(true);
        let transport = match parsed.scheme() {
            "ldaps" => Transport::Ldaps,
            "ldap" if starttls => Transport::StartTls,
            "ldap" if is_loopback(&host) => Transport::Plain,
            "ldap" => bail!(
                "TESSERA_LDAP_STARTTLS=false sends passwords in the clear: allowed only for a directory on loopback"
            ),
            other => bail!("TESSERA_LDAP_URL must start with ldaps:// or ldap:// (not {other}://)"),
        };
        let bind_dn = given(raw.ldap_bind_dn.as_deref());
        let bind_password = raw.ldap_bind_password.clone().filter(|p| !p.expose().is_empty());
        if bind_dn.is_some() && bind_password.is_none() {
            bail!("TESSERA_LDAP_BIND_DN is set but TESSERA_LDAP_BIND_PASSWORD is not");
        }
        let Some(user_base) = given(raw.ldap_user_base.as_deref()) else {
            bail!("TESSERA_LDAP_URL is set but TESSERA_LDAP_USER_BASE is not (where people are searched)")
        };
        let user_filter =
            filter(raw.ldap_user_filter.as_deref(), "(objectClass=person)", "TESSERA_LDAP_USER_FILTER")?;
        let disabled_filter = match given(raw.ldap_disabled_filter.as_deref()) {
            Some(text) => Some(filter(Some(&text), "", "TESSERA_LDAP_DISABLED_FILTER")?),
            None => None,
        };
        let timeout = raw
            .ldap_timeout
            .as_deref()
            .unwrap_or("5s")
            .parse::<Lifetime>()
            .map_err(|e| anyhow::anyhow!("TESSERA_LDAP_TIMEOUT: {e}"))?;
        if !(1..=60).contains(&timeout.seconds()) {
            bail!("TESSERA_LDAP_TIMEOUT must be between 1s and 60s");
        }
        let sync_interval = match raw.ldap_sync_interval.as_deref().map(str::trim) {
            Some("off") => None,
            other => {
                let every = other
                    .unwrap_or("15m")
                    .parse::<Lifetime>()
                    .map_err(|e| anyhow::anyhow!("TESSERA_LDAP_SYNC_INTERVAL: {e}"))?;
                if every.seconds() < 10 {
                    bail!("TESSERA_LDAP_SYNC_INTERVAL must be at least 10s (or off)");
                }
                Some(Duration::from_secs(every.seconds().unsigned_abs()))
            }
        };
        Ok(Some(Self {
            url: url.trim_end_matches('/').to_owned(),
            transport,
            bind_dn,
            bind_password,
            group_base: given(raw.ldap_group_base.as_deref()).unwrap_or_else(|| user_base.clone()),
            user_base,
            user_filter,
            username_attribute: attribute(raw.ldap_username_attribute.as_deref(), "uid", "USERNAME")?,
            email_attribute: attribute(raw.ldap_email_attribute.as_deref(), "mail", "EMAIL")?,
            name_attribute: attribute(raw.ldap_name_attribute.as_deref(), "cn", "NAME")?,
            given_name_attribute: attribute(
                raw.ldap_given_name_attribute.as_deref(),
                "givenName",
                "GIVEN_NAME",
            )?,
            family_name_attribute: attribute(raw.ldap_family_name_attribute.as_deref(), "sn", "FAMILY_NAME")?,
            admin_group: given(raw.ldap_admin_group.as_deref()),
            group_name_attribute: attribute(raw.ldap_group_name_attribute.as_deref(), "cn", "GROUP_NAME")?,
            disabled_filter,
            ca_file: raw.ldap_ca_file.clone(),
            timeout: Duration::from_secs(timeout.seconds().unsigned_abs()),
            sync_interval,
        }))
    }
}

fn given(value: Option<&str>) -> Option<String> {
    value.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// An LDAP filter as configured: it must parse, and is wrapped in
/// parentheses when given bare (`objectClass=person`).
fn filter(value: Option<&str>, default: &str, name: &str) -> anyhow::Result<String> {
    let text = given(value).unwrap_or_else(|| default.to_owned());
    let text = if text.starts_with('(') { text } else { format!("({text})") };
    if ldap3::parse_filter(&text).is_err() {
        bail!("{name} '{text}' is not an LDAP filter (RFC 4515)");
    }
    Ok(text)
}

/// An attribute name (RFC 4512 descr or numeric OID).
fn attribute(value: Option<&str>, default: &str, name: &str) -> anyhow::Result<String> {
    let text = given(value).unwrap_or_else(|| default.to_owned());
    let descr = text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let oid = text.split('.').all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()));
    if !(descr || oid) {
        bail!("TESSERA_LDAP_{name}_ATTRIBUTE '{text}' is not an attribute name");
    }
    Ok(text)
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare == "localhost" || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(url: &str) -> RawSettings {
        RawSettings {
            ldap_url: Some(url.into()),
            ldap_user_base: Some("ou=people,dc=example,dc=com".into()),
            ..Default::default()
        }
    }

    #[test]
    fn urls_need_tls_except_on_loopback() {
        let ldaps = DirectorySettings::from_raw(&raw("ldaps://ldap.example.com")).unwrap().unwrap();
        assert_eq!(ldaps.transport, Transport::Ldaps);
        let ldap = DirectorySettings::from_raw(&raw("ldap://ldap.example.com:389")).unwrap().unwrap();
        assert_eq!(ldap.transport, Transport::StartTls);
        let mut plain = raw("ldap://ldap.example.com");
        plain.ldap_starttls = Some(false);
        let error = DirectorySettings::from_raw(&plain).unwrap_err().to_string();
        assert!(error.contains("in the clear"), "{error}");
        let mut local = raw("ldap://127.0.0.1:3890");
        local.ldap_starttls = Some(false);
        assert_eq!(DirectorySettings::from_raw(&local).unwrap().unwrap().transport, Transport::Plain);
        assert!(DirectorySettings::from_raw(&raw("http://ldap.example.com")).is_err());
        assert!(DirectorySettings::from_raw(&raw("ldap://h/dc=example,dc=com")).is_err());
        assert!(DirectorySettings::from_raw(&RawSettings::default()).unwrap().is_none());
    }

    #[test]
    fn bad_filters_attributes_and_missing_settings_are_named() {
        let mut settings = raw("ldaps://h");
        settings.ldap_user_filter = Some("(&(objectClass=person)".into());
        let error = DirectorySettings::from_raw(&settings).unwrap_err().to_string();
        assert!(error.contains("TESSERA_LDAP_USER_FILTER"), "{error}");
        let mut settings = raw("ldaps://h");
        settings.ldap_user_filter = Some("objectClass=user".into());
        assert_eq!(
            DirectorySettings::from_raw(&settings).unwrap().unwrap().user_filter,
            "(objectClass=user)"
        );
        let mut settings = raw("ldaps://h");
        settings.ldap_username_attribute = Some("uid)(x".into());
        let error = DirectorySettings::from_raw(&settings).unwrap_err().to_string();
        assert!(error.contains("TESSERA_LDAP_USERNAME_ATTRIBUTE"), "{error}");
        let mut settings = raw("ldaps://h");
        settings.ldap_bind_dn = Some("cn=tessera,dc=example,dc=com".into());
        let error = DirectorySettings::from_raw(&settings).unwrap_err().to_string();
        assert!(error.contains("TESSERA_LDAP_BIND_PASSWORD"), "{error}");
        let mut settings = raw("ldaps://h");
        settings.ldap_user_base = None;
        assert!(DirectorySettings::from_raw(&settings).unwrap_err().to_string().contains("USER_BASE"));
        let mut settings = raw("ldaps://h");
        settings.ldap_sync_interval = Some("off".into());
        assert_eq!(DirectorySettings::from_raw(&settings).unwrap().unwrap().sync_interval, None);
        let defaults = DirectorySettings::from_raw(&raw("ldaps://h")).unwrap().unwrap();
        assert_eq!(defaults.sync_interval, Some(Duration::from_secs(900)));
        assert_eq!(defaults.timeout, Duration::from_secs(5));
        assert_eq!(defaults.group_base, "ou=people,dc=example,dc=com");
    }
}
