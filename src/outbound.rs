//! Tessera's outgoing HTTP requests (Jira's test call, a client's or a
//! trusted issuer's JWKS): GET over http or https (rustls with aws-lc-rs
//! and the system's CA certificates, so a server behind an internal CA
//! works once that CA is installed), bounded in time and size, redirects
//! reported and never followed.

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::{HeaderName, CONTENT_TYPE, LOCATION, USER_AGENT};
use hyper::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// How long the other side has, and how much of its answer is kept.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// For the whole exchange, body included.
    pub timeout: Duration,
    /// The most of the body kept; the rest is cut off.
    pub max_body: usize,
}

/// What the other side answered.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: u16,
    pub content_type: Option<String>,
    /// Where a redirect pointed.
    pub location: Option<String>,
    /// At most `Limits::max_body` bytes of the body.
    pub body: Vec<u8>,
    pub truncated: bool,
    pub elapsed: Duration,
}

/// Why there is no answer: a sentence for people, naming the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(pub String);

/// `GET url` with `headers`; `who` names the other side in errors
/// ("Jira", "the JWKS URL").
pub async fn get(
    url: &str,
    headers: &[(HeaderName, String)],
    limits: Limits,
    who: &str,
) -> Result<Fetched, Unreachable> {
    let uri: Uri = url.parse().map_err(|_| Unreachable(format!("{url} is not a valid URL")))?;
    let mut request = Request::get(uri)
        .header(USER_AGENT, concat!("Tessera/", env!("CARGO_PKG_VERSION")))
        .body(Empty::<Bytes>::new())
        .map_err(|_| Unreachable(format!("the request to {who} could not be built")))?;
    for (name, value) in headers {
        let value = value.parse().map_err(|_| Unreachable(format!("a header for {who} is not valid")))?;
        request.headers_mut().insert(name.clone(), value);
    }
    let https = request.uri().scheme_str() == Some("https");
    // Reading the CA certificates is file I/O: off the async workers.
    let client = tokio::task::spawn_blocking(move || client(https))
        .await
        .map_err(|_| Unreachable("the HTTP client could not be built".into()))??;
    let started = Instant::now();
    let answer = async {
        let response = client.request(request).await.map_err(|error| Unreachable(chain(&error)))?;
        let (parts, mut body) = response.into_parts();
        let mut bytes = Vec::new();
        let mut truncated = false;
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|error| Unreachable(format!("{who}'s answer broke off: {}", chain(&error))))?;
            let Ok(data) = frame.into_data() else { continue };
            let room = limits.max_body - bytes.len();
            if data.len() > room {
                bytes.extend_from_slice(&data[..room]);
                truncated = true;
                break;
            }
            bytes.extend_from_slice(&data);
        }
        let header =
            |name| parts.headers.get(name).and_then(|v: &hyper::header::HeaderValue| v.to_str().ok());
        Ok(Fetched {
            status: parts.status.as_u16(),
            content_type: header(CONTENT_TYPE).map(str::to_owned),
            location: header(LOCATION).map(str::to_owned),
            body: bytes,
            truncated,
            elapsed: started.elapsed(),
        })
    };
    match tokio::time::timeout(limits.timeout, answer).await {
        Ok(answer) => answer,
        Err(_) => Err(Unreachable(format!("{who} did not answer within {}", spoken(limits.timeout)))),
    }
}

/// "10 seconds", "300 ms".
fn spoken(duration: Duration) -> String {
    match duration.as_secs() {
        0 => format!("{} ms", duration.as_millis()),
        1 => "1 second".to_owned(),
        seconds => format!("{seconds} seconds"),
    }
}

type HttpsClient =
    Client<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, Empty<Bytes>>;

/// A client for one request. Built per request (rare: a person's test, a
/// key-set fetch at most once a minute), so a CA certificate installed
/// since start is seen.
fn client(https: bool) -> Result<HttpsClient, Unreachable> {
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = if https {
        builder.with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider()).map_err(
            |error| Unreachable(format!("Tessera could not load this machine's CA certificates: {error}")),
        )?
    } else {
        // Plain http needs no roots; the connector still wants a TLS config.
        builder.with_tls_config(
            rustls::ClientConfig::builder_with_provider(rustls::crypto::aws_lc_rs::default_provider().into())
                .with_safe_default_protocol_versions()
                .map_err(|error| Unreachable(format!("TLS set-up failed: {error}")))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        )
    };
    let connector = builder.https_or_http().enable_http1().build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// An error and its causes, one sentence: "client error (Connect): tcp
/// connect error: Connection refused (os error 111)".
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    const LIMITS: Limits = Limits { timeout: Duration::from_secs(2), max_body: 16 };

    /// Serves `answer` to the first connection on a loopback port.
    async fn serve_once(answer: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        tokio::spawn(async move {
            if let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        format!("http://127.0.0.1:{port}/keys")
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_with_the_cause() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        drop(listener);
        let error = get(&format!("http://127.0.0.1:{port}"), &[], LIMITS, "Jira").await.expect_err("refused");
        assert!(error.0.to_lowercase().contains("refused"), "{}", error.0);
    }

    #[tokio::test]
    async fn https_loads_the_system_roots() {
        // Nothing listens on port 9 of loopback: the client builds (roots
        // loaded) and then fails to connect, rather than failing to build.
        let error = get("https://127.0.0.1:9", &[], LIMITS, "Jira").await.expect_err("nothing listens");
        assert!(!error.0.contains("CA certificates"), "{}", error.0);
    }

    #[tokio::test]
    async fn the_body_is_cut_at_the_limit_and_redirects_are_reported_not_followed() {
        let url = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n01234567890123456789").await;
        let fetched = get(&url, &[], LIMITS, "the JWKS URL").await.expect("answer");
        assert_eq!((fetched.body.len(), fetched.truncated), (16, true));
        let url = serve_once(
            "HTTP/1.1 302 Found\r\nlocation: http://elsewhere.example/\r\ncontent-length: 0\r\n\r\n",
        )
        .await;
        let fetched = get(&url, &[], LIMITS, "the JWKS URL").await.expect("answer");
        assert_eq!(fetched.status, 302);
        assert_eq!(fetched.location.as_deref(), Some("http://elsewhere.example/"));
    }

    #[tokio::test]
    async fn a_silent_server_times_out_with_who_it_was() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let limits = Limits { timeout: Duration::from_millis(300), ..LIMITS };
        let started = Instant::now();
        let error =
            get(&format!("http://127.0.0.1:{port}/"), &[], limits, "the JWKS URL").await.expect_err("silent");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(error.0.starts_with("the JWKS URL did not answer"), "{}", error.0);
        drop(listener);
    }
}
