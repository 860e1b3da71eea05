//! RFC 8693 token exchange of a JWT from a trusted outside issuer (a CI
//! job's OIDC token, a Kubernetes service-account token) for a short
//! Tessera JWT for the service account the trust maps it to. The JWT must
//! come from a trust's issuer, be signed with a key that issuer publishes,
//! name the trust's audience, be within its lifetime (60 s skew) and meet
//! every claim condition; the caller must be a client the trust names, or
//! no client at all where the trust allows it. Every decision is audited
//! with the trust it concerned. A refusal is `invalid_request` (RFC 8693
//! §2.2.2) saying why.

use serde_json::{Map, Value};

use super::resolve_audience;
use crate::crypto::assertion::{peek, verify_assertion, AssertionClaims, AssertionRules};
use crate::domain::{ClientId, GrantType, ScopeSet, TokenFormat, Trust, UnixTime};
use crate::oauth::access_token::TokenSubject;
use crate::oauth::client_auth::PresentedCredentials;
use crate::oauth::params::FormParams;
use crate::oauth::token_request::ACCESS_TOKEN_TYPE;
use crate::oauth::{OAuthError, OAuthServer, Request, TokenResponse};
use crate::service::audit::{Actor, Kind, Target};
use crate::store::StoredClient;

/// A token exchange of a JWT, as the request gave it.
pub(crate) struct Exchange {
    pub subject_token: String,
    pub scope: Option<ScopeSet>,
    pub resources: Vec<String>,
}

/// Why no trust took the JWT: what the audit log and the caller are told.
struct Refusal<'a> {
    trust: Option<&'a Trust>,
    reason: String,
}

pub(crate) async fn exchange(
    server: &OAuthServer,
    request: &Request<'_>,
    params: &FormParams,
    exchange: Exchange,
    now: UnixTime,
) -> Result<TokenResponse, OAuthError> {
    let Exchange { subject_token, scope, resources } = exchange;
    let presented = PresentedCredentials::from_request(request.authorization, params)?;
    let caller = match presented {
        PresentedCredentials::None | PresentedCredentials::IdOnly { .. } => None,
        _ => Some(server.authenticate_presented(request, &presented, now).await?),
    };
    if caller.is_none() {
        if let Some(retry_after) = server.throttle.blocked(None, request.peer, now) {
            return Err(OAuthError::SlowDown { retry_after });
        }
    }
    let caller_id = caller.as_ref().map(|c| &c.client.id);
    let actor = match caller_id {
        Some(id) => Actor::client(id.as_str(), request.peer),
        None => Actor::anonymous(request.peer),
    };
    // Read once, unverified: which trusts to try, and which key to fetch.
    let seen = peek(&subject_token).ok();
    let trusts = match seen.as_ref().and_then(|seen| seen.issuer.as_deref()) {
        Some(issuer) => server.store.trusts_of_issuer(issuer).await?,
        None => Vec::new(),
    };
    let kid = seen.and_then(|seen| seen.kid);
    let (trust, claims) =
        match matching_trust(server, &trusts, &subject_token, kid.as_deref(), caller_id, now).await {
            Ok(matched) => matched,
            Err(refusal) => {
                let target = refusal.trust.map_or(Target::None, |t| Target::Trust(&t.id));
                server.audit.record_later(Kind::TrustRefused, &actor, target, &refusal.reason);
                if caller.is_none() {
                    server.throttle.record_failure(None, request.peer, now);
                }
                return Err(OAuthError::InvalidRequest(refusal.reason));
            }
        };
    let response = issue(server, trust, caller.as_deref(), scope, &resources, now).await;
    let detail = match &response {
        Ok(_) => format!(
            "{} for '{}' ({})",
            trust.service_account.username,
            claims.sub.as_deref().unwrap_or_default(),
            caller_id.map_or("no client".to_owned(), |id| format!("client {id}"))
        ),
        Err(error) => format!("refused after matching: {}", error.description()),
    };
    let kind = if response.is_ok() { Kind::TrustExchanged } else { Kind::TrustRefused };
    server.audit.record_later(kind, &actor, Target::Trust(&trust.id), &detail);
    response
}

