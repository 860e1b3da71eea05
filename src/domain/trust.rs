//! A trusted outside issuer (workload identity federation): a CI platform
//! or a Kubernetes cluster signs a JWT for its job or pod, and the trust
//! says which of those JWTs Tessera turns into a token for which service
//! account — the issuer and its published keys, the audience the JWT must
//! name, conditions on its claims, the scopes and the longest lifetime of
//! the token, and who may present it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::jwks::check_outside_url;
use super::{non_blank, take};
use super::{
    Audience, ClaimCondition, ClientId, FormFields, InvalidInput, JwksUri, Lifetime, ScopeName, ScopeSet,
    ServiceAccount, TrustId, UnixTime, Username,
};

/// The lifetime of a trust's tokens when none is given.
pub const DEFAULT_TRUST_TTL: Lifetime = Lifetime::from_seconds(600);

/// The longest a trust's tokens may live: an outside JWT is a short-lived
/// proof, and so is what it buys.
pub const MAX_TRUST_TTL: Lifetime = Lifetime::from_seconds(3_600);

/// The most claim conditions one trust may hold.
const MAX_CONDITIONS: usize = 20;

/// The `iss` of an outside issuer, compared with the JWT's exactly:
/// `https` (plain `http` only to a loopback address), no fragment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IssuerUrl(String);

impl IssuerUrl {
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        check_outside_url(text, "issuer")?;
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A trust as stored.
#[derive(Debug, Clone)]
pub struct Trust {
    pub id: TrustId,
    pub issuer: IssuerUrl,
    pub jwks_uri: JwksUri,
    /// The `aud` the outside JWT must name.
    pub audience: Audience,
    /// All must hold.
    pub conditions: Vec<ClaimCondition>,
    pub service_account: ServiceAccount,
    pub scopes: ScopeSet,
    pub max_ttl: Lifetime,
    /// The clients that may present this trust's JWTs.
    pub clients: Vec<ClientId>,
    /// Whether a JWT may be presented with no client authentication at all.
    pub without_client: bool,
    pub enabled: bool,
    pub created_at: UnixTime,
}

impl Trust {
    /// Whether the claims of a verified JWT meet every condition.
    pub fn conditions_met(&self, claims: &Map<String, Value>) -> bool {
        self.conditions.iter().all(|condition| condition.matches(claims))
    }

    /// Whether `caller` (None: no client authenticated) may present it.
    pub fn admits(&self, caller: Option<&ClientId>) -> bool {
        match caller {
            Some(client) => self.clients.contains(client),
            None => self.without_client,
        }
    }
}

/// A trust to create, every rule applied.
#[derive(Debug, Clone)]
pub struct NewTrust {
    pub issuer: IssuerUrl,
    pub jwks_uri: JwksUri,
    pub audience: Audience,
    pub conditions: Vec<ClaimCondition>,
    pub service_account: Username,
    pub scopes: ScopeSet,
    pub max_ttl: Lifetime,
    pub clients: Vec<ClientId>,
    pub without_client: bool,
}

/// A trust as people and scripts type it: the command line's flags, the
/// admin API's body (`TrustInput` in the OpenAPI document) and the
/// console's form. `parse` names every field at fault.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, clap::Args)]
#[serde(deny_unknown_fields)]
#[schema(as = TrustInput, description = "A trusted outside issuer and what its JWTs may get.")]
pub struct TrustDraft {
    /// The issuer's `iss`, exactly, e.g. `https://token.actions.githubusercontent.com`.
    #[schema(max_length = 2000)]
    #[arg(long, help = "The outside issuer's 'iss', exactly (https)")]
    pub issuer: String,
    /// Where the issuer publishes its keys.
    #[schema(max_length = 2000)]
    #[arg(long, help = "The URL of the issuer's JWK set (https)")]
    pub jwks_uri: String,
    /// The `aud` the JWT must name.
    #[schema(max_length = 512)]
    #[arg(long, help = "The audience the outside JWT must name")]
    pub audience: String,
    /// Conditions `NAME=VALUE` on top-level string claims; `*` matches any
    /// run of characters. At least one.
    #[serde(default)]
    #[arg(
        long = "claim",
        value_name = "NAME=VALUE",
        help = "A condition on a claim (repeatable, at least one): NAME=VALUE, '*' as a glob"
    )]
    pub claims: Vec<String>,
    /// The service account the tokens act as.
    #[schema(max_length = 255)]
    #[arg(long, help = "The service account the tokens act as (its Jira username)")]
    pub service_account: String,
    #[serde(default)]
    #[arg(long = "scope", help = "A scope the tokens may carry (repeatable)")]
    pub scopes: Vec<String>,
    /// Such as `10m` (the default); at most `1h`.
    #[serde(default)]
    #[schema(nullable, pattern = r"^0{0,8}[1-9][0-9]{0,8}[smhd]$")]
    #[arg(long, help = "The longest lifetime of the tokens, e.g. 10m (default 10m, at most 1h)")]
    pub max_ttl: Option<String>,
    /// Clients that may present the issuer's JWTs.
    #[serde(default)]
    #[arg(
        long = "client",
        value_name = "CLIENT_ID",
        help = "A client that may present the JWTs (repeatable)"
    )]
    pub clients: Vec<String>,
    /// Whether a JWT may be presented with no client authentication.
    #[serde(default)]
    #[arg(long, help = "Accept the JWTs with no client authentication at all")]
    pub allow_without_client: bool,
}

