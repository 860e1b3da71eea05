//! The authorization request's pure parsing, as `validate_authorization`
//! does it before and around its store reads: the query through
//! `FormParams::parse_noting_repeats`, then `client_id`, `redirect_uri`
//! (registration rules and matching against the client's URIs), `scope`,
//! the PKCE challenge and verifier, `prompt` and `max_age`; and the
//! response URL, which must carry `state` and `iss` back intact.

#![no_main]

use std::sync::{Arc, OnceLock};

use aws_lc_rs::digest;
use libfuzzer_sys::fuzz_target;
use tessera::crypto::b64url;
use tessera::domain::{
    AuthMethod, Client, ClientId, ClientType, CodeChallenge, CodeVerifier, GrantType, PkcePolicy,
    RedirectUri, ScopeSet, TokenFormat, UnixTime,
};
use tessera::oauth::authorize::{parse_max_age, AuthorizationRequest, Prompt};
use tessera::oauth::params::FormParams;
use tessera::store::StoredClient;
use tessera_fuzz::{check_redirect_match, check_redirect_parse, check_scope_set};

const ISSUER: &str = "https://auth.example";

/// A registered public client with the kinds of redirect URI the README shows.
fn client() -> &'static Arc<StoredClient> {
    static CLIENT: OnceLock<Arc<StoredClient>> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let uris = [
            "https://app.example/cb",
            "https://c.example/cb?tenant=1",
            "http://127.0.0.1/callback",
            "http://[::1]:9000/cb",
            "com.example.app:/oauth2redirect",
        ];
        Arc::new(StoredClient {
            client: Client {
                id: ClientId::parse("web-app").expect("client id"),
                name: "Web app".into(),
                client_type: ClientType::Public,
                auth_method: AuthMethod::None,
                token_format: TokenFormat::Jwt,
                grants: [GrantType::AuthorizationCode, GrantType::RefreshToken].into_iter().collect(),
                scopes: ScopeSet::parse("openid profile email offline_access read write").expect("scopes"),
                redirect_uris: uris.iter().map(|u| RedirectUri::parse(u).expect("redirect URI")).collect(),
                post_logout_redirect_uris: Vec::new(),
                audiences: Vec::new(),
                service_account: None,
                access_token_ttl: None,
                refresh_token_ttl: None,
                resource_server: false,
                pkce: PkcePolicy::Required,
                require_par: false,
                keys: None,
                enabled: true,
                created_at: UnixTime::from_seconds(0),
            },
            secrets: Vec::new(),
            disabled_scopes: Vec::new(),
        })
    })
}

