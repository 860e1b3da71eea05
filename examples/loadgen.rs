//! Load generator for the stateful flows `oha` cannot drive (bench/bench.py
//! runs it): every refresh consumes its token and returns the next one, and
//! every code works once.
//!
//!   loadgen refresh URL CLIENT_ID CLIENT_SECRET TOKENS_FILE SECONDS
//!       one connection per line of TOKENS_FILE, each following its own chain
//!   loadgen code URL CLIENT_ID CLIENT_SECRET COOKIE AUTHORIZE_URL CONNECTIONS SECONDS
//!       each round: GET the authorize URL (signed in, consent remembered)
//!       for a code, then exchange it; the exchange is what is timed
//!   loadgen keygen ALG JWKS_FILE KEY_FILE
//!       a client key pair (RS256, ES256 or EdDSA): the public set to
//!       register, the private key (PKCS#8) to sign with
//!   loadgen assertion URL CLIENT_ID ALG KEY_FILE CONNECTIONS SECONDS COUNT
//!       client-credentials requests authenticated with private_key_jwt;
//!       COUNT assertions (fresh jti each) are signed before the clock starts,
//!       so the client's signing does not compete with the server's
//!   loadgen basic URL CLIENT_ID SECRET CONNECTIONS SECONDS
//!       the same requests with client_secret_basic, for comparison
//!
//! Prints one JSON line: requests, errors, rps, p50_ms, p99_ms.
//!
//! `LOADGEN_INTERVAL_MS` paces each refresh chain to one request per
//! interval (the soak holds a steady rate instead of the most it can get).

// A benchmark tool run by hand: a bad argument or file stops it with its reason.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tessera::crypto::b64url;
use tessera::crypto::signing::{SigningAlgorithm, SigningKey};

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

fn report(mut latencies: Vec<u64>, errors: u64, elapsed: Duration) {
    latencies.sort_unstable();
    let requests = latencies.len() as u64;
    println!(
        "{}",
        serde_json::json!({
            "requests": requests,
            "errors": errors,
            "rps": requests as f64 / elapsed.as_secs_f64(),
            "p50_ms": percentile(&latencies, 0.50),
            "p99_ms": percentile(&latencies, 0.99),
        })
    );
}

async fn refresh_chain(
    http: reqwest::Client,
    url: String,
    id: String,
    secret: String,
    mut token: String,
    until: Instant,
) -> (Vec<u64>, u64) {
    let mut latencies = Vec::new();
    let mut errors = 0;
    let interval =
        std::env::var("LOADGEN_INTERVAL_MS").ok().and_then(|v| v.parse().ok()).map(Duration::from_millis);
    let mut next = Instant::now();
    while Instant::now() < until {
        if let Some(interval) = interval {
            tokio::time::sleep_until(next.into()).await;
            next += interval;
        }
        let started = Instant::now();
        let response = http
            .post(format!("{url}/oauth2/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", token.as_str())])
            .send()
            .await;
        let body: Option<serde_json::Value> = match response {
            Ok(r) if r.status().is_success() => r.json().await.ok(),
            _ => None,
        };
        match body.and_then(|b| b["refresh_token"].as_str().map(str::to_owned)) {
            Some(next) => {
                latencies.push(started.elapsed().as_micros() as u64);
                token = next;
            }
            None => {
                errors += 1;
                break; // the chain is broken; nothing more to refresh
            }
        }
    }
    (latencies, errors)
}

async fn code_rounds(
    http: reqwest::Client,
    url: String,
    id: String,
    secret: String,
    cookie: String,
    authorize: String,
    until: Instant,
) -> (Vec<u64>, u64) {
    let mut latencies = Vec::new();
    let mut errors = 0;
    while Instant::now() < until {
        let code = http
            .get(&authorize)
            .header("cookie", &cookie)
            .send()
            .await
            .ok()
            .and_then(|r| r.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_owned))
            .and_then(|location| {
                url::Url::parse(&location)
                    .ok()?
                    .query_pairs()
                    .find(|(k, _)| k == "code")
                    .map(|(_, v)| v.into_owned())
            });
        let Some(code) = code else {
            errors += 1;
            continue;
        };
        let started = Instant::now();
        let response = http
            .post(format!("{url}/oauth2/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("code_verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            ])
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => latencies.push(started.elapsed().as_micros() as u64),
            _ => errors += 1,
        }
    }
    (latencies, errors)
}

/// How a token request authenticates.
#[derive(Clone)]
enum Credentials {
    Basic {
        id: String,
        secret: String,
    },
    /// Pre-signed assertions, each used once.
    Assertions(Arc<Mutex<Vec<String>>>),
}

async fn token_requests(
    http: reqwest::Client,
    url: String,
    credentials: Credentials,
    until: Instant,
) -> (Vec<u64>, u64) {
    let mut latencies = Vec::new();
    let mut errors = 0;
    while Instant::now() < until {
        let request = http.post(format!("{url}/oauth2/token"));
        let request = match &credentials {
            Credentials::Basic { id, secret } => {
                request.basic_auth(id, Some(secret)).form(&[("grant_type", "client_credentials")])
            }
            Credentials::Assertions(pool) => {
                let Some(assertion) = pool.lock().unwrap().pop() else { break };
                request.form(&[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                    ("client_assertion", assertion.as_str()),
                ])
            }
        };
        let started = Instant::now();
        match request.send().await {
            Ok(r) if r.status().is_success() => {
                let _ = r.bytes().await;
                latencies.push(started.elapsed().as_micros() as u64)
            }
            _ => errors += 1,
        }
    }
    (latencies, errors)
}

