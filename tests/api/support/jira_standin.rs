//! A stand-in for Jira with its REST-authentication app (docs/jira.md): answers
//! `GET /rest/api/2/myself` as that app does, validating the bearer token
//! in one of four modes. It remembers the tokens it was sent, so a test
//! can check what became of a token it never saw itself.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Mutex;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{json, Value};

/// How the stand-in validates tokens, as the Jira app's settings would say.
#[derive(Clone)]
pub enum JiraMode {
    /// JWT with a pasted PEM public key and the username claim's name.
    Pem { pem: String, username_claim: String },
    /// JWT with keys fetched from a JWKS URL.
    Jwks { jwks_url: String, username_claim: String },
    /// OAuth user tokens: the username read from Tessera's userinfo, called
    /// with the token itself.
    Userinfo { url: String, username_claim: String },
    /// Every token checked at the introspection endpoint with Jira's own client.
    Introspection { url: String, client_id: String, client_secret: String },
}

struct StandIn {
    mode: JiraMode,
    users: HashMap<String, Value>,
    http: reqwest::Client,
    seen: Mutex<Vec<String>>,
}

pub struct JiraStandIn {
    pub base_url: String,
    server: actix_web::dev::ServerHandle,
    state: web::Data<StandIn>,
}

impl Drop for JiraStandIn {
    fn drop(&mut self) {
        let handle = self.server.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

/// A port for a stand-in started later, so Tessera can be told Jira's URL
/// (`TESSERA_JIRA_URL`) before the stand-in is told Tessera's.
pub struct JiraAddress {
    pub listener: TcpListener,
    pub base_url: String,
}

impl JiraAddress {
    pub fn reserve() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        Self { listener, base_url }
    }
}

impl JiraStandIn {
    pub async fn start(mode: JiraMode, usernames: &[&str]) -> Self {
        Self::start_at(JiraAddress::reserve(), mode, usernames).await
    }

    /// Jira introspecting `app`'s tokens as `client` (a resource server).
    pub async fn introspecting(app: &super::TestApp, client: &super::TestClient, usernames: &[&str]) -> Self {
        let mode = JiraMode::Introspection {
            url: app.url("/oauth2/introspect"),
            client_id: client.id.clone(),
            client_secret: client.secret.clone(),
        };
        Self::start(mode, usernames).await
    }

    /// Jira checking `app`'s JWTs offline with the PEM of its signing key.
    pub async fn with_pem(app: &super::TestApp, usernames: &[&str]) -> Self {
        use tessera::clock::Clock as _;
        let kid = app.core.keys.current().signer(app.clock.now()).unwrap().kid().to_owned();
        let pem = app.get(&format!("/oauth2/keys/{kid}.pem")).await.body;
        Self::start(JiraMode::Pem { pem, username_claim: "username".into() }, usernames).await
    }

    pub async fn start_at(address: JiraAddress, mode: JiraMode, usernames: &[&str]) -> Self {
        let JiraAddress { listener, base_url } = address;
        let users = usernames
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let user = json!({
                    "self": format!("{base_url}/rest/api/2/user?username={name}"),
                    "key": format!("JIRAUSER{}", 10_000 + i),
                    "name": name,
                    "emailAddress": format!("{name}@example.com"),
                    "displayName": name,
                    "active": true,
                    "deleted": false,
                    "timeZone": "UTC",
                });
                (name.to_string(), user)
            })
            .collect();
        let state = web::Data::new(StandIn {
            mode,
            users,
            http: reqwest::Client::new(),
            seen: Mutex::new(Vec::new()),
        });
        let shared = state.clone();
        let server = HttpServer::new(move || {
            App::new().app_data(shared.clone()).route("/rest/api/2/myself", web::get().to(myself))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { base_url, server: handle, state }
    }

    /// Every bearer token sent to `/rest/api/2/myself`, oldest first.
    pub fn tokens_seen(&self) -> Vec<String> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn myself_url(&self) -> String {
        format!("{}/rest/api/2/myself", self.base_url)
    }
}

fn jira_error(status: u16, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .json(json!({"error": {"status": "ERROR", "message": message}}))
}

const INVALID: &str = "Token Invalid: Error while validating the token.";
const NO_USER: &str = "No user found with this username/email address";

fn invalid() -> HttpResponse {
    jira_error(400, INVALID)
}

async fn myself(request: HttpRequest, state: web::Data<StandIn>) -> HttpResponse {
    let Some(token) = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return jira_error(401, "Authorization header with a Bearer token is required");
    };
    state.seen.lock().unwrap().push(token.to_owned());
    let username = match &state.mode {
        JiraMode::Pem { pem, username_claim } => {
            let Ok(key) = DecodingKey::from_rsa_pem(pem.as_bytes()) else {
                return invalid();
            };
            match validate_jwt(token, &key, username_claim) {
                Ok(name) => name,
                Err((status, message)) => return jira_error(status, message),
            }
        }
        JiraMode::Jwks { jwks_url, username_claim } => {
            let Ok(header) = jsonwebtoken::decode_header(token) else {
                return invalid();
            };
            let Ok(response) = state.http.get(jwks_url).send().await else {
                return invalid();
            };
            let Ok(jwks) = response.json::<JwkSet>().await else {
                return invalid();
            };
            let Some(jwk) = header.kid.as_deref().and_then(|kid| jwks.find(kid)) else {
                return invalid();
            };
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                return invalid();
            };
            match validate_jwt(token, &key, username_claim) {
                Ok(name) => name,
                Err((status, message)) => return jira_error(status, message),
            }
        }
        JiraMode::Userinfo { url, username_claim } => {
            let Ok(response) = state.http.get(url).bearer_auth(token).send().await else {
                return invalid();
            };
            if response.status() != 200 {
                return invalid();
            }
            let Ok(claims) = response.json::<Value>().await else {
                return invalid();
            };
            match claims[username_claim.as_str()].as_str() {
                Some(name) => name.to_owned(),
                None => return jira_error(400, NO_USER),
            }
        }
        JiraMode::Introspection { url, client_id, client_secret } => {
            let response = state
                .http
                .post(url)
                .basic_auth(client_id, Some(client_secret))
                .form(&[("token", token)])
                .send()
                .await;
            let Ok(response) = response else { return invalid() };
            if response.status() == 401 {
                // A bad client id / secret: Jira shows Tessera's answer.
                let body = response.text().await.unwrap_or_default();
                return HttpResponse::Unauthorized().content_type("application/json").body(body);
            }
            let Ok(body) = response.json::<Value>().await else {
                return invalid();
            };
            if body["active"] != true {
                return invalid();
            }
            match body["username"].as_str() {
                Some(name) => name.to_owned(),
                None => return jira_error(400, NO_USER),
            }
        }
    };
    match state.users.get(&username) {
        Some(user) => HttpResponse::Ok().json(user),
        None => jira_error(400, NO_USER),
    }
}

/// The username in a valid token, or the status and message Jira answers.
fn validate_jwt(token: &str, key: &DecodingKey, username_claim: &str) -> Result<String, (u16, &'static str)> {
    let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_aud = false;
    validation.leeway = 0;
    match jsonwebtoken::decode::<Value>(token, key, &validation) {
        Ok(data) => data.claims[username_claim].as_str().map(str::to_owned).ok_or((400, NO_USER)),
        Err(error) if matches!(error.kind(), ErrorKind::ExpiredSignature) => {
            Err((401, "Token Expired: The token provided is expired."))
        }
        Err(_) => Err((400, INVALID)),
    }
}
