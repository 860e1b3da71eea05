//! RFC 8414 metadata and OIDC discovery: the same document, listing exactly
//! what is implemented; health endpoints.

use crate::both_backends;
use crate::support::{send, spawn_app, Backend, ISSUER};

both_backends!(
    both_metadata_documents_list_exactly_what_is_implemented,
    liveness_and_readiness_answer,
    an_https_issuer_sends_strict_transport_security,
);

async fn both_metadata_documents_list_exactly_what_is_implemented(backend: Backend) {
    let app = spawn_app(backend).await;
    let oauth = app.get("/.well-known/oauth-authorization-server").await;
    let oidc = app.get("/.well-known/openid-configuration").await;
    assert_eq!(oauth.status, 200);
    assert_eq!(oauth.json(), oidc.json(), "one source of truth");
    let metadata = oauth.json();
    assert_eq!(metadata["issuer"], ISSUER);
    assert_eq!(metadata["token_endpoint"], format!("{ISSUER}/oauth2/token"));
    assert_eq!(metadata["jwks_uri"], format!("{ISSUER}/oauth2/jwks"));
    assert_eq!(metadata["introspection_endpoint"], format!("{ISSUER}/oauth2/introspect"));
    assert_eq!(metadata["revocation_endpoint"], format!("{ISSUER}/oauth2/revoke"));
    assert_eq!(
        metadata["grant_types_supported"],
        serde_json::json!([
            "authorization_code",
            "client_credentials",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "urn:ietf:params:oauth:grant-type:device_code"
        ])
    );
    assert_eq!(metadata["device_authorization_endpoint"], format!("{ISSUER}/oauth2/device_authorization"));
    assert_eq!(metadata["end_session_endpoint"], format!("{ISSUER}/oauth2/logout"));
    assert_eq!(metadata["claims_parameter_supported"], true);
    assert_eq!(metadata["pushed_authorization_request_endpoint"], format!("{ISSUER}/oauth2/par"));
    assert_eq!(metadata["require_pushed_authorization_requests"], false);
    assert_eq!(metadata["acr_values_supported"], serde_json::json!(["1"]));
    assert_eq!(metadata["authorization_endpoint"], format!("{ISSUER}/oauth2/authorize"));
    assert_eq!(metadata["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(metadata["response_modes_supported"], serde_json::json!(["query"]));
    assert_eq!(metadata["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(metadata["authorization_response_iss_parameter_supported"], true);
    assert_eq!(metadata["userinfo_endpoint"], format!("{ISSUER}/oauth2/userinfo"));
    assert_eq!(metadata["id_token_signing_alg_values_supported"], serde_json::json!(["RS256"]));
    assert_eq!(metadata["subject_types_supported"], serde_json::json!(["public"]));
    let methods = serde_json::json!(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]);
    assert_eq!(metadata["token_endpoint_auth_methods_supported"], methods);
    assert_eq!(metadata["revocation_endpoint_auth_methods_supported"], methods);
    assert_eq!(
        metadata["introspection_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post", "private_key_jwt"]),
        "introspection needs an authenticated caller"
    );
    let algorithms = serde_json::json!(["RS256", "PS256", "ES256", "EdDSA"]);
    for endpoint in ["token", "introspection", "revocation"] {
        assert_eq!(metadata[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")], algorithms);
    }
    let listed = metadata.to_string();
    assert!(
        !listed.contains("implicit") && !listed.contains("password") && !listed.contains("token id_token")
    );

    // A spoofed Host or X-Forwarded-Host does not change the issuer (SEC-E04).
    let spoofed = send(
        app.http
            .get(app.url("/.well-known/openid-configuration"))
            .header("x-forwarded-host", "evil.example")
            .header("host", "evil.example"),
    )
    .await;
    assert_eq!(spoofed.json()["issuer"], ISSUER);
}

async fn liveness_and_readiness_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/healthz").await.status, 200);
    assert_eq!(app.get("/readyz").await.json()["status"], "ready");
}

/// Behind an https issuer every answer carries HSTS (and nosniff); on a
/// plain-http issuer (a developer's machine) HSTS would be wrong and is
/// not sent.
async fn an_https_issuer_sends_strict_transport_security(backend: Backend) {
    let app = crate::support::spawn_app(backend).await; // issuer https://tessera.test
    for path in
        ["/healthz", "/.well-known/openid-configuration", "/console/login", "/oauth2/token", "/api/v1/apps"]
    {
        let response = app.get(path).await;
        assert_eq!(
            response.header("strict-transport-security"),
            Some("max-age=63072000; includeSubDomains"),
            "{path}"
        );
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"), "{path}");
    }
    let plain =
        crate::support::spawn_app_with(backend, |raw| raw.issuer = Some("http://127.0.0.1:1".into())).await;
    assert_eq!(plain.get("/healthz").await.header("strict-transport-security"), None);
}
