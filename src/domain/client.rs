use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder, SchemaType, Type};
use utoipa::ToSchema;

use super::wire_schema::{nullable_one_of, one_of};
use super::{non_blank, take};
use super::{
    Audience, AuthMethod, ClientId, ClientKeys, ClientType, GrantType, InvalidInput, Lifetime, PkcePolicy,
    RedirectUri, ScopeName, ScopeSet, ServiceAccount, TokenFormat, UnixTime, Username,
};

/// The longest access-token lifetime a client may be given. Retired signing
/// keys stay published at least this long (see `keys.rs`).
pub const MAX_ACCESS_TOKEN_TTL: Lifetime = Lifetime::from_seconds(24 * 3_600);

/// The longest refresh-token lifetime a client may be given.
pub const MAX_REFRESH_TOKEN_TTL: Lifetime = Lifetime::from_seconds(365 * 86_400);

/// A registered OAuth client, as the token endpoint needs it.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub client_type: ClientType,
    pub auth_method: AuthMethod,
    pub token_format: TokenFormat,
    pub grants: BTreeSet<GrantType>,
    pub scopes: ScopeSet,
    pub redirect_uris: Vec<RedirectUri>,
    /// Where RP-initiated logout may send the browser back to (exact match).
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub audiences: Vec<Audience>,
    pub service_account: Option<ServiceAccount>,
    pub access_token_ttl: Option<Lifetime>,
    pub refresh_token_ttl: Option<Lifetime>,
    pub resource_server: bool,
    pub pkce: PkcePolicy,
    /// Authorization requests must be pushed first (RFC 9126).
    pub require_par: bool,
    /// The public keys of `private_key_jwt` and the JWT bearer grant.
    pub keys: Option<ClientKeys>,
    pub enabled: bool,
    pub created_at: UnixTime,
}

impl Client {
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grants.contains(&grant)
    }

    /// The Jira username tokens of this client act as, if any.
    pub fn acting_username(&self) -> Option<&Username> {
        self.service_account.as_ref().map(|sa| &sa.username)
    }
}

/// What an administrator asks for when registering a client; `validate`
/// applies every registration rule before anything is stored.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub name: String,
    pub client_type: ClientType,
    pub auth_method: Option<AuthMethod>,
    pub token_format: TokenFormat,
    pub grants: BTreeSet<GrantType>,
    pub scopes: ScopeSet,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub audiences: Vec<Audience>,
    pub service_account: Option<Username>,
    pub access_token_ttl: Option<Lifetime>,
    pub refresh_token_ttl: Option<Lifetime>,
    pub resource_server: bool,
    pub pkce: PkcePolicy,
    pub require_par: bool,
    pub keys: Option<ClientKeys>,
}

