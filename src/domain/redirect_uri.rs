use std::fmt;

use super::InvalidInput;

/// A registered redirect URI (RFC 9700 §2.1, §4.1.3; OAuth 2.1 §2.3). It
/// keeps the exact text it was registered with: requests must repeat it
/// byte for byte, except that a loopback `http` URI accepts any port
/// (RFC 8252 §7.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// The registration rules (SEC-A03): absolute, no fragment, no
    /// wildcard, no credentials; `http` only for a loopback IP literal;
    /// a private-use scheme must look like a reversed domain (`com.example.app:`).
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        let shown: String = text.chars().take(200).filter(|c| !c.is_control()).collect();
        let bad = |why: &str| InvalidInput::new(format!("redirect URI '{shown}' {why}"));
        if text.is_empty() || text.len() > 2_000 {
            return Err(bad("must be 1 to 2,000 characters"));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("must not contain spaces or control characters"));
        }
        if text.contains('#') {
            return Err(bad("must not contain a fragment"));
        }
        if text.contains('*') {
            return Err(bad("must not contain a wildcard: redirect URIs are matched exactly"));
        }
        let url = url::Url::parse(text).map_err(|_| bad("is not an absolute URI"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not contain credentials"));
        }
        match url.scheme() {
            "https" => {}
            "http" if loopback_ip(&url) => {}
            "http" if url.host_str() == Some("localhost") => {
                return Err(bad("uses localhost: register http://127.0.0.1 or http://[::1] instead (RFC 8252 section 8.3)"));
            }
            "http" => return Err(bad("must use https (http is only for 127.0.0.1 or [::1])")),
            "javascript" | "data" | "file" | "vbscript" => return Err(bad("uses a forbidden scheme")),
            private if private.contains('.') => {}
            _ => return Err(bad(
                "uses a private scheme that is not a reversed domain name (e.g. com.example.app:/callback)",
            )),
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Does the `redirect_uri` of a request name this registration?
    pub fn matches(&self, requested: &str) -> bool {
        if requested == self.0 {
            return true;
        }
        let (Ok(registered), Ok(asked)) = (url::Url::parse(&self.0), url::Url::parse(requested)) else {
            return false;
        };
        if registered.scheme() != "http" || !loopback_ip(&registered) {
            return false;
        }
        // Loopback: any port, everything else identical. The request must be
        // written in normal form, so no alternative spelling can slip through.
        if asked.as_str() != requested || asked.scheme() != "http" || asked.fragment().is_some() {
            return false;
        }
        let (mut registered, mut asked) = (registered, asked);
        if registered.set_port(None).is_err() || asked.set_port(None).is_err() {
            return false;
        }
        registered.as_str() == asked.as_str()
    }

    /// Whether this is a loopback `http` URI (a native app's).
    pub fn is_loopback(&self) -> bool {
        url::Url::parse(&self.0).is_ok_and(|u| u.scheme() == "http" && loopback_ip(&u))
    }
}

pub(super) fn loopback_ip(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_refuses_what_sec_a03_refuses() {
        for bad in [
            "/cb",
            "cb",
            "https://c.example/cb#frag",
            "https://*.example/cb",
            "https://c.example/*",
            "http://c.example/cb",
            "http://localhost:8080/cb",
            "https://user:pass@c.example/cb",
            "javascript:alert(1)",
            "myapp:/cb",
            "https://c.example/c b",
            "",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad:?} must be refused");
        }
        for good in [
            "https://c.example/cb",
            "https://c.example/cb?tenant=1",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:8080/cb",
            "http://[::1]:9000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(RedirectUri::parse(good).is_ok(), "{good:?} must be accepted");
        }
    }

    #[test]
    fn matching_is_exact_for_every_sec_a01_variant() {
        let registered = RedirectUri::parse("https://c.example/cb").unwrap();
        assert!(registered.matches("https://c.example/cb"));
        for variant in [
            "https://c.example/cb/",
            "https://c.example/CB",
            "https://c.example/cb?x=1",
            "https://c.example/cb#f",
            "https://c.example:443/cb",
            "https://c.example.evil.com/cb",
            "https://c.example@evil.com/cb",
            "https://c.example/cb/../cb",
            "https://c.example/%2Fcb",
            "https://c.example%2Fcb",
            "http://c.example/cb",
            "https://с.example/cb", // Cyrillic 'с'
            "HTTPS://c.example/cb",
        ] {
            assert!(!registered.matches(variant), "{variant} must not match");
        }
    }

    #[test]
    fn loopback_registrations_accept_any_port_and_nothing_else() {
        let registered = RedirectUri::parse("http://127.0.0.1/cb").unwrap();
        assert!(registered.matches("http://127.0.0.1:53123/cb"));
        assert!(registered.matches("http://127.0.0.1/cb"));
        for variant in [
            "http://127.0.0.1:53123/cb/",
            "http://127.0.0.1:53123/other",
            "http://127.0.0.1:53123/cb?x=1",
            "http://127.0.0.1:53123/cb#f",
            "http://localhost:53123/cb",
            "http://127.0.0.2:53123/cb",
            "https://127.0.0.1:53123/cb",
            "http://[::1]:53123/cb",
            "http://127.0.0.1:53123/./cb",
            "http://user@127.0.0.1:53123/cb",
        ] {
            assert!(!registered.matches(variant), "{variant} must not match");
        }
        assert!(RedirectUri::parse("http://[::1]/cb").unwrap().matches("http://[::1]:4000/cb"));
    }
}
