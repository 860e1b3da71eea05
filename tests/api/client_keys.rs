//! Registering a client's public keys — in the admin API, on the command
//! line (`--jwks FILE`, `--jwks-uri`) and in the console — with the rules
//! that keep private keys, unusable keys and plain-http URLs out.

use serde_json::{json, Value};

use crate::admin_api::{admin_client, call};
use crate::both_backends;
use crate::console::admin_console;
use crate::private_key_jwt::{claims, post_with_assertion};
use crate::support::cli::tessera;
use crate::support::outside_keys::KeyHolder;
use crate::support::{spawn_app, Backend, TestData};

both_backends!(
    the_api_registers_keys_inline_or_by_url_and_refuses_bad_ones,
    the_command_line_reads_the_key_set_from_a_file,
    the_console_registers_an_app_with_a_key_set,
);

fn key_app(jwks: Value) -> Value {
    json!({
        "name": "Keyed", "client_type": "confidential", "grants": ["client_credentials"],
        "auth_method": "private_key_jwt", "jwks": jwks,
    })
}

async fn the_api_registers_keys_inline_or_by_url_and_refuses_bad_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.access_token(&admin_client(&app).await).await;
    let holder = KeyHolder::new(&[("k1", "ES256"), ("k2", "RS256")]);
    let jwks: Value = serde_json::from_str(&holder.jwks()).unwrap();

    // As a JSON object: no secret, the public keys shown back.
    let created = call(&app, &token, "post", "/api/v1/apps", Some(key_app(jwks.clone()))).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json()["client_secret"], Value::Null, "{}", created.body);
    let body = created.json()["app"].clone();
    assert_eq!(body["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(body["jwks"], jwks);
    let id = body["client_id"].as_str().unwrap().to_owned();
    let shown = call(&app, &token, "get", &format!("/api/v1/apps/{id}"), None).await.json();
    assert_eq!(shown["jwks"], jwks);
    let response = post_with_assertion(
        &app,
        "/oauth2/token",
        &holder.sign("k2", &claims(&app, &id)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    let rotate = call(&app, &token, "post", &format!("/api/v1/apps/{id}/rotate-secret"), None).await;
    assert_eq!(rotate.status, 400, "{}", rotate.body);
    assert!(rotate.json()["message"].as_str().unwrap().contains("private_key_jwt"), "{}", rotate.body);

    // As text, and by URL.
    let as_text = call(&app, &token, "post", "/api/v1/apps", Some(key_app(json!(holder.jwks())))).await;
    assert_eq!(as_text.status, 201, "{}", as_text.body);
    let by_url = json!({
        "name": "Published", "client_type": "confidential", "grants": ["client_credentials"],
        "auth_method": "private_key_jwt", "jwks_uri": "https://keys.example/jwks.json",
    });
    let by_url = call(&app, &token, "post", "/api/v1/apps", Some(by_url)).await;
    assert_eq!(by_url.status, 201, "{}", by_url.body);
    assert_eq!(by_url.json()["app"]["jwks_uri"], "https://keys.example/jwks.json");
    assert!(by_url.json()["app"].get("jwks").is_none());

    let before = app.core.admin.list_clients().await.unwrap().len();
    let mut private = holder.public_jwk("k1");
    private["d"] = json!("c2VjcmV0");
    let base = |changes: Value| {
        let mut body = key_app(jwks.clone());
        for (name, value) in changes.as_object().unwrap() {
            body[name] = value.clone();
        }
        body
    };
    let cases = [
        (base(json!({"jwks": null})), "jwks", "need the client's public keys"),
        (base(json!({"jwks": {"keys": [private]}})), "jwks", "private member"),
        (base(json!({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}})), "jwks", "private member"),
        (base(json!({"jwks": "{not json"})), "jwks", "not JSON"),
        (base(json!({"jwks_uri": "https://keys.example/jwks"})), "jwks", "not both"),
        (base(json!({"jwks": null, "jwks_uri": "http://keys.example/jwks"})), "jwks_uri", "https"),
        (base(json!({"auth_method": "client_secret_basic"})), "jwks", "used only by"),
    ];
    for (body, field, says) in cases {
        let response = call(&app, &token, "post", "/api/v1/apps", Some(body.clone())).await;
        assert_eq!(response.status, 400, "{body}: {}", response.body);
        let error = response.json();
        assert_eq!(
            (error["error"].as_str(), error["field"].as_str()),
            (Some("invalid_input"), Some(field)),
            "{body}"
        );
        assert!(error["message"].as_str().unwrap().contains(says), "{says}: {error}");
    }
    let number = call(&app, &token, "post", "/api/v1/apps", Some(base(json!({"jwks": 42})))).await;
    assert_eq!((number.status, number.json()["error"].clone()), (400, json!("invalid_json")));
    assert_eq!(app.core.admin.list_clients().await.unwrap().len(), before, "nothing stored");
}

async fn the_command_line_reads_the_key_set_from_a_file(backend: Backend) {
    let data = TestData::new(backend).await;
    let holder = KeyHolder::new(&[("ci", "EdDSA")]);
    let folder = tempfile_dir();
    let file = folder.join("ci.jwks.json");
    std::fs::write(&file, holder.jwks()).unwrap();
    let path = file.to_str().unwrap();
    let base = [
        "client",
        "create",
        "--name",
        "ci",
        "--grant",
        "client_credentials",
        "--auth-method",
        "private_key_jwt",
    ];

    let text = tessera(&data, &[&base[..], &["--jwks", path]].concat()).await;
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(!text.stdout.contains("client_secret") && text.stdout.contains("no secret"), "{}", text.stdout);
    let created = tessera(&data, &[&base[..], &["--jwks", path, "--json"]].concat()).await.json();
    assert!(created.get("client_secret").is_none(), "{created}");
    assert_eq!(created["jwks"], serde_json::from_str::<Value>(&holder.jwks()).unwrap());
    let by_url =
        tessera(&data, &[&base[..], &["--jwks-uri", "http://127.0.0.1:9/jwks", "--json"]].concat()).await;
    assert_eq!(by_url.code, 0, "{}", by_url.stderr);
    assert_eq!(by_url.json()["jwks_uri"], "http://127.0.0.1:9/jwks");

    // Bad input: one line on stderr, a failure, nothing stored.
    let listed = |out: &crate::support::cli::Output| out.json().as_array().unwrap().len();
    let before = listed(&tessera(&data, &["client", "list", "--json"]).await);
    let private = folder.join("private.json");
    let mut jwk = holder.public_jwk("ci");
    jwk["d"] = json!("c2VjcmV0");
    std::fs::write(&private, json!({ "keys": [jwk] }).to_string()).unwrap();
    let big = folder.join("big.json");
    std::fs::write(&big, vec![b' '; 70 * 1024]).unwrap();
    let missing = folder.join("missing.json");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--jwks", missing.to_str().unwrap()], "cannot read --jwks"),
        (vec!["--jwks", private.to_str().unwrap()], "private member"),
        (vec!["--jwks", big.to_str().unwrap()], "larger than 64 KiB"),
        (vec!["--jwks-uri", "http://keys.example/jwks"], "https"),
        (vec![], "public keys"),
    ];
    for (extra, says) in cases {
        let out = tessera(&data, &[&base[..], &extra].concat()).await;
        assert_ne!(out.code, 0, "{extra:?}");
        assert_eq!(out.stderr.trim().lines().count(), 1, "{extra:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{says}: {}", out.stderr);
    }
    assert_eq!(listed(&tessera(&data, &["client", "list", "--json"]).await), before);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-keys-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn the_console_registers_an_app_with_a_key_set(backend: Backend) {
    let (app, mut console) = admin_console(backend).await;
    let holder = KeyHolder::new(&[("k1", "ES256")]);
    let jwks = holder.jwks();
    console.get("/console/apps/new").await;
    let fields = |jwks: &str| {
        vec![
            ("name", "Keyed app".to_owned()),
            ("client_type", "confidential".into()),
            ("grants", "client_credentials".into()),
            ("auth_method", "private_key_jwt".into()),
            ("jwks", jwks.to_owned()),
            ("token_format", "jwt".into()),
            ("pkce", "required".into()),
        ]
    };
    let bad = fields("{\"keys\": []}");
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = console.post("/console/apps", &bad).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("holds no key"), "the field error is shown");
    assert!(
        refused.body.contains("{&#34;keys&#34;: []}") || refused.body.contains("{&quot;keys&quot;: []}"),
        "the input is kept"
    );

    let good = fields(&jwks);
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = console.post("/console/apps", &good).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains("tsr_cs_"), "no secret is shown");
    assert!(page.body.contains("k1 — EC P-256, ES256"), "the key is listed");
    assert!(!page.body.contains("rotate-secret"), "nothing to rotate");
    let start = page.body.find("id=\"client-id\">").unwrap() + "id=\"client-id\">".len();
    let id = &page.body[start..start + page.body[start..].find('<').unwrap()];
    let response = post_with_assertion(
        &app,
        "/oauth2/token",
        &holder.sign("k1", &claims(&app, id)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    // The edit form shows the set for changing.
    let edit = console.get(&format!("/console/apps/{id}/edit")).await;
    assert!(
        edit.body.contains("&#34;kid&#34;:&#34;k1&#34;")
            || edit.body.contains("&quot;kid&quot;:&quot;k1&quot;"),
        "{}",
        edit.body
    );
}