impl NewClient {
    /// Checks the combination of fields; returns the auth method to store.
    pub fn validate(&self) -> Result<AuthMethod, InvalidInput> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(InvalidInput::new("client name must be 1 to 200 characters").in_field("name"));
        }
        let method = match self.client_type {
            ClientType::Public => {
                if self.pkce == PkcePolicy::Optional {
                    return Err(
                        InvalidInput::new("PKCE cannot be optional for a public client").in_field("pkce")
                    );
                }
                if self.auth_method.is_some_and(|m| m != AuthMethod::None) {
                    return Err(InvalidInput::new(
                        "a public client has no secret: its auth method is 'none'",
                    )
                    .in_field("auth_method"));
                }
                if let Some(grant) = self.grants.iter().find(|g| g.acts_as_the_client()) {
                    return Err(InvalidInput::new(format!(
                        "a public client cannot use the {grant} grant: it cannot prove who it is"
                    ))
                    .in_field("grants"));
                }
                if self.service_account.is_some() || self.resource_server {
                    return Err(InvalidInput::new(
                        "a public client cannot act for a service account or introspect tokens",
                    )
                    .in_field("client_type"));
                }
                AuthMethod::None
            }
            ClientType::Confidential => {
                let method = self.auth_method.unwrap_or(AuthMethod::ClientSecretBasic);
                if method == AuthMethod::None {
                    return Err(InvalidInput::new(
                        "auth method 'none' is only for public clients; a confidential client uses client_secret_basic, client_secret_post or private_key_jwt",
                    )
                    .in_field("auth_method"));
                }
                method
            }
        };
        let needs_keys = method == AuthMethod::PrivateKeyJwt || self.grants.contains(&GrantType::JwtBearer);
        if needs_keys && self.keys.is_none() {
            return Err(InvalidInput::new(
                "private_key_jwt and the jwt-bearer grant need the client's public keys: a JWK set (jwks) or a JWKS URL (jwks_uri)",
            )
            .in_field("jwks"));
        }
        if !needs_keys && self.keys.is_some() {
            return Err(InvalidInput::new(
                "public keys are used only by the private_key_jwt auth method and the jwt-bearer grant",
            )
            .in_field("jwks"));
        }
        let code_flow = self.grants.contains(&GrantType::AuthorizationCode);
        if code_flow && self.redirect_uris.is_empty() {
            return Err(InvalidInput::new(
                "the authorization_code grant needs at least one redirect URI (--redirect-uri)",
            )
            .in_field("redirect_uris"));
        }
        if !code_flow && !self.redirect_uris.is_empty() {
            return Err(InvalidInput::new("redirect URIs are only for the authorization_code grant")
                .in_field("redirect_uris"));
        }
        let person_flow = code_flow || self.grants.contains(&GrantType::DeviceCode);
        if self.grants.contains(&GrantType::RefreshToken) && !person_flow {
            return Err(InvalidInput::new(
                "the refresh_token grant needs the authorization_code or device_code grant: refresh tokens come from a person's approval",
            )
            .in_field("grants"));
        }
        if self.require_par && !code_flow {
            return Err(InvalidInput::new(
                "pushed authorization requests are for the authorization_code grant",
            )
            .in_field("require_pushed_authorization_requests"));
        }
        if self.pkce == PkcePolicy::Optional && !code_flow {
            return Err(
                InvalidInput::new("PKCE applies to the authorization_code grant only").in_field("pkce")
            );
        }
        if let Some(ttl) = self.refresh_token_ttl {
            if !self.grants.contains(&GrantType::RefreshToken) {
                return Err(InvalidInput::new("a refresh-token lifetime needs the refresh_token grant")
                    .in_field("refresh_token_ttl"));
            }
            if ttl > MAX_REFRESH_TOKEN_TTL {
                return Err(InvalidInput::new(format!(
                    "refresh-token lifetime {ttl} is longer than the maximum of {MAX_REFRESH_TOKEN_TTL}"
                ))
                .in_field("refresh_token_ttl"));
            }
        }
        let mut uris = BTreeSet::new();
        if let Some(twice) = self.redirect_uris.iter().find(|u| !uris.insert(*u)) {
            return Err(InvalidInput::new(format!("redirect URI '{twice}' is listed twice"))
                .in_field("redirect_uris"));
        }
        if !code_flow && !self.post_logout_redirect_uris.is_empty() {
            return Err(InvalidInput::new(
                "post-logout redirect URIs are for apps people sign in to (the authorization_code grant)",
            )
            .in_field("post_logout_redirect_uris"));
        }
        let mut uris = BTreeSet::new();
        if let Some(twice) = self.post_logout_redirect_uris.iter().find(|u| !uris.insert(*u)) {
            return Err(InvalidInput::new(format!("post-logout redirect URI '{twice}' is listed twice"))
                .in_field("post_logout_redirect_uris"));
        }
        if self.grants.is_empty() {
            return Err(InvalidInput::new("a client needs at least one grant (--grant)").in_field("grants"));
        }
        if let Some(ttl) = self.access_token_ttl {
            if ttl > MAX_ACCESS_TOKEN_TTL {
                return Err(InvalidInput::new(format!(
                    "access-token lifetime {ttl} is longer than the maximum of {MAX_ACCESS_TOKEN_TTL}"
                ))
                .in_field("access_token_ttl"));
            }
        }
        let mut seen = BTreeSet::new();
        for audience in &self.audiences {
            if !seen.insert(audience) {
                return Err(InvalidInput::new(format!("audience '{}' is listed twice", audience.as_str()))
                    .in_field("audiences"));
            }
        }
        Ok(method)
    }
}

