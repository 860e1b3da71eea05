//! The LDAP conversation, through the `ldap3` crate: connections bound as
//! Tessera's service account, kept in a small pool; searches for one
//! person (the typed username escaped per RFC 4515) or for everyone (paged,
//! for the sync); the bind as the person with the typed password, after
//! which the connection is bound back to the service account before it
//! returns to the pool. Every call is bounded by the configured timeout.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry};

use crate::config::{DirectorySettings, Transport};

/// A person as the directory describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryPerson {
    pub dn: String,
    /// As the directory spells it (Jira's username).
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// Active Directory's ACCOUNTDISABLE bit, or the configured filter.
    pub disabled: bool,
    /// The groups asked about that the person is a member of (their names
    /// as the directory spells them).
    pub groups: Vec<String>,
}

/// Why the directory gave no answer. The texts name the setting to look
/// at and never carry a password.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Down, refused, TLS failed, or too slow.
    #[error("the directory cannot be reached: {0}")]
    Unreachable(String),
    /// The directory answered, but not as it should (refused the service
    /// bind, an unknown base DN, a filter it rejects).
    #[error("{0}")]
    Refused(String),
}

/// What a sign-in against the directory came to.
#[derive(Debug)]
pub enum Verdict {
    Person(DirectoryPerson),
    /// An unknown username, a wrong or empty password, or a username that
    /// names several entries: all the same to the person signing in.
    WrongCredentials,
}

/// Most idle connections kept.
const POOL_SIZE: usize = 4;
/// Longest wait for a pooled connection to show it is alive.
const LIVENESS_TIMEOUT: Duration = Duration::from_secs(1);
/// Entries per page of the sync's search (Active Directory's default
/// MaxPageSize is 1,000).
const PAGE_SIZE: i32 = 500;
/// LDAP result code of a failed bind (RFC 4511 §4.1.9).
const INVALID_CREDENTIALS: u32 = 49;
/// Active Directory's userAccountControl ACCOUNTDISABLE bit.
const ACCOUNT_DISABLE: i64 = 0x2;

pub struct Directory {
    settings: DirectorySettings,
    tls: Option<Arc<rustls::ClientConfig>>,
    idle: Mutex<Vec<Ldap>>,
}

impl Directory {
    /// Reads the CA file (if any); connects to nothing yet.
    pub fn new(settings: DirectorySettings) -> anyhow::Result<Self> {
        let tls = match settings.transport {
            Transport::Plain => None,
            Transport::Ldaps | Transport::StartTls => Some(Arc::new(tls_config(&settings)?)),
        };
        Ok(Self { settings, tls, idle: Mutex::new(Vec::new()) })
    }

    pub fn settings(&self) -> &DirectorySettings {
        &self.settings
    }