/// `43*128unreserved` (RFC 7636 §4.1).
fn pkce_well_formed(text: &str) -> bool {
    (43..=128).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn check_prompt(text: &str) -> Prompt {
    let values: Vec<&str> = text.split(' ').filter(|v| !v.is_empty()).collect();
    let known = values.iter().all(|v| matches!(*v, "none" | "login" | "consent" | "select_account"));
    let has = |name: &str| values.contains(&name);
    match Prompt::parse(text) {
        Ok(prompt) => {
            assert!(known, "accepted {text:?}");
            assert_eq!(
                (prompt.none, prompt.login, prompt.consent),
                (has("none"), has("login"), has("consent"))
            );
            assert!(!(prompt.none && (prompt.login || prompt.consent)), "{text:?}");
            prompt
        }
        Err(why) => {
            assert!(!known || (has("none") && (has("login") || has("consent"))), "refused {text:?}: {why}");
            Prompt::default()
        }
    }
}

/// The URL back to the client: the redirect URI, then exactly these
/// parameters, `state` and `iss`, decodable as they were given.
fn check_response_url(request: &AuthorizationRequest, params: &[(&str, &str)]) {
    let url = request.response_url(ISSUER, params);
    let rest = url.strip_prefix(request.redirect_uri.as_str()).expect("starts with the redirect URI");
    let separator = if request.redirect_uri.contains('?') { '&' } else { '?' };
    let query = rest.strip_prefix(separator).expect("then the separator");
    assert!(!query.contains('#'), "{url}");
    let got: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let mut expected: Vec<(String, String)> =
        params.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    if let Some(state) = &request.state {
        expected.push(("state".into(), state.clone()));
    }
    expected.push(("iss".into(), ISSUER.into()));
    assert_eq!(got, expected, "{url}");
    let parsed = url::Url::parse(&url).expect("the response URL parses");
    assert!(parsed.fragment().is_none(), "{url}");
    let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    assert!(pairs.ends_with(&expected), "{url}");
}

fuzz_target!(|query: &[u8]| {
    let Ok((params, repeated)) = FormParams::parse_noting_repeats(query) else { return };
    for name in &repeated {
        assert!(params.get(name).is_some(), "{name} repeated but absent");
    }
    let client = client();

    if let Some(id) = params.get("client_id") {
        let valid = (1..=128).contains(&id.len()) && id.bytes().all(|b| (0x21..=0x7E).contains(&b));
        match ClientId::parse(id) {
            Ok(parsed) => assert!(valid && parsed.as_str() == id && parsed.to_string() == id, "{id:?}"),
            Err(_) => assert!(!valid, "refused {id:?}"),
        }
    }

    let mut redirect_uri = None;
    if let Some(asked) = params.get("redirect_uri") {
        check_redirect_parse(asked, &RedirectUri::parse(asked));
        for registered in &client.client.redirect_uris {
            check_redirect_match(registered, asked);
            if registered.matches(asked) && redirect_uri.is_none() {
                redirect_uri = Some(asked.to_owned());
            }
        }
    }

    let mut scope = ScopeSet::default();
    if let Some(text) = params.get("scope") {
        let parsed = ScopeSet::parse(text);
        check_scope_set(text, &parsed);
        if let Ok(parsed) = parsed {
            let allowed = &client.client.scopes;
            assert_eq!(parsed.is_subset_of(allowed), parsed.iter().all(|n| allowed.contains(n.as_str())));
            scope = parsed;
        }
    }

    let method = params.get("code_challenge_method");
    let challenge = params.get("code_challenge").and_then(|text| match CodeChallenge::parse(text, method) {
        Ok(challenge) => {
            assert!(method == Some("S256") && pkce_well_formed(text), "accepted {text:?} {method:?}");
            assert_eq!(challenge.as_str(), text);
            Some(challenge)
        }
        Err(_) => {
            assert!(method != Some("S256") || !pkce_well_formed(text), "refused {text:?}");
            None
        }
    });
    if let Some(text) = params.get("code_verifier").or(params.get("code_challenge")) {
        match CodeVerifier::parse(text) {
            Ok(verifier) => {
                assert!(pkce_well_formed(text), "accepted verifier {text:?}");
                assert_eq!(format!("{verifier:?}"), "CodeVerifier([redacted])");
                let expected = b64url(digest::digest(&digest::SHA256, text.as_bytes()).as_ref());
                let own =
                    CodeChallenge::parse(&expected, Some("S256")).expect("S256 of a verifier is a challenge");
                assert!(own.is_satisfied_by(&verifier));
                if let Some(challenge) = &challenge {
                    assert_eq!(challenge.is_satisfied_by(&verifier), challenge.as_str() == expected);
                }
            }
            Err(_) => assert!(!pkce_well_formed(text), "refused verifier {text:?}"),
        }
    }

    let prompt = params.get("prompt").map(check_prompt).unwrap_or_default();
    // A whole number of seconds, never negative (a sign is tolerated, as `i64` parsing does).
    let max_age = params.get("max_age").and_then(|text| {
        let parsed = parse_max_age(text);
        let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
        let plain = !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit());
        let significant = unsigned.trim_start_matches('0');
        match parsed {
            Some(seconds) => {
                assert!(plain && seconds >= 0, "accepted max_age {text:?}");
                assert_eq!(seconds.to_string(), if significant.is_empty() { "0" } else { significant });
            }
            None => assert!(
                !plain || (text.starts_with('-') && !significant.is_empty()) || significant.len() >= 19,
                "refused max_age {text:?}"
            ),
        }
        parsed
    });

    let request = AuthorizationRequest {
        client: client.clone(),
        redirect_uri: redirect_uri.unwrap_or_else(|| client.client.redirect_uris[0].as_str().to_owned()),
        redirect_uri_given: params.get("redirect_uri").is_some(),
        state: params.get("state").map(str::to_owned),
        scope,
        challenge,
        nonce: params.get("nonce").map(str::to_owned),
        prompt,
        max_age,
        expected_user: None,
        login_hint: None,
        claims: Default::default(),
        pushed: None,
    };
    check_response_url(&request, &[("code", params.get("code").unwrap_or("c0de"))]);
    check_response_url(
        &request,
        &[("error", "invalid_request"), ("error_description", "scope is malformed")],
    );
    for registered in &client.client.redirect_uris {
        let other = AuthorizationRequest { redirect_uri: registered.as_str().to_owned(), ..request.clone() };
        check_response_url(&other, &[("code", params.get("code").unwrap_or("c0de"))]);
    }
});