/// A client as people and scripts type it: every property as text, the
/// way the console's form, the admin API's JSON body (`AppInput` in the
/// OpenAPI document) and `tessera client create` give it. `parse` turns it
/// into a `NewClient` or names every field at fault.
///
/// This is the one place a client property is read from outside; its
/// derives say how each adapter spells it (serde and utoipa: the API, clap:
/// the command line, `from_form`: the console), so a new property is one
/// field here, one in `Client`, `NewClient` and `App`, its column in the
/// store and its line in the console's templates.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, clap::Args)]
#[serde(deny_unknown_fields)]
#[schema(as = AppInput, description = "An app to register, or the whole new state of one (PUT).")]
pub struct ClientDraft {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    #[arg(long, help = "The app's name, shown on the consent page and in the console")]
    pub name: String,
    /// `confidential` or `public` (cannot change after registration).
    #[schema(schema_with = client_types)]
    // The command line spells it `--public` (see `cli/clients.rs`).
    #[arg(skip)]
    pub client_type: String,
    /// `authorization_code`, `client_credentials`, `refresh_token`, token exchange.
    #[schema(schema_with = grant_types)]
    #[arg(
        long = "grant",
        required = true,
        help = "Allowed grant type (repeatable): client_credentials, authorization_code, refresh_token, urn:ietf:params:oauth:grant-type:device_code, urn:ietf:params:oauth:grant-type:token-exchange, urn:ietf:params:oauth:grant-type:jwt-bearer"
    )]
    pub grants: Vec<String>,
    #[serde(default)]
    #[arg(long = "redirect-uri", help = "Registered redirect URI (repeatable; authorization_code only)")]
    pub redirect_uris: Vec<String>,
    /// Where the app may send people after signing them out
    /// (RP-initiated logout), matched exactly.
    #[serde(default)]
    #[arg(
        long = "post-logout-redirect-uri",
        help = "Where sign-out may return the browser to (repeatable; exact match; authorization_code only)"
    )]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    #[arg(long = "scope", help = "Allowed scope (repeatable)")]
    pub scopes: Vec<String>,
    /// `client_secret_basic` (default), `client_secret_post` or
    /// `private_key_jwt`; `none` for public apps.
    #[serde(default)]
    #[schema(schema_with = auth_methods)]
    #[arg(
        long,
        help = "client_secret_basic (default), client_secret_post or private_key_jwt (with --jwks or --jwks-uri)"
    )]
    pub auth_method: Option<String>,
    /// The client's public keys, a JWK set (RFC 7517 §5) as a JSON object
    /// or as its text: for `private_key_jwt` and the jwt-bearer grant.
    #[serde(default, deserialize_with = "json_or_text")]
    #[schema(schema_with = jwks_schema)]
    // The command line reads it from a file (`--jwks FILE`, `cli/clients.rs`).
    #[arg(skip)]
    pub jwks: Option<String>,
    /// Where the client publishes its public keys instead (`https`, or
    /// `http` to a loopback address); fetched and cached.
    #[serde(default)]
    #[schema(nullable, max_length = 2000)]
    #[arg(long, help = "URL of the client's published public keys (instead of --jwks)")]
    pub jwks_uri: Option<String>,
    /// `jwt` (default) or `opaque`.
    #[serde(default)]
    #[schema(schema_with = token_formats)]
    #[arg(long, help = "Access-token format: jwt (default) or opaque")]
    pub token_format: Option<String>,
    /// `required` (default) or `optional` (confidential legacy apps only).
    #[serde(default)]
    #[schema(schema_with = pkce_policies)]
    #[arg(long, help = "required (default) or optional (confidential legacy apps only)")]
    pub pkce: Option<String>,
    /// A duration such as `10m`, `1h`; absent: the server default.
    #[serde(default)]
    #[schema(nullable, pattern = r"^0{0,8}[1-9][0-9]{0,8}[smhd]$")]
    #[arg(long, help = "Access-token lifetime, e.g. 10m (default: the server's)")]
    pub access_token_ttl: Option<String>,
    #[serde(default)]
    #[schema(nullable, pattern = r"^0{0,8}[1-9][0-9]{0,8}[smhd]$")]
    #[arg(long, help = "Refresh-token lifetime, e.g. 30d (default: the server's)")]
    pub refresh_token_ttl: Option<String>,
    #[serde(default)]
    #[arg(long = "audience", help = "Audience of this client's tokens (repeatable)")]
    pub audiences: Vec<String>,
    /// The Jira username of the service account client-credentials tokens act as.
    #[serde(default)]
    #[schema(nullable, max_length = 255, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]*$")]
    #[arg(long, help = "Bind the client to this service account (its tokens act as it)")]
    pub service_account: Option<String>,
    #[serde(default)]
    #[arg(long, help = "May introspect any token")]
    pub resource_server: bool,
    /// Authorization requests must be pushed first (RFC 9126, `/oauth2/par`).
    #[serde(default)]
    #[arg(long = "require-par", help = "Authorization requests must be pushed first (PAR, RFC 9126)")]
    pub require_pushed_authorization_requests: bool,
}

