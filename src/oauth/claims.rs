//! Which of a person's claims an app receives, in the ID token and at
//! userinfo: those its scope covers (OIDC Core §5.4) and those it names in
//! the `claims` request parameter (Core §5.5), from the person's profile.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::id_token::ACR_PASSWORD;
use crate::domain::{ScopeSet, User};

/// Longest `claims` parameter read.
const MAX_CLAIMS_REQUEST: usize = 4_096;

/// The claims each scope releases. The configured username claim (Jira's
/// `username`) goes with `profile`, as `preferred_username` does.
const PROFILE_CLAIMS: &[&str] =
    &["name", "given_name", "family_name", "preferred_username", "locale", "zoneinfo", "updated_at"];
const EMAIL_CLAIMS: &[&str] = &["email", "email_verified"];

/// Every person claim this server can release (besides the username
/// claim, whose name is configured).
pub fn person_claims() -> impl Iterator<Item = &'static str> {
    PROFILE_CLAIMS.iter().chain(EMAIL_CLAIMS).copied()
}

/// Where claims go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    IdToken,
    Userinfo,
}

/// One claim asked for: voluntary or essential, with the value(s) wanted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimAsk {
    pub essential: bool,
    pub values: Vec<Value>,
}

/// The `claims` request parameter, as far as it concerns this server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimsRequest {
    pub id_token: BTreeMap<String, ClaimAsk>,
    pub userinfo: BTreeMap<String, ClaimAsk>,
}

impl ClaimsRequest {
    /// Parses the parameter: a JSON object whose `id_token` and `userinfo`
    /// members map claim names to `null` or `{essential, value, values}`.
    /// Other members are ignored; anything else is refused with the reason.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > MAX_CLAIMS_REQUEST {
            return Err(format!("claims is longer than {MAX_CLAIMS_REQUEST} bytes"));
        }
        let value: Value = serde_json::from_str(text).map_err(|_| "claims is not valid JSON".to_owned())?;
        let Value::Object(members) = value else {
            return Err("claims must be a JSON object".into());
        };
        let mut request = Self::default();
        for (place, target) in [("id_token", &mut request.id_token), ("userinfo", &mut request.userinfo)] {
            match members.get(place) {
                None | Some(Value::Null) => {}
                Some(Value::Object(asks)) => {
                    for (name, ask) in asks {
                        target.insert(name.clone(), read_ask(place, name, ask)?);
                    }
                }
                Some(_) => return Err(format!("claims.{place} must be a JSON object")),
            }
        }
        Ok(request)
    }

    /// The normalised JSON kept with the grant.
    pub fn to_json(&self) -> String {
        let place = |asks: &BTreeMap<String, ClaimAsk>| -> Value {
            asks.iter()
                .map(|(name, ask)| {
                    let mut entry = Map::new();
                    if ask.essential {
                        entry.insert("essential".into(), json!(true));
                    }
                    if !ask.values.is_empty() {
                        entry.insert("values".into(), json!(ask.values));
                    }
                    (name.clone(), if entry.is_empty() { Value::Null } else { Value::Object(entry) })
                })
                .collect::<Map<_, _>>()
                .into()
        };
        json!({"id_token": place(&self.id_token), "userinfo": place(&self.userinfo)}).to_string()
    }

    /// Reads back what `to_json` wrote; a damaged record asks for nothing.
    pub fn from_stored(text: Option<&str>) -> Self {
        text.and_then(|t| Self::parse(t).ok()).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.id_token.is_empty() && self.userinfo.is_empty()
    }

    fn at(&self, place: Place) -> &BTreeMap<String, ClaimAsk> {
        match place {
            Place::IdToken => &self.id_token,
            Place::Userinfo => &self.userinfo,
        }
    }

    /// Person claims asked for that `scope` does not cover: the consent
    /// page names them, and a remembered approval of the scope does not
    /// cover them.
    pub fn beyond(&self, scope: &ScopeSet, username_claim: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .id_token
            .keys()
            .chain(self.userinfo.keys())
            .filter(|name| releasable(name, username_claim) && !covered(scope, name, username_claim))
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The user the ID token's `sub` must be, if the request says (Core
    /// §5.5.1: only a positive answer for that user).
    pub fn required_subject(&self) -> Option<&str> {
        let ask = self.id_token.get("sub")?;
        match ask.values.as_slice() {
            [Value::String(sub)] => Some(sub),
            _ => None,
        }
    }

    /// False when an essential `acr` asks only for classes this server
    /// cannot state (Core §5.5.1.1: a failed authentication).
    pub fn acr_satisfiable(&self) -> bool {
        [&self.id_token, &self.userinfo].into_iter().filter_map(|asks| asks.get("acr")).all(|ask| {
            !ask.essential || ask.values.is_empty() || ask.values.iter().any(|v| v == ACR_PASSWORD)
        })
    }
}

