//! The authorization endpoint's rules (RFC 6749 §4.1, RFC 7636, RFC 9207,
//! OIDC Core §3.1.2): which requests may redirect at all, what each error
//! is, when the user must sign in or consent, and the code that ends it.
//! The HTTP layer renders pages and sets cookies; it asks this module what
//! to do.

use std::sync::Arc;

use url::form_urlencoded;

use super::claims::ClaimsRequest;
use super::params::FormParams;
use super::OAuthServer;
use crate::crypto::jwt::verify_id_token_hint;
use crate::crypto::secrets::{generate_secret, random_id};
use crate::domain::{
    Client, ClientId, ClientType, CodeChallenge, GrantId, GrantType, PkcePolicy, RedirectUri, ScopeSet,
    UnixTime, User, UserId,
};
use crate::store::{NewCode, StoreError, StoredClient, StoredSession};

/// Codes live 60 s (SEC-B06).
pub const CODE_LIFETIME_SECONDS: i64 = 60;
/// A grant (and every refresh token of it) ends after this, whatever happens.
pub const GRANT_MAX_LIFETIME_SECONDS: i64 = 365 * 86_400;
/// Longest `state` or `nonce` accepted; longer is refused, never truncated.
const MAX_ECHOED_LENGTH: usize = 4_096;
/// Longest `login_hint` used; a longer one is ignored (it is only a hint).
const MAX_LOGIN_HINT: usize = 256;
/// How long a pushed request lives once opened: the person's time to sign
/// in and approve.
pub const PUSHED_FLOW_SECONDS: i64 = 600;
/// Fields of Tessera's own sign-in and consent forms, posted back to the
/// authorization endpoint beside the protocol parameters.
pub const FORM_FIELDS: &[&str] = &["tessera_action", "tessera_csrf", "username", "password"];

/// A validated authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub client: Arc<StoredClient>,
    pub redirect_uri: String,
    pub redirect_uri_given: bool,
    pub state: Option<String>,
    pub scope: ScopeSet,
    pub challenge: Option<CodeChallenge>,
    pub nonce: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    /// The person an `id_token_hint` names: someone else signed in must
    /// sign in again (or, with `prompt=none`, `login_required`).
    pub expected_user: Option<UserId>,
    /// The username to offer on the sign-in form (`login_hint`, or the
    /// person `id_token_hint` names).
    pub login_hint: Option<String>,
    /// The `claims` request parameter (OIDC Core §5.5).
    pub claims: ClaimsRequest,
    /// The digest of the `request_uri` this request was pushed under
    /// (RFC 9126): its answer uses it up.
    pub pushed: Option<String>,
}

/// Why a request is refused, before it is known how to answer: a page
/// while the redirect URI is not trusted, else an error for the client —
/// a redirect at the authorization endpoint, JSON at the PAR endpoint.
#[derive(Debug)]
pub(crate) enum Refused {
    Page { status: u16, message: String },
    Back { request: Box<AuthorizationRequest>, code: &'static str, description: String },
}

impl Refused {
    fn back(request: &AuthorizationRequest, code: &'static str, description: String) -> Self {
        Self::Back { request: Box::new(request.clone()), code, description }
    }

    fn from_page(error: AuthorizeError) -> Self {
        match error {
            AuthorizeError::Page { status, message } => Self::Page { status, message },
            AuthorizeError::Redirect(_) => {
                Self::Page { status: 400, message: "The request cannot be completed.".into() }
            }
        }
    }