/// A posted HTML form, as `ClientDraft::from_form` reads it.
pub trait FormFields {
    /// The field's text, trimmed ("" when absent).
    fn text(&self, name: &str) -> String;
    /// The values of a field sent once per ticked box, or one per line of a
    /// text area; blank lines dropped.
    fn lines(&self, name: &str) -> Vec<String>;
    /// Whether a checkbox was ticked.
    fn checked(&self, name: &str) -> bool;
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
        let post_logout_redirect_uris = take(
            &mut errors,
            "post_logout_redirect_uris",
            non_blank(&self.post_logout_redirect_uris).map(RedirectUri::parse).collect::<Result<_, _>>(),
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
            optional(self.auth_method.as_deref()).map(str::parse::<AuthMethod>).transpose(),
        );
        let token_format = take(
            &mut errors,
            "token_format",
            optional(self.token_format.as_deref()).map_or(Ok(TokenFormat::Jwt), str::parse::<TokenFormat>),
        );
        let pkce = take(
            &mut errors,
            "pkce",
            optional(self.pkce.as_deref()).map_or(Ok(PkcePolicy::Required), str::parse::<PkcePolicy>),
        );
        let access_token_ttl = take(
            &mut errors,
            "access_token_ttl",
            optional(self.access_token_ttl.as_deref()).map(str::parse::<Lifetime>).transpose(),
        );
        let refresh_token_ttl = take(
            &mut errors,
            "refresh_token_ttl",
            optional(self.refresh_token_ttl.as_deref()).map(str::parse::<Lifetime>).transpose(),
        );
        let audiences = take(
            &mut errors,
            "audiences",
            non_blank(&self.audiences).map(Audience::parse).collect::<Result<_, _>>(),
        );
        let (jwks, jwks_uri) = (optional(self.jwks.as_deref()), optional(self.jwks_uri.as_deref()));
        let keys = take(
            &mut errors,
            if jwks_uri.is_some() && jwks.is_none() { "jwks_uri" } else { "jwks" },
            ClientKeys::from_parts(jwks, jwks_uri),
        );
        let service_account = take(
            &mut errors,
            "service_account",
            optional(self.service_account.as_deref()).map(Username::parse).transpose(),
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
                post_logout_redirect_uris: post_logout_redirect_uris?,
                audiences: audiences?,
                service_account: service_account?,
                access_token_ttl: access_token_ttl?,
                refresh_token_ttl: refresh_token_ttl?,
                resource_server: self.resource_server,
                pkce: pkce?,
                require_par: self.require_pushed_authorization_requests,
                keys: keys?,
            })
        })();
        match parsed {
            Some(new) if errors.is_empty() => Ok(new),
            _ => Err(errors),
        }
    }

    /// The draft of an existing client, for an edit form and for showing it.
    pub fn of(client: &Client) -> Self {
        Self {
            name: client.name.clone(),
            client_type: client.client_type.as_str().into(),
            grants: client.grants.iter().map(|g| g.as_str().to_owned()).collect(),
            redirect_uris: client.redirect_uris.iter().map(|u| u.as_str().to_owned()).collect(),
            post_logout_redirect_uris: client
                .post_logout_redirect_uris
                .iter()
                .map(|u| u.as_str().to_owned())
                .collect(),
            scopes: client.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            auth_method: Some(client.auth_method.as_str().into()),
            jwks: client.keys.as_ref().and_then(ClientKeys::inline).map(|j| j.as_str().to_owned()),
            jwks_uri: client.keys.as_ref().and_then(ClientKeys::uri).map(|u| u.as_str().to_owned()),
            token_format: Some(client.token_format.as_str().into()),
            pkce: Some(client.pkce.as_str().into()),
            access_token_ttl: client.access_token_ttl.map(|t| t.to_string()),
            refresh_token_ttl: client.refresh_token_ttl.map(|t| t.to_string()),
            audiences: client.audiences.iter().map(|a| a.as_str().to_owned()).collect(),
            service_account: client.service_account.as_ref().map(|sa| sa.username.to_string()),
            resource_server: client.resource_server,
            require_pushed_authorization_requests: client.require_par,
        }
    }

    /// The draft as the console's registration and edit form posts it
    /// (each field named as in the JSON body).
    pub fn from_form(form: &impl FormFields) -> Self {
        Self {
            name: form.text("name"),
            client_type: form.text("client_type"),
            grants: form.lines("grants"),
            redirect_uris: form.lines("redirect_uris"),
            post_logout_redirect_uris: form.lines("post_logout_redirect_uris"),
            scopes: form.lines("scopes"),
            auth_method: Some(form.text("auth_method")),
            jwks: Some(form.text("jwks")),
            jwks_uri: Some(form.text("jwks_uri")),
            token_format: Some(form.text("token_format")),
            pkce: Some(form.text("pkce")),
            access_token_ttl: Some(form.text("access_token_ttl")),
            refresh_token_ttl: Some(form.text("refresh_token_ttl")),
            audiences: form.lines("audiences"),
            service_account: Some(form.text("service_account")),
            resource_server: form.checked("resource_server"),
            require_pushed_authorization_requests: form.checked("require_pushed_authorization_requests"),
        }
    }
}

