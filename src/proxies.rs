//! Which address a request comes from when Tessera runs behind reverse
//! proxies. `TESSERA_TRUSTED_PROXIES` lists the proxies' networks; only
//! when the TCP peer is one of them are `Forwarded` (RFC 7239) or
//! `X-Forwarded-For` read, and then from the right: the first address that
//! is not a trusted proxy is the client. Anything left of it was written by
//! the client itself and is never believed. Throttles, the audit log and the
//! access log all use this address.

use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
}

impl TrustedProxies {
    /// No proxy trusted: the TCP peer is always the client.
    pub fn none() -> Self {
        Self::default()
    }

    /// Comma-separated networks (`10.0.0.0/8`) or single addresses.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut networks = Vec::new();
        for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let network = match item.parse::<IpNet>() {
                Ok(network) => network.trunc(),
                Err(_) => match item.parse::<IpAddr>() {
                    Ok(address) => IpNet::from(address),
                    Err(_) => {
                        return Err(format!("'{item}' is not an IP address or a network like 10.0.0.0/8"))
                    }
                },
            };
            networks.push(network);
        }
        Ok(Self { networks })
    }

    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    pub fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.networks.iter().any(|network| network.contains(&address))
    }

    /// The client's address. `forwarded` and `x_forwarded_for` are every
    /// value of those headers, in the order received; `Forwarded` wins when
    /// both are present.
    pub fn client_address(&self, peer: IpAddr, forwarded: &[&str], x_forwarded_for: &[&str]) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<Option<IpAddr>> = if forwarded.is_empty() {
            x_forwarded_for.iter().flat_map(|value| value.split(',')).map(parse_node).collect()
        } else {
            forwarded.iter().flat_map(|value| split_outside_quotes(value, ',')).map(forwarded_for).collect()
        };
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            match hop {
                // A hop the proxy could not name ("unknown", an obfuscated
                // id, garbage): nothing beyond it can be believed.
                None => return client,
                Some(address) => {
                    client = address;
                    if !self.trusts(address) {
                        return address;
                    }
                }
            }
        }
        client
    }
}

/// The `for=` of one `Forwarded` element (`for=1.2.3.4;proto=https`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    split_outside_quotes(element, ';').into_iter().find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim().eq_ignore_ascii_case("for").then(|| parse_node(value))?
    })
}

/// A node as proxies write it: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`,
/// `[2001:db8::1]:443`, possibly quoted.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"').trim();
    if let Ok(address) = text.parse::<IpAddr>() {
        return Some(address.to_canonical());
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.starts_with(':')) {
            return None;
        }
        return inside.parse::<IpAddr>().ok().map(|a| a.to_canonical());
    }
    let (host, port) = text.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// Splits on `separator` except inside double quotes.
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (index, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&text[start..index]);
                start = index + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(text: &str) -> TrustedProxies {
        TrustedProxies::parse(text).unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let none = TrustedProxies::none();
        assert_eq!(none.client_address(ip("203.0.113.9"), &["for=1.1.1.1"], &["1.1.1.1"]), ip("203.0.113.9"));
        let some = proxies("10.0.0.0/8");
        assert_eq!(some.client_address(ip("203.0.113.9"), &[], &["10.0.0.1, 1.1.1.1"]), ip("203.0.113.9"));
    }

    #[test]
    fn behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client() {
        let trusted = proxies("10.0.0.0/8, 192.168.1.1");
        // The client forged "6.6.6.6"; the proxy appended what it saw.
        let xff = ["6.6.6.6, 198.51.100.7", "10.1.2.3"];
        assert_eq!(trusted.client_address(ip("192.168.1.1"), &[], &xff), ip("198.51.100.7"));
        let forwarded = [r#"for=6.6.6.6, for="[2001:db8::7]:4711";proto=https"#, "for=10.0.0.2"];
        assert_eq!(trusted.client_address(ip("10.0.0.1"), &forwarded, &["5.5.5.5"]), ip("2001:db8::7"));
    }

    #[test]
    fn only_trusted_hops_mean_the_left_most_one_and_an_unnamed_hop_stops_the_walk() {
        let trusted = proxies("10.0.0.0/8");
        assert_eq!(trusted.client_address(ip("10.0.0.1"), &[], &["10.0.0.9"]), ip("10.0.0.9"));
        assert_eq!(trusted.client_address(ip("10.0.0.1"), &[], &[]), ip("10.0.0.1"));
        assert_eq!(trusted.client_address(ip("10.0.0.1"), &["for=unknown"], &[]), ip("10.0.0.1"));
        assert_eq!(
            trusted.client_address(ip("10.0.0.1"), &[], &["1.2.3.4, garbage, 10.0.0.3"]),
            ip("10.0.0.3")
        );
    }

    #[test]
    fn nodes_are_read_as_proxies_write_them() {
        assert_eq!(parse_node(" 192.0.2.1:8080 "), Some(ip("192.0.2.1")));
        assert_eq!(parse_node("\"[2001:db8::1]:443\""), Some(ip("2001:db8::1")));
        assert_eq!(parse_node("[2001:db8::1]"), Some(ip("2001:db8::1")));
        assert_eq!(parse_node("::ffff:192.0.2.1"), Some(ip("192.0.2.1")), "mapped addresses are canonical");
        assert_eq!(parse_node("_hidden"), None);
        assert_eq!(parse_node("[2001:db8::1]x"), None);
        assert_eq!(parse_node("1.2.3.4:port"), None);
        assert_eq!(forwarded_for("proto=https;For=\"192.0.2.60\";by=203.0.113.43"), Some(ip("192.0.2.60")));
    }

    #[test]
    fn settings_are_networks_or_addresses() {
        assert!(proxies("").is_empty());
        assert!(proxies("127.0.0.1").trusts(ip("127.0.0.1")));
        assert!(proxies("10.0.0.1/8").trusts(ip("10.200.0.1")), "host bits are ignored");
        assert!(proxies("::1").trusts(ip("::1")));
        assert!(proxies("10.0.0.0/8").trusts(ip("::ffff:10.0.0.1")));
        assert!(TrustedProxies::parse("10.0.0.0/33").unwrap_err().contains("10.0.0.0/33"));
        assert!(TrustedProxies::parse("proxy.internal").is_err());
    }
}