fn algorithm(name: &str) -> SigningAlgorithm {
    name.parse().expect("ALG is RS256, ES256 or EdDSA")
}

/// `count` assertions for `client_id`, signed on every core.
fn sign_assertions(url: &str, client_id: &str, key: Arc<SigningKey>, count: usize) -> Vec<String> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let header = b64url(
        serde_json::json!({"alg": key.alg().as_str(), "kid": key.kid(), "typ": "JWT"}).to_string().as_bytes(),
    );
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (key, header, url, client_id) =
                (Arc::clone(&key), header.clone(), url.to_owned(), client_id.to_owned());
            std::thread::spawn(move || {
                (t..count)
                    .step_by(threads)
                    .map(|n| {
                        let claims = serde_json::json!({
                            "iss": client_id, "sub": client_id, "aud": format!("{url}/oauth2/token"),
                            "iat": now, "exp": now + 280, "jti": format!("bench-{now}-{n}"),
                        });
                        let input = format!("{header}.{}", b64url(claims.to_string().as_bytes()));
                        let signature = key.sign(input.as_bytes()).unwrap();
                        format!("{input}.{}", b64url(&signature))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: loadgen refresh URL ID SECRET TOKENS_FILE SECONDS | loadgen code URL ID SECRET COOKIE AUTHORIZE_URL CONNECTIONS SECONDS | loadgen keygen ALG JWKS_FILE KEY_FILE | loadgen assertion URL ID ALG KEY_FILE CONNECTIONS SECONDS COUNT | loadgen basic URL ID SECRET CONNECTIONS SECONDS";
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    if args.get(1).map(String::as_str) == Some("keygen") && args.len() == 5 {
        let generated = SigningKey::generate("bench-key".into(), algorithm(&args[2])).expect("key");
        let jwks = serde_json::json!({ "keys": [generated.key.public_jwk()] });
        std::fs::write(&args[3], jwks.to_string()).expect("JWKS_FILE");
        std::fs::write(&args[4], &generated.pkcs8).expect("KEY_FILE");
        return;
    }
    let mut started = Instant::now();
    let mut tasks = Vec::new();
    match args.get(1).map(String::as_str) {
        Some("assertion") if args.len() == 9 => {
            let key = SigningKey::from_pkcs8(
                "bench-key".into(),
                algorithm(&args[4]),
                &std::fs::read(&args[5]).expect("KEY_FILE"),
            )
            .expect("a PKCS#8 key");
            let connections: usize = args[6].parse().expect(usage);
            let seconds: u64 = args[7].parse().expect(usage);
            let count: usize = args[8].parse().expect(usage);
            let pool = Arc::new(Mutex::new(sign_assertions(&args[2], &args[3], Arc::new(key), count)));
            started = Instant::now();
            let until = started + Duration::from_secs(seconds);
            for _ in 0..connections {
                let credentials = Credentials::Assertions(Arc::clone(&pool));
                tasks.push(tokio::spawn(token_requests(http.clone(), args[2].clone(), credentials, until)));
            }
        }
        Some("basic") if args.len() == 7 => {
            let connections: usize = args[5].parse().expect(usage);
            let seconds: u64 = args[6].parse().expect(usage);
            let until = started + Duration::from_secs(seconds);
            for _ in 0..connections {
                let credentials = Credentials::Basic { id: args[3].clone(), secret: args[4].clone() };
                tasks.push(tokio::spawn(token_requests(http.clone(), args[2].clone(), credentials, until)));
            }
        }
        Some("refresh") if args.len() == 7 => {
            let seconds: u64 = args[6].parse().expect(usage);
            let until = started + Duration::from_secs(seconds);
            let tokens = std::fs::read_to_string(&args[5]).expect("the tokens file");
            for token in tokens.lines().filter(|l| !l.is_empty()) {
                tasks.push(tokio::spawn(refresh_chain(
                    http.clone(),
                    args[2].clone(),
                    args[3].clone(),
                    args[4].clone(),
                    token.to_owned(),
                    until,
                )));
            }
        }
        Some("code") if args.len() == 9 => {
            let connections: usize = args[7].parse().expect(usage);
            let seconds: u64 = args[8].parse().expect(usage);
            let until = started + Duration::from_secs(seconds);
            for _ in 0..connections {
                tasks.push(tokio::spawn(code_rounds(
                    http.clone(),
                    args[2].clone(),
                    args[3].clone(),
                    args[4].clone(),
                    args[5].clone(),
                    args[6].clone(),
                    until,
                )));
            }
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (mut l, e) = task.await.expect("task");
        latencies.append(&mut l);
        errors += e;
    }
    report(latencies, errors, started.elapsed());
}