/// A client as stored (never its secret): the one JSON shape of a client,
/// in the admin API and in `tessera client … --json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct App {
    pub client_id: String,
    pub name: String,
    pub client_type: String,
    pub auth_method: String,
    /// The same as `auth_method`, by its name in client registration
    /// metadata (RFC 7591 §2).
    pub token_endpoint_auth_method: String,
    /// The client's registered public keys (a JWK set), if inline.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// Where the client's public keys are fetched from, if anywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    pub grants: Vec<String>,
    pub scopes: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub token_format: String,
    pub pkce: String,
    pub access_token_ttl_seconds: Option<i64>,
    pub refresh_token_ttl_seconds: Option<i64>,
    pub audiences: Vec<String>,
    pub service_account: Option<String>,
    pub resource_server: bool,
    pub require_pushed_authorization_requests: bool,
    pub enabled: bool,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<&Client> for App {
    fn from(client: &Client) -> Self {
        Self {
            client_id: client.id.to_string(),
            name: client.name.clone(),
            client_type: client.client_type.as_str().into(),
            auth_method: client.auth_method.as_str().into(),
            token_endpoint_auth_method: client.auth_method.as_str().into(),
            jwks: client
                .keys
                .as_ref()
                .and_then(ClientKeys::inline)
                .and_then(|jwks| serde_json::from_str(jwks.as_str()).ok()),
            jwks_uri: client.keys.as_ref().and_then(ClientKeys::uri).map(|u| u.as_str().to_owned()),
            grants: client.grants.iter().map(|g| g.as_str().to_owned()).collect(),
            scopes: client.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            redirect_uris: client.redirect_uris.iter().map(|u| u.as_str().to_owned()).collect(),
            post_logout_redirect_uris: client
                .post_logout_redirect_uris
                .iter()
                .map(|u| u.as_str().to_owned())
                .collect(),
            token_format: client.token_format.as_str().into(),
            pkce: client.pkce.as_str().into(),
            access_token_ttl_seconds: client.access_token_ttl.map(|t| t.seconds()),
            refresh_token_ttl_seconds: client.refresh_token_ttl.map(|t| t.seconds()),
            audiences: client.audiences.iter().map(|a| a.as_str().to_owned()).collect(),
            service_account: client.service_account.as_ref().map(|sa| sa.username.to_string()),
            resource_server: client.resource_server,
            require_pushed_authorization_requests: client.require_par,
            enabled: client.enabled,
            created_at: client.created_at.seconds(),
        }
    }
}