    /// Checks `password` for `username`: the service account finds the
    /// one entry whose username attribute is `username` (escaped: `*` and
    /// parentheses are literal), then the directory is asked to bind as it.
    /// An empty password is refused here: LDAP would take it as an
    /// unauthenticated bind and answer success (RFC 4513 §5.1.2).
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
        groups: &[String],
    ) -> Result<Verdict, DirectoryError> {
        if password.is_empty() || username.trim().is_empty() {
            return Ok(Verdict::WrongCredentials);
        }
        self.bounded(async {
            let mut ldap = self.checkout().await?;
            let found = self.find_on(&mut ldap, username, groups).await;
            let person = match found {
                Ok(Some(person)) => person,
                Ok(None) => {
                    self.checkin(ldap);
                    return Ok(Verdict::WrongCredentials);
                }
                Err(error) => return Err(error),
            };
            let bound = ldap.simple_bind(&person.dn, password).await.map_err(unreachable)?;
            // Invalid credentials, a locked account, an expired password …:
            // all refused alike.
            let verdict = if bound.rc == 0 { Verdict::Person(person) } else { Verdict::WrongCredentials };
            // Back to the service account before anyone else uses it.
            if self.service_bind(&mut ldap).await.is_ok() {
                self.checkin(ldap);
            }
            Ok(verdict)
        })
        .await
    }

    /// The person whose username attribute is `username`, without their
    /// password (the sync, and the console's "test user").
    pub async fn find_person(
        &self,
        username: &str,
        groups: &[String],
    ) -> Result<Option<DirectoryPerson>, DirectoryError> {
        self.bounded(async {
            let mut ldap = self.checkout().await?;
            let found = self.find_on(&mut ldap, username, groups).await?;
            self.checkin(ldap);
            Ok(found)
        })
        .await
    }

    /// Everyone the user filter matches under the user base, with the
    /// groups asked about. Paged; bounded by the timeout per page, and by
    /// `whole` overall.
    pub async fn all_people(
        &self,
        groups: &[String],
        whole: Duration,
    ) -> Result<Vec<DirectoryPerson>, DirectoryError> {
        let work = async {
            let mut ldap = self.bounded(self.checkout()).await?;
            let attributes = self.person_attributes();
            let base = &self.settings.user_base;
            let entries = self.paged_search(&mut ldap, base, &self.settings.user_filter, &attributes).await?;
            let disabled: HashSet<String> = match &self.settings.disabled_filter {
                Some(filter) => {
                    let both = format!("(&{}{filter})", self.settings.user_filter);
                    let dns = self.paged_search(&mut ldap, base, &both, &["1.1".to_owned()]).await?;
                    dns.into_iter().map(|e| normalise_dn(&e.dn)).collect()
                }
                None => HashSet::new(),
            };
            let members = self.group_members(&mut ldap, groups).await?;
            self.checkin(ldap);
            let mut people = Vec::with_capacity(entries.len());
            for entry in entries {
                let Some(mut person) = self.person_from(entry) else { continue };
                person.disabled |= disabled.contains(&normalise_dn(&person.dn));
                person.groups = members.groups_of(&person);
                people.push(person);
            }
            Ok(people)
        };
        match tokio::time::timeout(whole, work).await {
            Ok(result) => result,
            Err(_) => {
                Err(DirectoryError::Unreachable(format!("listing everyone took longer than {whole:?}")))
            }
        }
    }

    /// Connects, binds as the service account and reads the user base: what
    /// an admin runs first.
    pub async fn check(&self) -> Result<(), DirectoryError> {
        self.bounded(async {
            let mut ldap = self.connect().await?;
            let base = &self.settings.user_base;
            let entries = Self::search(&mut ldap, base, Scope::Base, "(objectClass=*)", vec!["1.1"]).await?;
            if entries.is_empty() {
                return Err(DirectoryError::Refused(format!(
                    "TESSERA_LDAP_USER_BASE '{}' is not an entry the service account can read",
                    self.settings.user_base
                )));
            }
            self.checkin(ldap);
            Ok(())
        })
        .await
    }

    async fn bounded<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, DirectoryError>>,
    ) -> Result<T, DirectoryError> {
        match tokio::time::timeout(self.settings.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(DirectoryError::Unreachable(format!(
                "no answer within {} s",
                self.settings.timeout.as_secs()
            ))),
        }
    }

    /// A pooled connection bound as the service account, or a new one. A
    /// pooled one must first answer a read of the root DSE: directories
    /// close idle connections (Active Directory after 15 minutes), and a
    /// sign-in must not fail on one that died in the pool.
    async fn checkout(&self) -> Result<Ldap, DirectoryError> {
        loop {
            let idle = crate::sync::lock(&self.idle).pop();
            let Some(mut ldap) = idle else { return self.connect().await };
            if ldap.is_closed() {
                continue;
            }
            let probe = ldap.search("", Scope::Base, "(objectClass=*)", vec!["1.1"]);
            // Any answer, even a refusal, shows the connection is alive.
            if let Ok(Ok(_)) = tokio::time::timeout(LIVENESS_TIMEOUT, probe).await {
                return Ok(ldap);
            }
        }
    }

    fn checkin(&self, mut ldap: Ldap) {
        if ldap.is_closed() {
            return;
        }
        let mut idle = crate::sync::lock(&self.idle);
        if idle.len() < POOL_SIZE {
            idle.push(ldap);
        }
    }

    async fn connect(&self) -> Result<Ldap, DirectoryError> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.settings.timeout)
            .set_starttls(self.settings.transport == Transport::StartTls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        let (connection, mut ldap) =
            LdapConnAsync::with_settings(settings, &self.settings.url).await.map_err(unreachable)?;
        ldap3::drive!(connection);
        self.service_bind(&mut ldap).await?;
        Ok(ldap)
    }

    async fn service_bind(&self, ldap: &mut Ldap) -> Result<(), DirectoryError> {
        let (dn, password) = match (&self.settings.bind_dn, &self.settings.bind_password) {
            (Some(dn), Some(password)) => (dn.as_str(), password.expose()),
            _ => ("", ""),
        };
        let result = ldap.simple_bind(dn, password).await.map_err(unreachable)?;
        match result.rc {
            0 => Ok(()),
            INVALID_CREDENTIALS => Err(DirectoryError::Refused(
                "the directory refused TESSERA_LDAP_BIND_DN with TESSERA_LDAP_BIND_PASSWORD (invalid credentials)"
                    .into(),
            )),
            rc => Err(DirectoryError::Refused(format!(
                "the directory refused Tessera's bind as TESSERA_LDAP_BIND_DN (result {rc}: {})",
                printable(&result.text)
            ))),
        }
    }

    fn person_attributes(&self) -> Vec<String> {
        let s = &self.settings;
        vec![
            s.username_attribute.clone(),
            s.email_attribute.clone(),
            s.name_attribute.clone(),
            s.given_name_attribute.clone(),
            s.family_name_attribute.clone(),
            "userAccountControl".to_owned(),
        ]
    }

    /// One search, not paged (a person, a membership check): its entries,
    /// or why the directory gave none.
    async fn search(
        ldap: &mut Ldap,
        base: &str,
        scope: Scope,
        filter: &str,
        attributes: Vec<&str>,
    ) -> Result<Vec<SearchEntry>, DirectoryError> {
        let (entries, _) = ldap
            .search(base, scope, filter, attributes)
            .await
            .map_err(unreachable)?
            .success()
            .map_err(|e| refused(base, e))?;
        Ok(entries.into_iter().map(SearchEntry::construct).collect())
    }

    /// The one entry of `username` on `ldap`, with its disabled state and
    /// groups; `None` when there is none or more than one.
    async fn find_on(
        &self,
        ldap: &mut Ldap,
        username: &str,
        groups: &[String],
    ) -> Result<Option<DirectoryPerson>, DirectoryError> {
        let s = &self.settings;
        let filter = format!("(&{}({}={}))", s.user_filter, s.username_attribute, ldap_escape(username));
        let attributes = self.person_attributes();
        let attributes = attributes.iter().map(String::as_str).collect();
        let entries = Self::search(ldap, &s.user_base, Scope::Subtree, &filter, attributes).await?;
        let mut people: Vec<DirectoryPerson> =
            entries.into_iter().filter_map(|e| self.person_from(e)).collect();
        let (Some(mut person), true) = (people.pop(), people.is_empty()) else {
            return Ok(None);
        };
        if let Some(disabled_filter) = &s.disabled_filter {
            let matched = Self::search(ldap, &person.dn, Scope::Base, disabled_filter, vec!["1.1"]).await?;
            person.disabled |= !matched.is_empty();
        }
        if !groups.is_empty() {
            let membership = format!(
                "(&{}(|(member={dn})(uniqueMember={dn})(memberUid={uid})))",
                self.groups_filter(groups),
                dn = ldap_escape(&person.dn),
                uid = ldap_escape(&person.username),
            );
            let attributes = vec![s.group_name_attribute.as_str()];
            let found = Self::search(ldap, &s.group_base, Scope::Subtree, &membership, attributes).await?;
            person.groups = found
                .into_iter()
                .filter_map(|e| first(&e, &s.group_name_attribute))
                .filter(|name| groups.iter().any(|g| g.eq_ignore_ascii_case(name)))
                .collect();
            person.groups.sort();
            person.groups.dedup();
        }
        Ok(Some(person))
    }

    /// `(|(cn=g1)(cn=g2))` for the groups asked about.
    fn groups_filter(&self, groups: &[String]) -> String {
        let attribute = &self.settings.group_name_attribute;
        let terms: String = groups.iter().map(|g| format!("({attribute}={})", ldap_escape(g))).collect();
        format!("(|{terms})")
    }

    /// Every member of the groups asked about (for the sync).
    async fn group_members(&self, ldap: &mut Ldap, groups: &[String]) -> Result<Members, DirectoryError> {
        let mut members = Members::default();
        if groups.is_empty() {
            return Ok(members);
        }
        let s = &self.settings;
        let filter = self.groups_filter(groups);
        let attributes = vec![
            s.group_name_attribute.clone(),
            "member".to_owned(),
            "uniqueMember".to_owned(),
            "memberUid".to_owned(),
        ];
        let entries = self.paged_search(ldap, &s.group_base, &filter, &attributes).await?;
        for entry in entries {
            let Some(name) = first(&entry, &s.group_name_attribute) else { continue };
            if !groups.iter().any(|g| g.eq_ignore_ascii_case(&name)) {
                continue;
            }
            for attribute in ["member", "uniqueMember"] {
                for dn in values(&entry, attribute) {
                    members.by_dn.entry(normalise_dn(dn)).or_default().push(name.clone());
                }
            }
            for uid in values(&entry, "memberUid") {
                members.by_uid.entry(uid.to_lowercase()).or_default().push(name.clone());
            }
        }
        Ok(members)
    }

    /// A search in pages (any number of entries), each page under the timeout.
    async fn paged_search(
        &self,
        ldap: &mut Ldap,
        base: &str,
        filter: &str,
        attributes: &[String],
    ) -> Result<Vec<SearchEntry>, DirectoryError> {
        let adapters: Vec<Box<dyn Adapter<'_, String, Vec<String>>>> =
            vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(PAGE_SIZE))];
        let mut stream = ldap
            .streaming_search_with(adapters, base, Scope::Subtree, filter, attributes.to_vec())
            .await
            .map_err(unreachable)?;
        let mut entries = Vec::new();
        loop {
            let next = tokio::time::timeout(self.settings.timeout, stream.next()).await;
            match next {
                Ok(Ok(Some(entry))) => entries.push(SearchEntry::construct(entry)),
                Ok(Ok(None)) => break,
                Ok(Err(error)) => return Err(unreachable(error)),
                Err(_) => {
                    return Err(DirectoryError::Unreachable(format!(
                        "a page of the search took longer than {} s",
                        self.settings.timeout.as_secs()
                    )))
                }
            }
        }
        let result = stream.finish().await;
        result.success().map_err(|e| refused(base, e))?;
        Ok(entries)
    }

    fn person_from(&self, entry: SearchEntry) -> Option<DirectoryPerson> {
        let s = &self.settings;
        let username = first(&entry, &s.username_attribute)?;
        let disabled = first(&entry, "userAccountControl")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .is_some_and(|flags| flags & ACCOUNT_DISABLE != 0);
        Some(DirectoryPerson {
            username,
            email: first(&entry, &s.email_attribute),
            display_name: first(&entry, &s.name_attribute),
            given_name: first(&entry, &s.given_name_attribute),
            family_name: first(&entry, &s.family_name_attribute),
            disabled,
            groups: Vec::new(),
            dn: entry.dn,
        })
    }
}