/// The first enabled trust (oldest first) whose issuer signed the JWT for
/// its audience, whose conditions the claims meet and which admits the
/// caller; or the most telling refusal.
async fn matching_trust<'a>(
    server: &OAuthServer,
    trusts: &'a [Trust],
    token: &str,
    kid: Option<&str>,
    caller: Option<&ClientId>,
    now: UnixTime,
) -> Result<(&'a Trust, AssertionClaims), Refusal<'a>> {
    let Some(first) = trusts.first() else {
        return Err(Refusal {
            trust: None,
            reason: "the subject_token is not a JWT from a trusted issuer".into(),
        });
    };
    let enabled: Vec<&Trust> = trusts.iter().filter(|t| t.enabled).collect();
    if enabled.is_empty() {
        return Err(Refusal { trust: Some(first), reason: "the trust for this issuer is disabled".into() });
    }
    // The refusal of the trust that got furthest.
    let mut best: Option<(u8, Refusal<'a>)> = None;
    let mut note = |stage: u8, trust: &'a Trust, reason: String| {
        if best.as_ref().is_none_or(|(at, _)| stage > *at) {
            best = Some((stage, Refusal { trust: Some(trust), reason }));
        }
    };
    for trust in enabled {
        let keys = match server.remote_jwks.keys_for(&trust.jwks_uri, kid).await {
            Ok(keys) => keys,
            Err(why) => {
                note(0, trust, format!("the issuer's keys are not at hand: {why}"));
                continue;
            }
        };
        let audiences = [trust.audience.as_str()];
        let rules = AssertionRules {
            issuer: Some(trust.issuer.as_str()),
            subject: None,
            audiences: &audiences,
            now: now.seconds(),
            max_lifetime: None,
            require_jti: false,
        };
        let claims = match verify_assertion(token, &keys, &rules) {
            Ok(claims) => claims,
            Err(why) => {
                note(1, trust, why.to_string().replace("the assertion", "the subject_token"));
                continue;
            }
        };
        if !trust.conditions_met(&condition_claims(&claims)) {
            note(2, trust, "the subject_token does not meet the claim conditions of any trust".into());
            continue;
        }
        if !trust.admits(caller) {
            let reason = match caller {
                Some(id) => format!("client {id} may not present this issuer's tokens"),
                None => "this trust needs client authentication".to_owned(),
            };
            note(3, trust, reason);
            continue;
        }
        return Ok((trust, claims));
    }
    Err(best
        .map(|(_, refusal)| refusal)
        .unwrap_or(Refusal { trust: Some(first), reason: "no trust matched".into() }))
}

/// The claims conditions look at: every claim the trust does not check
/// itself, `sub` included.
fn condition_claims(claims: &AssertionClaims) -> Map<String, Value> {
    let mut all = claims.other.clone();
    if let Some(sub) = &claims.sub {
        all.insert("sub".into(), Value::String(sub.clone()));
    }
    all
}

/// The token the trust's JWT buys.
async fn issue(
    server: &OAuthServer,
    trust: &Trust,
    caller: Option<&StoredClient>,
    requested: Option<ScopeSet>,
    resources: &[String],
    now: UnixTime,
) -> Result<TokenResponse, OAuthError> {
    let account = &trust.service_account;
    if !account.enabled {
        return Err(OAuthError::InvalidRequest("the trust's service account is disabled".into()));
    }
    // A scope disabled since the trust was made is not handed out.
    let known = server.store.list_scopes().await?;
    let held = ScopeSet::from_names(
        trust
            .scopes
            .iter()
            .filter(|s| known.iter().any(|k| k.enabled && k.name.as_str() == s.as_str()))
            .cloned(),
    );
    let scope = match requested {
        None => held,
        Some(requested) => {
            if let Some(missing) = requested.missing_from(&held).next() {
                return Err(OAuthError::InvalidScope(format!(
                    "scope '{missing}' is not allowed by this trust"
                )));
            }
            requested
        }
    };
    let audiences = match caller {
        Some(client) => resolve_audience(&client.client, resources, &server.config.default_audience)?,
        None if resources.is_empty() => vec![server.config.default_audience.clone()],
        None => {
            return Err(OAuthError::InvalidTarget(
                "a resource or audience needs an authenticated client allowed it".into(),
            ))
        }
    };
    let who = TokenSubject {
        trust: Some(&trust.id),
        ..TokenSubject::machine(account.username.as_str(), Some(account.username.as_str()))
    };
    // The token names the client that asked, or (none) the trust.
    let holder = caller.map_or_else(|| ClientId::parse(trust.id.as_str()), |c| Ok(c.client.id.clone()));
    let holder = holder.map_err(|_| anyhow::anyhow!("trust id {} is not a valid client id", trust.id))?;
    let issued = server
        .mint_access_token(&holder, TokenFormat::Jwt, who, &scope, audiences, trust.max_ttl, now)
        .await?;
    if caller.is_some() {
        server.audit.count_issued(&holder);
    }
    server
        .metrics
        .tokens_issued
        .with_label_values(&[GrantType::TokenExchange.as_str(), holder.as_str(), TokenFormat::Jwt.as_str()])
        .inc();
    Ok(TokenResponse {
        issued_token_type: Some(ACCESS_TOKEN_TYPE),
        ..TokenResponse::access_only(issued, &scope, TokenFormat::Jwt)
    })
}
