//! A client as typed into a form or sent to the admin API: every field a
//! string, parsed in one place into a `NewClient` with an error per field.

use super::{
    Audience, AuthMethod, ClientType, GrantType, InvalidInput, Lifetime, NewClient, PkcePolicy, RedirectUri,
    ScopeName, ScopeSet, TokenFormat, Username,
};

#[derive(Debug, Clone, Default)]
pub struct ClientDraft {
    pub name: String,
    pub client_type: String,
    pub grants: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    /// Empty: `client_secret_basic` (confidential) or `none` (public).
    pub auth_method: String,
    /// Empty: `jwt`.
    pub token_format: String,
    /// Empty: `required`.
    pub pkce: String,
    /// Empty: the server default. `10m`, `1h`, `30d` …
    pub access_token_ttl: String,
    pub refresh_token_ttl: String,
    pub audiences: Vec<String>,
    /// Empty: none.
    pub service_account: String,
    pub resource_server: bool,
}

impl ClientDraft {
    /// The draft as a `NewClient`, or every field error found (field name
    /// set on each). Cross-field rules are `NewClient::validate`'s.
    pub fn parse(&self) -> Result<NewClient, Vec<InvalidInput>> {
        let mut errors = Vec::new();
        let name = self.name.trim();
        let name = take(
            &mut errors,
            "name",
            if name.is_empty() || name.chars().count() > 200 {
                Err(InvalidInput::new(
                    "the name must be 1 to 200 characters: it is the client name people see when they approve the app",
                ))
            } else {
                Ok(name.to_owned())
            },
        );
        let client_type = take(&mut errors, "client_type", self.client_type.trim().parse::<ClientType>());
        let grants = take(
            &mut errors,
            "grants",
            self.grants.iter().map(|g| g.trim().parse::<GrantType>()).collect::<Result<_, _>>(),
        );
        let redirect_uris = take(
            &mut errors,
            "redirect_uris",
            non_blank(&self.redirect_uris).map(RedirectUri::parse).collect::<Result<_, _>>(),
        );
        let scopes = take(
            &mut errors,
            "scopes",
            non_blank(&self.scopes)
                .map(ScopeName::parse)
                .collect::<Result<Vec<_>, _>>()
                .map(ScopeSet::from_names),
        );
        let auth_method = take(
            &mut errors,
            "auth_method",
            optional(&self.auth_method).map(str::parse::<AuthMethod>).transpose(),
        );
        let token_format = take(
            &mut errors,
            "token_format",
            optional(&self.token_format).map_or(Ok(TokenFormat::Jwt), str::parse::<TokenFormat>),
        );
        let pkce = take(
            &mut errors,
            "pkce",
            optional(&self.pkce).map_or(Ok(PkcePolicy::Required), str::parse::<PkcePolicy>),
        );
        let access_token_ttl = take(
            &mut errors,
            "access_token_ttl",
            optional(&self.access_token_ttl).map(str::parse::<Lifetime>).transpose(),
        );
        let refresh_token_ttl = take(
            &mut errors,
            "refresh_token_ttl",
            optional(&self.refresh_token_ttl).map(str::parse::<Lifetime>).transpose(),
        );
        let audiences = take(
            &mut errors,
            "audiences",
            non_blank(&self.audiences).map(Audience::parse).collect::<Result<_, _>>(),
        );
        let service_account = take(
            &mut errors,
            "service_account",
            optional(&self.service_account).map(Username::parse).transpose(),
        );
        let parsed = (|| {
            let client_type = client_type?;
            Some(NewClient {
                name: name?,
                client_type,
                // A public client has no secret, whatever was chosen.
                auth_method: if client_type == ClientType::Public {
                    Some(AuthMethod::None)
                } else {
                    auth_method?
                },
                token_format: token_format?,
                grants: grants?,
                scopes: scopes?,
                redirect_uris: redirect_uris?,
                audiences: audiences?,
                service_account: service_account?,
                access_token_ttl: access_token_ttl?,
                refresh_token_ttl: refresh_token_ttl?,
                resource_server: self.resource_server,
                pkce: pkce?,
            })
        })();
        match parsed {
            Some(new) if errors.is_empty() => Ok(new),
            _ => Err(errors),
        }
    }

    /// The draft of an existing client, for an edit form.
    pub fn of(client: &super::Client) -> Self {
        Self {
            name: client.name.clone(),
            client_type: client.client_type.as_str().into(),
            grants: client.grants.iter().map(|g| g.as_str().to_owned()).collect(),
            redirect_uris: client.redirect_uris.iter().map(|u| u.as_str().to_owned()).collect(),
            scopes: client.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            auth_method: client.auth_method.as_str().into(),
            token_format: client.token_format.as_str().into(),
            pkce: client.pkce.as_str().into(),
            access_token_ttl: client.access_token_ttl.map(|t| t.to_string()).unwrap_or_default(),
            refresh_token_ttl: client.refresh_token_ttl.map(|t| t.to_string()).unwrap_or_default(),
            audiences: client.audiences.iter().map(|a| a.as_str().to_owned()).collect(),
            service_account: client
                .service_account
                .as_ref()
                .map(|sa| sa.username.to_string())
                .unwrap_or_default(),
            resource_server: client.resource_server,
        }
    }
}

/// The value, or None with the error noted against `field`.
fn take<T>(
    errors: &mut Vec<InvalidInput>,
    field: &'static str,
    result: Result<T, InvalidInput>,
) -> Option<T> {
    result.map_err(|error| errors.push(error.in_field(field))).ok()
}

fn non_blank(values: &[String]) -> impl Iterator<Item = &str> {
    values.iter().map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn optional(value: &str) -> Option<&str> {
    Some(value.trim()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> ClientDraft {
        ClientDraft {
            name: "Deploy".into(),
            client_type: "confidential".into(),
            grants: vec!["client_credentials".into()],
            ..ClientDraft::default()
        }
    }

    #[test]
    fn blanks_take_their_defaults() {
        let new = draft().parse().unwrap();
        assert_eq!(new.token_format, TokenFormat::Jwt);
        assert_eq!(new.pkce, PkcePolicy::Required);
        assert_eq!(new.auth_method, None);
        assert!(new.service_account.is_none() && new.access_token_ttl.is_none());
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = ClientDraft {
            name: " ".into(),
            grants: vec!["implicit".into()],
            redirect_uris: vec!["https://a.example/#x".into()],
            access_token_ttl: "5x".into(),
            service_account: "has space".into(),
            ..draft()
        };
        let fields: Vec<_> = bad.parse().unwrap_err().into_iter().map(|e| e.field.unwrap()).collect();
        assert_eq!(fields, ["name", "grants", "redirect_uris", "access_token_ttl", "service_account"]);
    }

    #[test]
    fn a_public_client_never_gets_a_secret_method() {
        let public = ClientDraft {
            client_type: "public".into(),
            auth_method: "client_secret_post".into(),
            grants: vec!["authorization_code".into()],
            redirect_uris: vec!["https://a.example/cb".into()],
            ..draft()
        };
        assert_eq!(public.parse().unwrap().auth_method, Some(AuthMethod::None));
    }
}