/// Members of the groups asked about, by DN and by memberUid.
#[derive(Default)]
struct Members {
    by_dn: HashMap<String, Vec<String>>,
    by_uid: HashMap<String, Vec<String>>,
}

impl Members {
    fn groups_of(&self, person: &DirectoryPerson) -> Vec<String> {
        let mut groups: Vec<String> = self
            .by_dn
            .get(&normalise_dn(&person.dn))
            .into_iter()
            .chain(self.by_uid.get(&person.username.to_lowercase()))
            .flatten()
            .cloned()
            .collect();
        groups.sort();
        groups.dedup();
        groups
    }
}

/// A DN compared loosely: lower case, no blanks around the separators.
fn normalise_dn(dn: &str) -> String {
    dn.split(',').map(|rdn| rdn.trim().replace(" = ", "=").to_lowercase()).collect::<Vec<_>>().join(",")
}

/// An attribute's first value, matched without regard to case (as LDAP names are).
fn first(entry: &SearchEntry, attribute: &str) -> Option<String> {
    values(entry, attribute).next().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

fn values<'a>(entry: &'a SearchEntry, attribute: &'a str) -> impl Iterator<Item = &'a str> {
    entry
        .attrs
        .iter()
        .filter(move |(name, _)| name.eq_ignore_ascii_case(attribute))
        .flat_map(|(_, values)| values.iter().map(String::as_str))
}

fn unreachable(error: LdapError) -> DirectoryError {
    DirectoryError::Unreachable(error.to_string())
}

fn refused(base: &str, error: LdapError) -> DirectoryError {
    match error {
        LdapError::LdapResult { result } => DirectoryError::Refused(format!(
            "the directory refused a search under '{}' (result {}: {})",
            printable(base),
            result.rc,
            printable(&result.text)
        )),
        other => unreachable(other),
    }
}

fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// TLS for the directory: the configured CA file, or the system's roots.
fn tls_config(settings: &DirectorySettings) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    match &settings.ca_file {
        Some(path) => {
            let text = std::fs::read(path)
                .with_context(|| format!("TESSERA_LDAP_CA_FILE {} cannot be read", path.display()))?;
            let blocks = pem::parse_many(&text)
                .with_context(|| format!("TESSERA_LDAP_CA_FILE {} is not PEM", path.display()))?;
            for block in blocks.iter().filter(|b| b.tag() == "CERTIFICATE") {
                roots.add(rustls::pki_types::CertificateDer::from(block.contents().to_vec())).with_context(
                    || format!("TESSERA_LDAP_CA_FILE {} holds a bad certificate", path.display()),
                )?;
            }
            if roots.is_empty() {
                anyhow::bail!("TESSERA_LDAP_CA_FILE {} holds no certificate", path.display());
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let config =
        rustls::ClientConfig::builder_with_provider(rustls::crypto::aws_lc_rs::default_provider().into())
            .with_safe_default_protocol_versions()
            .context("TLS set-up for the directory")?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_compare_without_case_or_blanks() {
        assert_eq!(
            normalise_dn("uid=Jane, ou=People,dc=Example,dc=com"),
            "uid=jane,ou=people,dc=example,dc=com"
        );
    }
}