impl TrustDraft {
    /// The draft as the console's form posts it (each field named as in
    /// the JSON body; conditions one per line).
    pub fn from_form(form: &impl FormFields) -> Self {
        Self {
            issuer: form.text("issuer"),
            jwks_uri: form.text("jwks_uri"),
            audience: form.text("audience"),
            claims: form.lines("claims"),
            service_account: form.text("service_account"),
            scopes: form.lines("scopes"),
            max_ttl: Some(form.text("max_ttl")),
            clients: form.lines("clients"),
            allow_without_client: form.checked("allow_without_client"),
        }
    }

    pub fn parse(&self) -> Result<NewTrust, Vec<InvalidInput>> {
        let mut errors = Vec::new();
        let issuer = take(&mut errors, "issuer", IssuerUrl::parse(self.issuer.trim()));
        let jwks_uri = take(&mut errors, "jwks_uri", JwksUri::parse(self.jwks_uri.trim()));
        let audience = take(&mut errors, "audience", Audience::parse(self.audience.trim()));
        let conditions = take(&mut errors, "claims", parse_conditions(&self.claims));
        let service_account =
            take(&mut errors, "service_account", Username::parse(self.service_account.trim()));
        let scopes = take(
            &mut errors,
            "scopes",
            non_blank(&self.scopes)
                .map(ScopeName::parse)
                .collect::<Result<Vec<_>, _>>()
                .map(ScopeSet::from_names),
        );
        let max_ttl = take(&mut errors, "max_ttl", parse_ttl(self.max_ttl.as_deref()));
        let clients = take(
            &mut errors,
            "clients",
            non_blank(&self.clients).map(ClientId::parse).collect::<Result<Vec<_>, _>>(),
        );
        if let Some(clients) = &clients {
            if clients.is_empty() && !self.allow_without_client {
                errors.push(
                    InvalidInput::new(
                        "name the clients that may present these JWTs (--client), or allow them without a client",
                    )
                    .in_field("clients"),
                );
            }
        }
        match (issuer, jwks_uri, audience, conditions, service_account, scopes, max_ttl, clients) {
            (
                Some(issuer),
                Some(jwks_uri),
                Some(audience),
                Some(conditions),
                Some(service_account),
                Some(scopes),
                Some(max_ttl),
                Some(mut clients),
            ) if errors.is_empty() => {
                clients.sort();
                clients.dedup();
                Ok(NewTrust {
                    issuer,
                    jwks_uri,
                    audience,
                    conditions,
                    service_account,
                    scopes,
                    max_ttl,
                    clients,
                    without_client: self.allow_without_client,
                })
            }
            _ => Err(errors),
        }
    }
}

