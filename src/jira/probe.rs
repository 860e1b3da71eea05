//! The Jira test's request: `GET {jira}/rest/api/2/myself` with a bearer
//! token, through `outbound` (bounded in time and size; redirects are
//! reported, never followed, so the token goes nowhere but the configured
//! Jira).

use std::time::Duration;

use hyper::header::{ACCEPT, AUTHORIZATION, USER_AGENT};

pub use crate::outbound::Unreachable;
use crate::outbound::{self, Limits};

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

/// `GET {base_url}/rest/api/2/myself` with `Authorization: Bearer {token}`.
pub async fn get_myself(base_url: &str, token: &str) -> Result<Reply, Unreachable> {
    let url = format!("{base_url}/rest/api/2/myself");
    let headers = [
        (AUTHORIZATION, format!("Bearer {token}")),
        (ACCEPT, "application/json".to_owned()),
        (USER_AGENT, concat!("Tessera/", env!("CARGO_PKG_VERSION"), " (Jira test)").to_owned()),
    ];
    let limits = Limits { timeout: TIMEOUT, max_body: MAX_BODY };
    let fetched = outbound::get(&url, &headers, limits, "Jira").await?;
    Ok(Reply {
        status: fetched.status,
        content_type: fetched.content_type,
        location: fetched.location,
        body: String::from_utf8_lossy(&fetched.body).into_owned(),
        truncated: fetched.truncated,
        elapsed: fetched.elapsed,
    })
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
}