    fn into_authorize_error(self, issuer: &str) -> AuthorizeError {
        match self {
            Self::Page { status, message } => AuthorizeError::Page { status, message },
            Self::Back { request, code, description } => request.error(issuer, code, &description),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// Why a request ends without a code.
#[derive(Debug)]
pub enum AuthorizeError {
    /// Client or redirect URI could not be trusted: an error page, never a
    /// redirect (SEC-A04).
    Page { status: u16, message: String },
    /// The redirect URI is verified: the error goes back to the client.
    Redirect(String),
}

/// What the browser should see next.
#[derive(Debug)]
pub enum Next {
    SignIn,
    Consent,
    /// Go back to the client with this URL.
    Redirect(String),
}

impl AuthorizationRequest {
    /// The URL that carries `params` back to the client, with `state` and
    /// `iss` (RFC 9207); correctly percent-encoded whatever they contain.
    pub fn response_url(&self, issuer: &str, params: &[(&str, &str)]) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in params {
            query.append_pair(name, value);
        }
        if let Some(state) = &self.state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", issuer);
        let separator = if self.redirect_uri.contains('?') { '&' } else { '?' };
        format!("{}{separator}{}", self.redirect_uri, query.finish())
    }

    fn error(&self, issuer: &str, code: &str, description: &str) -> AuthorizeError {
        AuthorizeError::Redirect(
            self.response_url(issuer, &[("error", code), ("error_description", description)]),
        )
    }

    pub fn is_public(&self) -> bool {
        self.client.client.client_type == ClientType::Public
    }
}

impl Prompt {
    /// The `prompt` parameter (OIDC Core §3.1.2.1): space-separated values;
    /// an unknown one, or `none` with another, is refused with the
    /// `error_description` to send back.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let mut prompt = Self::default();
        for value in text.split(' ').filter(|v| !v.is_empty()) {
            match value {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => {}
                _ => return Err("prompt has an unknown value"),
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err("prompt=none cannot be combined with other values");
        }
        Ok(prompt)
    }
}

/// The `max_age` parameter: a whole, non-negative number of seconds.
pub fn parse_max_age(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().filter(|seconds| *seconds >= 0)
}

fn page(status: u16, message: &str) -> AuthorizeError {
    AuthorizeError::Page { status, message: message.to_owned() }
}

/// Why a request whose client and redirect URI are trusted is refused: the
/// error code and description sent back to the client.
type Refusal = (&'static str, String);

fn refuse<T>(code: &'static str, description: &str) -> Result<T, Refusal> {
    Err((code, description.to_owned()))
}

impl OAuthServer {
    /// Validates an authorization request in the order that decides whether
    /// an error may be redirected: client and redirect URI first (until both
    /// are trusted, every error is a page), then the rest (errors go back to
    /// the client with `state` and `iss`).
    pub async fn validate_authorization(
        &self,
        params: &FormParams,
        repeated: &[String],
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        if repeated.iter().any(|r| r == "client_id" || r == "redirect_uri") {
            return Err(page(400, "The request repeats client_id or redirect_uri, so it cannot be trusted."));
        }
        let client = self.requesting_client(params.get("client_id")).await?;
        if let Some(request_uri) = params.get("request_uri") {
            return self.pushed_request(client, request_uri, params).await;
        }
        if client.client.require_par {
            return Err(page(
                400,
                "This application must push its authorization requests first (PAR), and this one did not come that way.",
            ));
        }
        let issuer = self.config.issuer.clone();
        self.read_authorization(client, params, repeated)
            .await
            .map_err(|refused| refused.into_authorize_error(&issuer))
    }

    /// The request a `request_uri` stands for (RFC 9126 §4): pushed by this
    /// client, unused and unexpired, and alone — no other parameter may
    /// come beside it, so nothing is mixed into what the client pushed.
    async fn pushed_request(
        &self,
        client: Arc<StoredClient>,
        request_uri: &str,
        params: &FormParams,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        let alone = params
            .iter()
            .all(|(name, _)| name == "client_id" || name == "request_uri" || FORM_FIELDS.contains(&name));
        if !alone {
            return Err(page(
                400,
                "A pushed request stands alone: only client_id and request_uri may come with it. Go back to the application and start again.",
            ));
        }
        let hash = self.hasher.digest(request_uri);
        let now = self.clock.now();
        let stored = self
            .store
            .open_pushed_request(&hash, &client.client.id, now, PUSHED_FLOW_SECONDS)
            .await
            .map_err(|error| match error {
                StoreError::Unavailable(_) => {
                    page(503, "Tessera cannot reach its database right now. Try again in a moment.")
                }
                other => {
                    tracing::error!(error = ?other, "authorization request failed");
                    page(500, "Something went wrong; the server log has the details.")
                }
            })?;
        let Some(stored) = stored else {
            return Err(page(
                400,
                "The pushed request is unknown, expired or already used. Go back to the application and start again.",
            ));
        };
        let pushed = FormParams::parse(stored.as_bytes())
            .map_err(|_| page(500, "Something went wrong; the server log has the details."))?;
        let issuer = self.config.issuer.clone();
        let mut request = self
            .read_authorization(client, &pushed, &[])
            .await
            .map_err(|refused| refused.into_authorize_error(&issuer))?;
        request.pushed = Some(hash);
        Ok(request)
    }

    /// Everything after the client: the redirect URI (until it is trusted
    /// every error is a page), then the rest (errors go back to the client).
    pub(crate) async fn read_authorization(
        &self,
        client: Arc<StoredClient>,
        params: &FormParams,
        repeated: &[String],
    ) -> Result<AuthorizationRequest, Refused> {
        let (redirect_uri, given) = redirect_target(&client.client.redirect_uris, params.get("redirect_uri"))
            .map_err(Refused::from_page)?;
        let mut request = AuthorizationRequest {
            client,
            redirect_uri,
            redirect_uri_given: given,
            state: params.get("state").map(str::to_owned),
            scope: ScopeSet::default(),
            challenge: None,
            nonce: None,
            prompt: Prompt::default(),
            max_age: None,
            expected_user: None,
            login_hint: None,
            claims: ClaimsRequest::default(),
            pushed: None,
        };
        let outside = match read_request(&mut request, params, repeated) {
            Ok(outside) => outside,
            Err((code, description)) => return Err(Refused::back(&request, code, description)),
        };
        self.ignore_unknown_scopes(&request, &outside).await?;
        if let Some(hint) = params.get("login_hint") {
            request.login_hint =
                Some(hint.trim()).filter(|h| !h.is_empty() && h.len() <= MAX_LOGIN_HINT).map(str::to_owned);
        }
        if let Some(hint) = params.get("id_token_hint") {
            let user_id = self
                .hinted_user(&request.client.client.id, hint)
                .map_err(|why| Refused::back(&request, "invalid_request", why.to_owned()))?;
            let user = self.store.find_user(&user_id).await.map_err(|e| self.store_refusal(&request, e))?;
            if let Some(user) = user {
                request.login_hint = Some(user.username.to_string());
            }
            request.expected_user = Some(user_id);
        }
        if request.expected_user.is_none() {
            request.expected_user = request.claims.required_subject().map(UserId::new);
        }
        Ok(request)
    }

    /// Scope values outside the client's are refused when this server
    /// knows them (the client may not have them) and ignored when it does
    /// not (OIDC Core §3.1.2.1: stock clients ask for `address`, `phone`).
    async fn ignore_unknown_scopes(
        &self,
        request: &AuthorizationRequest,
        outside: &ScopeSet,
    ) -> Result<(), Refused> {
        if outside.is_empty() {
            return Ok(());
        }
        if self.knows_any(outside).await.map_err(|e| self.store_refusal(request, e))? {
            return Err(Refused::back(
                request,
                "invalid_scope",
                "a requested scope is not allowed for this client".into(),
            ));
        }
        Ok(())
    }

    /// Whether any of `outside` is a scope this server knows: those are
    /// refused, values it does not know are ignored (OIDC Core §3.1.2.1).
    pub(crate) async fn knows_any(&self, outside: &ScopeSet) -> Result<bool, StoreError> {
        if outside.is_empty() {
            return Ok(false);
        }
        let known = self.store.list_scopes().await?;
        Ok(outside.iter().any(|name| known.iter().any(|scope| &scope.name == name)))
    }

    /// The user an `id_token_hint` names: an ID token this server signed
    /// for this client, expired or not.
    fn hinted_user(&self, client: &ClientId, hint: &str) -> Result<UserId, &'static str> {
        let now = self.clock.now();
        let keys = self.keys.current();
        let claims = verify_id_token_hint(hint, |kid| keys.find(kid, now), &self.config.issuer)
            .map_err(|_| "id_token_hint is not an ID token issued by this server")?;
        if !claims.aud.to_vec().iter().any(|aud| aud == client.as_str()) {
            return Err("id_token_hint was issued to another client");
        }
        Ok(UserId::new(claims.sub))
    }

    /// The enabled client a request names, or the page saying why not.
    async fn requesting_client(&self, client_id: Option<&str>) -> Result<Arc<StoredClient>, AuthorizeError> {
        let Some(client_id) = client_id else {
            return Err(page(400, "The request names no application (client_id is missing)."));
        };
        let unknown = || page(400, "The application that sent you here is not registered or is disabled.");
        let id = ClientId::parse(client_id).map_err(|_| unknown())?;
        match self.clients.find(self.store.as_ref(), &id, self.clock.now()).await {
            Ok(Some(client)) if client.client.enabled => Ok(client),
            Ok(_) => Err(unknown()),
            Err(StoreError::Unavailable(_)) => {
                Err(page(503, "Tessera cannot reach its database right now. Try again in a moment."))
            }
            Err(other) => {
                tracing::error!(error = ?other, "authorization request failed");
                Err(page(500, "Something went wrong; the server log has the details."))
            }
        }
    }

    /// Sign in, consent, or redirect with a code.
    pub async fn next_step(
        &self,
        request: &AuthorizationRequest,
        session: Option<&StoredSession>,
        just_signed_in: bool,
    ) -> Result<Next, AuthorizeError> {
        let now = self.clock.now();
        let issuer = self.config.issuer.as_str();
        let signed_in = session.and_then(|s| s.user.as_ref().filter(|u| u.enabled).map(|u| (u, s.auth_time)));
        let Some((user, auth_time)) = signed_in else {
            return if request.prompt.none {
                Err(request.error(issuer, "login_required", "the user is not signed in"))
            } else {
                Ok(Next::SignIn)
            };
        };
        let auth_time = auth_time.unwrap_or(now);
        let someone_else = request.expected_user.as_ref().is_some_and(|expected| expected != &user.id);
        if someone_else && !just_signed_in {
            return if request.prompt.none {
                Err(request.error(
                    issuer,
                    "login_required",
                    "another user is signed in than id_token_hint names",
                ))
            } else {
                Ok(Next::SignIn)
            };
        }
        let too_old = request.max_age.is_some_and(|max| now.seconds() - auth_time.seconds() >= max);
        if !just_signed_in && (request.prompt.login || too_old) {
            return if request.prompt.none {
                Err(request.error(issuer, "login_required", "the user must sign in again"))
            } else {
                Ok(Next::SignIn)
            };
        }
        // Public clients are asked every time (SEC-A21): their identity is not assured.
        // Claims asked for beyond the scope were never approved as such.
        let beyond_scope = !request.claims.beyond(&request.scope, &self.config.username_claim).is_empty();
        let remembered = if request.prompt.consent || request.is_public() || beyond_scope {
            false
        } else {
            let consent = self
                .store
                .find_consent(&user.id, &request.client.client.id)
                .await
                .map_err(|e| self.store_failure(request, e))?;
            consent.is_some_and(|granted| request.scope.is_subset_of(&granted))
        };
        if remembered {
            return self.issue_code(request, user, auth_time).await.map(Next::Redirect);
        }
        if request.prompt.none {
            return Err(request.error(
                issuer,
                "consent_required",
                "the user has not approved this application",
            ));
        }
        Ok(Next::Consent)
    }

    /// The user approved: remember it and go back with a code.
    pub async fn approve(
        &self,
        request: &AuthorizationRequest,
        user: &User,
        auth_time: UnixTime,
    ) -> Result<String, AuthorizeError> {
        let now = self.clock.now();
        self.store
            .save_consent(&user.id, &request.client.client.id, &request.scope, now)
            .await
            .map_err(|e| self.store_failure(request, e))?;
        self.issue_code(request, user, auth_time).await
    }

    pub async fn deny(&self, request: &AuthorizationRequest) -> String {
        if let Some(pushed) = &request.pushed {
            if let Err(error) = self.store.finish_pushed_request(pushed, self.clock.now()).await {
                tracing::warn!(error = %error, "a denied pushed request stays until it expires");
            }
        }
        request.response_url(
            &self.config.issuer,
            &[("error", "access_denied"), ("error_description", "the user declined")],
        )
    }

    async fn issue_code(
        &self,
        request: &AuthorizationRequest,
        user: &User,
        auth_time: UnixTime,
    ) -> Result<String, AuthorizeError> {
        let now = self.clock.now();
        let limits = self.store.scope_limits().await.map_err(|e| self.store_failure(request, e))?;
        let code = generate_secret("");
        let new = NewCode {
            code_hash: self.hasher.digest(code.expose()),
            grant_id: GrantId::new(random_id(16)),
            client_id: request.client.client.id.clone(),
            user_id: user.id.clone(),
            scope: limits.grantable(user, &request.scope),
            auth_time,
            redirect_uri: request.redirect_uri.clone(),
            redirect_uri_given: request.redirect_uri_given,
            code_challenge: request.challenge.as_ref().map(|c| c.as_str().to_owned()),
            nonce: request.nonce.clone(),
            claims: (!request.claims.is_empty()).then(|| request.claims.to_json()),
            expires_at: now.plus(CODE_LIFETIME_SECONDS),
            grant_expires_at: now.plus(GRANT_MAX_LIFETIME_SECONDS),
        };
        // A pushed request is used up before its code exists: it never yields two.
        if let Some(pushed) = &request.pushed {
            self.store
                .finish_pushed_request(pushed, now)
                .await
                .map_err(|e| self.store_failure(request, e))?;
        }
        self.store.create_code(&new, now).await.map_err(|e| self.store_failure(request, e))?;
        Ok(request.response_url(&self.config.issuer, &[("code", code.expose())]))
    }

    /// After the redirect URI is verified, a storage failure goes back to
    /// the client as `temporarily_unavailable` or `server_error`.
    fn store_failure(&self, request: &AuthorizationRequest, error: StoreError) -> AuthorizeError {
        self.store_refusal(request, error).into_authorize_error(&self.config.issuer)
    }

    fn store_refusal(&self, request: &AuthorizationRequest, error: StoreError) -> Refused {
        match error {
            StoreError::Unavailable(_) => {
                Refused::back(request, "temporarily_unavailable", "try again in a moment".into())
            }
            other => {
                tracing::error!(error = ?other, "authorization request failed");
                Refused::back(request, "server_error", "the server met an unexpected error".into())
            }
        }
    }
}

/// Where the answer goes: the registered URI the request names (exactly),
/// or the only one registered; and whether the request named it.
fn redirect_target(
    registered: &[RedirectUri],
    asked: Option<&str>,
) -> Result<(String, bool), AuthorizeError> {
    match asked {
        Some(asked) => match registered.iter().find(|r| r.matches(asked)) {
            Some(_) => Ok((asked.to_owned(), true)),
            None => Err(page(400, "The redirect URI does not match any registered for this application.")),
        },
        None => match registered {
            [only] => Ok((only.as_str().to_owned(), false)),
            [] => Err(page(400, "This application is not registered for sign-in in the browser.")),
            _ => Err(page(400, "The request must name its redirect URI: the application has several.")),
        },
    }
}

/// Everything after client and redirect URI, into `request`; gives back
/// the asked-for scope values outside the client's, to be refused or
/// ignored.
fn read_request(
    request: &mut AuthorizationRequest,
    params: &FormParams,
    repeated: &[String],
) -> Result<ScopeSet, Refusal> {
    if request.state.as_ref().is_some_and(|s| s.len() > MAX_ECHOED_LENGTH) {
        request.state = None;
        return refuse("invalid_request", "state is too long");
    }
    if let Some(name) = repeated.first() {
        return refuse("invalid_request", &format!("parameter {} is repeated", printable(name)));
    }
    match params.get("response_type") {
        Some("code") => {}
        None => return refuse("invalid_request", "response_type is required"),
        Some(_) => return refuse("unsupported_response_type", "only response_type=code is supported"),
    }
    let client = &request.client.client;
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return refuse("unauthorized_client", "this client may not use the authorization code flow");
    }
    if params.get("request").is_some() {
        return refuse("request_not_supported", "request objects are not supported");
    }
    if params.get("response_mode").is_some_and(|m| m != "query") {
        return refuse("invalid_request", "only response_mode=query is supported");
    }
    let (scope, outside) = requested_scope(client, params.get("scope"))?;
    let challenge =
        pkce_challenge(client, params.get("code_challenge"), params.get("code_challenge_method"))?;
    request.scope = scope;
    request.challenge = challenge;
    request.nonce = params.get("nonce").map(str::to_owned);
    if request.nonce.as_ref().is_some_and(|n| n.len() > MAX_ECHOED_LENGTH) {
        return refuse("invalid_request", "nonce is too long");
    }
    if let Some(prompt) = params.get("prompt") {
        request.prompt = Prompt::parse(prompt).or_else(|why| refuse("invalid_request", why))?;
    }
    if let Some(claims) = params.get("claims") {
        request.claims = ClaimsRequest::parse(claims).or_else(|why| refuse("invalid_request", &why))?;
        if !request.claims.acr_satisfiable() {
            return refuse(
                "access_denied",
                "the essential acr asked for cannot be met: people sign in here with a password (acr 1)",
            );
        }
    }
    if let Some(max_age) = params.get("max_age") {
        let Some(seconds) = parse_max_age(max_age) else {
            return refuse("invalid_request", "max_age must be a whole number of seconds");
        };
        request.max_age = Some(seconds);
    }
    Ok(outside)
}

/// The scope asked for (all the client may have when none is) split into
/// what the client may have and the rest.
fn requested_scope(client: &Client, text: Option<&str>) -> Result<(ScopeSet, ScopeSet), Refusal> {
    let Some(text) = text else {
        return Ok((client.scopes.clone(), ScopeSet::default()));
    };
    match ScopeSet::parse(text) {
        Ok(scope) => Ok(split_scope(client, &scope)),
        Err(_) => refuse("invalid_scope", "scope is malformed"),
    }
}

/// The scope asked for split into what the client may have and the rest.
pub(crate) fn split_scope(client: &Client, asked: &ScopeSet) -> (ScopeSet, ScopeSet) {
    let outside = ScopeSet::from_names(asked.missing_from(&client.scopes).cloned());
    (asked.intersection(&client.scopes), outside)
}

/// The PKCE challenge (S256 only), required unless a confidential client's
/// policy makes it optional.
fn pkce_challenge(
    client: &Client,
    challenge: Option<&str>,
    method: Option<&str>,
) -> Result<Option<CodeChallenge>, Refusal> {
    match (challenge, method) {
        (Some(challenge), method) => CodeChallenge::parse(challenge, method)
            .map(Some)
            .or_else(|e| refuse("invalid_request", &e.message)),
        (None, Some(_)) => refuse("invalid_request", "code_challenge_method without code_challenge"),
        (None, None) if client.pkce == PkcePolicy::Required || client.client_type == ClientType::Public => {
            refuse("invalid_request", "code_challenge required (PKCE with S256)")
        }
        (None, None) => Ok(None),
    }
}

fn printable(name: &str) -> String {
    name.chars().take(40).filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}
