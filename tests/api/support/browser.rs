//! A minimal browser for HTTP-level flow tests: a cookie jar, no automatic
//! redirects, and reading the hidden fields of our forms.

use reqwest::header::HeaderMap;

use crate::support::{send, Response, TestApp};

pub struct Browser {
    pub http: reqwest::Client,
}

impl Browser {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { http }
    }

    pub async fn get(&self, url: &str) -> Response {
        send(self.http.get(url)).await
    }

    pub async fn post(&self, url: &str, fields: &[(String, String)], headers: HeaderMap) -> Response {
        send(self.http.post(url).headers(headers).form(fields)).await
    }

    /// Submits the form on `page` with `extra` fields (e.g. the button pressed).
    pub async fn submit(&self, app: &TestApp, page: &Response, extra: &[(&str, &str)]) -> Response {
        let mut fields = hidden_fields(&page.body);
        fields.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.post(&app.url("/oauth2/authorize"), &fields, HeaderMap::new()).await
    }
}

/// The hidden inputs of a page, unescaped.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    for part in html.split("<input type=\"hidden\" ").skip(1) {
        let attribute = |name: &str| {
            let start = part.find(&format!("{name}=\"")).map(|i| i + name.len() + 2)?;
            let end = part[start..].find('"')? + start;
            Some(unescape(&part[start..end]))
        };
        if let (Some(name), Some(value)) = (attribute("name"), attribute("value")) {
            fields.push((name, value));
        }
    }
    fields
}

/// Decodes the character references a template engine writes (named and
/// numeric), as a browser would.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ if entity.starts_with("#x") || entity.starts_with("#X") => {
                u32::from_str_radix(&entity[2..], 16).ok().and_then(char::from_u32)
            }
            _ if entity.starts_with('#') => entity[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