fn optional(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// A JSON object, kept as its text; or a string holding that text.
fn json_or_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(deserializer)? {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(text)) => Some(text),
        Some(value @ serde_json::Value::Object(_)) => Some(value.to_string()),
        Some(_) => return Err(serde::de::Error::custom("jwks must be a JWK set: a JSON object or its text")),
    })
}

fn jwks_schema() -> Object {
    ObjectBuilder::new()
        .schema_type([Type::Object, Type::String, Type::Null].into_iter().collect::<SchemaType>())
        .description(Some("A JWK set, `{\"keys\": [...]}`, public keys only"))
        .build()
}

fn client_types() -> Object {
    one_of(ClientType::ALL.iter().map(|v| v.as_str())).build()
}

fn grant_types() -> utoipa::openapi::Array {
    ArrayBuilder::new().items(one_of(GrantType::ALL.iter().map(|v| v.as_str()))).build()
}

fn auth_methods() -> Object {
    nullable_one_of(AuthMethod::ALL.iter().map(|v| v.as_str()))
}

fn token_formats() -> Object {
    nullable_one_of(TokenFormat::ALL.iter().map(|v| v.as_str()))
}

fn pkce_policies() -> Object {
    nullable_one_of(PkcePolicy::ALL.iter().map(|v| v.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(kind: ClientType, grants: &[GrantType], uris: &[&str]) -> NewClient {
        NewClient {
            name: "app".into(),
            client_type: kind,
            auth_method: None,
            token_format: TokenFormat::Jwt,
            grants: grants.iter().copied().collect(),
            scopes: ScopeSet::default(),
            redirect_uris: uris.iter().map(|u| RedirectUri::parse(u).unwrap()).collect(),
            post_logout_redirect_uris: Vec::new(),
            require_par: false,
            audiences: Vec::new(),
            service_account: None,
            access_token_ttl: None,
            refresh_token_ttl: None,
            resource_server: false,
            pkce: PkcePolicy::Required,
            keys: None,
        }
    }

    const CODE: GrantType = GrantType::AuthorizationCode;
    const CB: &str = "https://app.example/cb";

    #[test]
    fn public_clients_use_none_pkce_and_no_client_credentials() {
        let public = client(ClientType::Public, &[CODE, GrantType::RefreshToken], &[CB]);
        assert_eq!(public.validate().unwrap(), AuthMethod::None);
        let optional = NewClient { pkce: PkcePolicy::Optional, ..client(ClientType::Public, &[CODE], &[CB]) };
        assert!(optional.validate().unwrap_err().message.contains("PKCE"));
        let cc = client(ClientType::Public, &[GrantType::ClientCredentials], &[]);
        assert!(cc.validate().is_err());
        let secret = NewClient {
            auth_method: Some(AuthMethod::ClientSecretBasic),
            ..client(ClientType::Public, &[CODE], &[CB])
        };
        assert!(secret.validate().is_err());
    }

    #[test]
    fn grants_and_redirect_uris_must_fit_together() {
        assert!(client(ClientType::Confidential, &[CODE], &[]).validate().is_err());
        assert!(client(ClientType::Confidential, &[GrantType::ClientCredentials], &[CB]).validate().is_err());
        assert!(client(ClientType::Confidential, &[GrantType::RefreshToken], &[]).validate().is_err());
        assert!(client(ClientType::Confidential, &[CODE], &[CB, CB]).validate().is_err());
        let optional =
            NewClient { pkce: PkcePolicy::Optional, ..client(ClientType::Confidential, &[CODE], &[CB]) };
        assert_eq!(optional.validate().unwrap(), AuthMethod::ClientSecretBasic);
    }

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
            access_token_ttl: Some("5x".into()),
            service_account: Some("has space".into()),
            ..draft()
        };
        let fields: Vec<_> = bad.parse().unwrap_err().into_iter().map(|e| e.field.unwrap()).collect();
        assert_eq!(fields, ["name", "grants", "redirect_uris", "access_token_ttl", "service_account"]);
    }

    #[test]
    fn a_public_client_never_gets_a_secret_method() {
        let public = ClientDraft {
            client_type: "public".into(),
            auth_method: Some("client_secret_post".into()),
            grants: vec!["authorization_code".into()],
            redirect_uris: vec!["https://a.example/cb".into()],
            ..draft()
        };
        assert_eq!(public.parse().unwrap().auth_method, Some(AuthMethod::None));
    }
}
