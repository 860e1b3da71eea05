//! One outgoing request: `GET {jira}/rest/api/2/myself` with a bearer
//! token, over http or https (rustls with aws-lc-rs, the system's CA
//! certificates, so a Jira behind an internal CA works once that CA is
//! installed). Bounded in time and size; redirects are reported, never
//! followed, so the token goes nowhere but the configured Jira.

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, USER_AGENT};
use hyper::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// How long Jira has to answer, body included.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The most of Jira's answer that is kept; the rest is cut off.
pub const MAX_BODY: usize = 64 * 1024;

/// What Jira answered.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    /// Where a redirect pointed.
    pub location: Option<String>,
    /// The body as text (lossy UTF-8), at most `MAX_BODY` bytes of it.
    pub body: String,
    pub truncated: bool,
    pub elapsed: Duration,
}

impl Reply {
    /// The reply with `token` blotted out wherever Jira (or a proxy on the
    /// way) echoed it.
    pub fn hiding(mut self, token: &str) -> Self {
        const HIDDEN: &str = "[the test token]";
        self.body = self.body.replace(token, HIDDEN);
        self.location = self.location.map(|l| l.replace(token, HIDDEN));
        self
    }
}

/// Why there is no answer: a sentence for the page, never the token.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(pub String);

/// `GET {base_url}/rest/api/2/myself` with `Authorization: Bearer {token}`.
pub async fn get_myself(base_url: &str, token: &str) -> Result<Reply, Unreachable> {
    let url = format!("{base_url}/rest/api/2/myself");
    let uri: Uri = url.parse().map_err(|_| Unreachable(format!("{url} is not a valid URL")))?;
    let request = Request::get(uri)
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header(ACCEPT, "application/json")
        .header(USER_AGENT, concat!("Tessera/", env!("CARGO_PKG_VERSION"), " (Jira test)"))
        .body(Empty::<Bytes>::new())
        .map_err(|_| Unreachable("the request to Jira could not be built".into()))?;
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
                frame.map_err(|error| Unreachable(format!("Jira's answer broke off: {}", chain(&error))))?;
            let Ok(data) = frame.into_data() else { continue };
            let room = MAX_BODY - bytes.len();
            if data.len() > room {
                bytes.extend_from_slice(&data[..room]);
                truncated = true;
                break;
            }
            bytes.extend_from_slice(&data);
        }
        let header =
            |name| parts.headers.get(name).and_then(|v: &hyper::header::HeaderValue| v.to_str().ok());
        Ok(Reply {
            status: parts.status.as_u16(),
            content_type: header(CONTENT_TYPE).map(str::to_owned),
            location: header(LOCATION).map(str::to_owned),
            body: String::from_utf8_lossy(&bytes).into_owned(),
            truncated,
            elapsed: started.elapsed(),
        })
    };
    match tokio::time::timeout(TIMEOUT, answer).await {
        Ok(answer) => answer,
        Err(_) => Err(Unreachable(format!("Jira did not answer within {} seconds", TIMEOUT.as_secs()))),
    }
}

type HttpsClient =
    Client<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, Empty<Bytes>>;

/// A client for one request. Built per test (a rare, human-paced action),
/// so a CA certificate installed since start is seen.
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
    use super::*;

    #[tokio::test]
    async fn a_closed_port_is_unreachable_with_the_cause() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        drop(listener);
        let error = get_myself(&format!("http://127.0.0.1:{port}"), "tsr_secret").await.expect_err("refused");
        assert!(error.0.to_lowercase().contains("refused"), "{}", error.0);
        assert!(!error.0.contains("tsr_secret"));
    }

    #[tokio::test]
    async fn https_loads_the_system_roots() {
        // Nothing listens on port 9 of loopback: the client builds (roots
        // loaded) and then fails to connect, rather than failing to build.
        let error = get_myself("https://127.0.0.1:9", "t").await.expect_err("nothing listens");
        assert!(!error.0.contains("CA certificates"), "{}", error.0);
    }
}