fn parse_conditions(texts: &[String]) -> Result<Vec<ClaimCondition>, InvalidInput> {
    let conditions = texts
        .iter()
        .filter(|t| !t.trim().is_empty())
        .map(|t| ClaimCondition::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    if conditions.is_empty() {
        return Err(InvalidInput::new(
            "a trust needs at least one claim condition (e.g. repository=acme/deploy): without one, every JWT the issuer signs for this audience would get a token",
        ));
    }
    if conditions.len() > MAX_CONDITIONS {
        return Err(InvalidInput::new(format!("a trust may hold at most {MAX_CONDITIONS} claim conditions")));
    }
    let mut names: Vec<&str> = conditions.iter().map(ClaimCondition::name).collect();
    names.sort_unstable();
    if let Some(twice) = names.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(InvalidInput::new(format!(
            "claim '{}' has two conditions; a claim has one value: give one condition, with '*' if needed",
            twice[0]
        )));
    }
    Ok(conditions)
}

fn parse_ttl(text: Option<&str>) -> Result<Lifetime, InvalidInput> {
    let ttl = match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => DEFAULT_TRUST_TTL,
        Some(text) => text.parse::<Lifetime>()?,
    };
    if ttl > MAX_TRUST_TTL {
        return Err(InvalidInput::new(format!(
            "a trust's tokens live at most {MAX_TRUST_TTL}; {ttl} is longer"
        )));
    }
    Ok(ttl)
}

/// A trust as the admin API and `tessera trust … --json` show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrustView {
    pub id: String,
    pub issuer: String,
    pub jwks_uri: String,
    pub audience: String,
    /// `NAME=VALUE`, as written.
    pub claims: Vec<String>,
    pub service_account: String,
    pub scopes: Vec<String>,
    pub max_ttl_seconds: i64,
    pub clients: Vec<String>,
    pub allow_without_client: bool,
    pub enabled: bool,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<&Trust> for TrustView {
    fn from(trust: &Trust) -> Self {
        Self {
            id: trust.id.to_string(),
            issuer: trust.issuer.as_str().to_owned(),
            jwks_uri: trust.jwks_uri.as_str().to_owned(),
            audience: trust.audience.as_str().to_owned(),
            claims: trust.conditions.iter().map(ToString::to_string).collect(),
            service_account: trust.service_account.username.to_string(),
            scopes: trust.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            max_ttl_seconds: trust.max_ttl.seconds(),
            clients: trust.clients.iter().map(ToString::to_string).collect(),
            allow_without_client: trust.without_client,
            enabled: trust.enabled,
            created_at: trust.created_at.seconds(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> TrustDraft {
        TrustDraft {
            issuer: "https://token.actions.githubusercontent.com".into(),
            jwks_uri: "https://token.actions.githubusercontent.com/.well-known/jwks".into(),
            audience: "https://tessera.example".into(),
            claims: vec!["repository=acme/deploy".into(), "ref=refs/heads/main".into()],
            service_account: "svc-deploy".into(),
            scopes: vec!["jira:write".into()],
            max_ttl: None,
            clients: vec![],
            allow_without_client: true,
        }
    }

    #[test]
    fn a_good_draft_parses_with_the_default_lifetime() {
        let trust = draft().parse().unwrap();
        assert_eq!(trust.max_ttl, DEFAULT_TRUST_TTL);
        assert_eq!(trust.conditions.len(), 2);
        assert!(trust.without_client && trust.clients.is_empty());
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = TrustDraft {
            issuer: "http://issuer.example".into(),
            jwks_uri: "ftp://x".into(),
            audience: "has space".into(),
            claims: vec![],
            service_account: "".into(),
            scopes: vec!["bad\"scope".into()],
            max_ttl: Some("2h".into()),
            clients: vec![],
            allow_without_client: false,
        };
        let fields: Vec<_> = bad.parse().unwrap_err().into_iter().map(|e| e.field.unwrap()).collect();
        assert_eq!(
            fields,
            ["issuer", "jwks_uri", "audience", "claims", "service_account", "scopes", "max_ttl", "clients"]
        );
    }

    #[test]
    fn conditions_are_required_single_per_claim_and_all_must_hold() {
        let none = TrustDraft { claims: vec![" ".into()], ..draft() };
        assert!(none.parse().unwrap_err()[0].message.contains("at least one claim condition"));
        let twice = TrustDraft { claims: vec!["ref=a".into(), "ref=b".into()], ..draft() };
        assert!(twice.parse().unwrap_err()[0].message.contains("two conditions"));
        let nested = TrustDraft { claims: vec!["a.b=c".into()], ..draft() };
        assert_eq!(nested.parse().unwrap_err()[0].field, Some("claims"));
    }
}