fn read_ask(place: &str, name: &str, ask: &Value) -> Result<ClaimAsk, String> {
    let bad = |what: &str| format!("claims.{place}.{} {what}", printable(name));
    match ask {
        Value::Null => Ok(ClaimAsk::default()),
        Value::Object(fields) => {
            let essential = match fields.get("essential") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(essential)) => *essential,
                Some(_) => return Err(bad("has an essential member that is not true or false")),
            };
            let mut values = Vec::new();
            if let Some(value) = fields.get("value").filter(|v| !v.is_null()) {
                values.push(value.clone());
            }
            match fields.get("values") {
                None | Some(Value::Null) => {}
                Some(Value::Array(many)) => values.extend(many.iter().cloned()),
                Some(_) => return Err(bad("has a values member that is not an array")),
            }
            Ok(ClaimAsk { essential, values })
        }
        _ => Err(bad("must be null or a JSON object")),
    }
}

fn printable(text: &str) -> String {
    text.chars().take(40).filter(|c| c.is_ascii_graphic()).collect()
}

fn releasable(name: &str, username_claim: &str) -> bool {
    name == username_claim || person_claims().any(|c| c == name)
}

fn covered(scope: &ScopeSet, name: &str, username_claim: &str) -> bool {
    (scope.contains("profile") && (name == username_claim || PROFILE_CLAIMS.contains(&name)))
        || (scope.contains("email") && EMAIL_CLAIMS.contains(&name))
}

/// The person's claims for `place`: what `scope` covers, what `asked`
/// names there, or — for a person's own credential — everything.
pub fn person_claims_for(
    user: &User,
    username_claim: &str,
    scope: &ScopeSet,
    asked: &ClaimsRequest,
    place: Place,
    everything: bool,
) -> Map<String, Value> {
    let wanted =
        |name: &str| everything || covered(scope, name, username_claim) || asked.at(place).contains_key(name);
    let mut claims = Map::new();
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(value) = value.filter(|_| wanted(name)) {
            claims.insert(name.to_owned(), value);
        }
    };
    let profile = &user.profile;
    put(username_claim, Some(json!(user.username.as_str())));
    put("preferred_username", Some(json!(user.username.as_str())));
    put("name", user.display_name.as_ref().map(|n| json!(n)));
    put("given_name", profile.given_name.as_ref().map(|n| json!(n)));
    put("family_name", profile.family_name.as_ref().map(|n| json!(n)));
    put("locale", profile.locale.as_ref().map(|n| json!(n)));
    put("zoneinfo", profile.zoneinfo.as_ref().map(|n| json!(n)));
    put("updated_at", Some(json!(user.updated_at.seconds())));
    put("email", Some(json!(user.email.as_str())));
    put("email_verified", Some(json!(profile.email_verified)));
    claims
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parameter_is_read_strictly_and_normalised() {
        let request = ClaimsRequest::parse(
            r#"{"id_token":{"email":{"essential":true},"acr":{"values":["1","2"]}},"userinfo":{"locale":null},"other":1}"#,
        )
        .unwrap();
        assert!(request.id_token["email"].essential);
        assert_eq!(request.id_token["acr"].values, vec![json!("1"), json!("2")]);
        assert!(request.userinfo.contains_key("locale"));
        assert_eq!(ClaimsRequest::from_stored(Some(&request.to_json())), request);
        for (bad, why) in [
            ("not json", "not valid JSON"),
            ("[1]", "a JSON object"),
            (r#"{"userinfo":[]}"#, "claims.userinfo must be"),
            (r#"{"userinfo":{"email":true}}"#, "null or a JSON object"),
            (r#"{"userinfo":{"email":{"essential":"yes"}}}"#, "essential"),
            (r#"{"id_token":{"acr":{"values":"1"}}}"#, "values"),
        ] {
            let error = ClaimsRequest::parse(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn an_essential_acr_must_name_a_class_this_server_states() {
        let ask = |text: &str| ClaimsRequest::parse(text).unwrap().acr_satisfiable();
        assert!(ask(r#"{"id_token":{"acr":{"essential":true,"values":["1","2"]}}}"#));
        assert!(ask(r#"{"id_token":{"acr":{"values":["2"]}}}"#), "voluntary: answered with what there is");
        assert!(!ask(r#"{"id_token":{"acr":{"essential":true,"value":"urn:mace:incommon:iap:silver"}}}"#));
    }

    #[test]
    fn claims_beyond_the_scope_are_named() {
        let request = ClaimsRequest::parse(
            r#"{"userinfo":{"email":null,"name":null,"nonsense":null,"username":null}}"#,
        )
        .unwrap();
        let scope = ScopeSet::parse("openid profile").unwrap();
        assert_eq!(request.beyond(&scope, "username"), vec!["email".to_owned()]);
        assert!(request.beyond(&ScopeSet::parse("openid profile email").unwrap(), "username").is_empty());
    }
}
