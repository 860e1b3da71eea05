//! The device authorization grant (RFC 8628): a program on a machine
//! without a browser (a command-line tool, a build agent) asks for a pair
//! of codes, shows the person the short one, and polls the token endpoint
//! with the long one while the person approves in a browser elsewhere.
//! Both codes are stored as keyed digests only; the HTTP layer renders the
//! verification pages over these rules.

use std::sync::Arc;

use serde::Serialize;

use super::authorize::{split_scope, GRANT_MAX_LIFETIME_SECONDS};
use super::params::FormParams;
use super::{OAuthError, OAuthServer, Request};
use crate::crypto::secrets::{generate_secret, random_id};
use crate::crypto::user_code;
use crate::domain::{GrantId, GrantType, ScopeSet, UnixTime, User};
use crate::service::audit::{Actor, Kind, Target};
use crate::store::{DeviceStatus, NewDeviceCode, NewGrant, StoreError, StoredClient};

/// How long a device has for its person to approve (RFC 8628 §3.2).
pub const DEVICE_CODE_LIFETIME_SECONDS: i64 = 600;
/// The least time between polls, to start with.
pub const POLL_INTERVAL_SECONDS: i64 = 5;
/// What each poll that comes too fast adds to the interval (§3.5).
pub const SLOW_DOWN_SECONDS: i64 = 5;
/// Prefix of device codes, so a leaked one is recognisable.
pub const DEVICE_CODE_PREFIX: &str = "tsr_dc_";

/// The answer of the device authorization endpoint (RFC 8628 §3.2).
#[derive(Debug, Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// A device authorization waiting for its person, as the verification
/// page shows it.
#[derive(Debug, Clone)]
pub struct PendingDevice {
    /// Canonical (no dash); shown as `BCDF-GHJK`.
    pub user_code: String,
    pub client: Arc<StoredClient>,
    pub scope: ScopeSet,
}

impl PendingDevice {
    pub fn shown_code(&self) -> String {
        user_code::display(&self.user_code)
    }
}

/// Why a typed user code leads nowhere; each has its own page.
#[derive(Debug)]
pub enum DeviceLookup {
    /// No such code (or its app is gone): counts against the guesser.
    Unknown,
    Expired,
    /// Approved or denied already.
    Answered,
    /// Too many wrong codes from this browser or address: wait this long.
    Throttled(u64),
    Failed(OAuthError),
}

/// Who is typing user codes: the browser session (a digest of its CSRF
/// token, never the token) and the address.
#[derive(Debug, Clone)]
pub struct Typist {
    pub session: String,
    pub address: Option<std::net::IpAddr>,
}

impl From<StoreError> for DeviceLookup {
    fn from(error: StoreError) -> Self {
        Self::Failed(error.into())
    }
}

impl OAuthServer {
    /// `POST /oauth2/device_authorization`: the client (authenticated as
    /// at the token endpoint; a public client by its id) gets a device
    /// code and a user code.
    pub async fn device_authorization(
        &self,
        request: &Request<'_>,
    ) -> Result<DeviceAuthorization, OAuthError> {
        let params = FormParams::parse(request.body)?;
        let now = self.clock.now();
        let client = self.authenticate(request, &params, now).await?;
        let client = &client.client;
        if !client.allows_grant(GrantType::DeviceCode) {
            return Err(OAuthError::UnauthorizedClient(
                "this client may not use the device authorization grant".into(),
            ));
        }
        let scope = match params.get("scope").filter(|s| !s.trim().is_empty()) {
            None => client.scopes.clone(),
            Some(text) => {
                let asked = ScopeSet::parse(text).map_err(|e| OAuthError::InvalidScope(e.message))?;
                // As in the browser: values this server does not know are
                // ignored, known ones the client lacks refused.
                let (allowed, outside) = split_scope(client, &asked);
                if self.knows_any(&outside).await? {
                    return Err(OAuthError::InvalidScope(
                        "a requested scope is not allowed for this client".into(),
                    ));
                }
                allowed
            }
        };
        let device_code = generate_secret(DEVICE_CODE_PREFIX);
        let code = user_code::generate();
        let record = NewDeviceCode {
            device_code_hash: self.hasher.digest(device_code.expose()),
            user_code_hash: self.hasher.digest(&code),
            client_id: client.id.clone(),
            scope,
            poll_interval: POLL_INTERVAL_SECONDS,
            created_at: now,
            expires_at: now.plus(DEVICE_CODE_LIFETIME_SECONDS),
        };
        self.store.create_device_code(&record).await?;
        let verification_uri = format!("{}/oauth2/device", self.config.issuer);
        let shown = user_code::display(&code);
        Ok(DeviceAuthorization {
            device_code: device_code.expose().to_owned(),
            verification_uri_complete: format!("{verification_uri}?user_code={shown}"),
            user_code: shown,
            verification_uri,
            expires_in: DEVICE_CODE_LIFETIME_SECONDS,
            interval: POLL_INTERVAL_SECONDS,
        })
    }

    /// The device authorization a typed user code names, if it still
    /// waits; wrong codes count against the typist (RFC 8628 §5.1).
    pub async fn pending_device(&self, typed: &str, typist: &Typist) -> Result<PendingDevice, DeviceLookup> {
        let now = self.clock.now();
        let session = self.hasher.digest(&typist.session);
        if let Some(wait) = self.user_codes.blocked(Some(&session), typist.address, now) {
            return Err(DeviceLookup::Throttled(wait));
        }
        let found = match user_code::normalize(typed) {
            Some(code) => {
                self.store.find_user_code(&self.hasher.digest(&code)).await?.map(|stored| (code, stored))
            }
            None => None,
        };
        let Some((code, stored)) = found else {
            self.user_codes.record_failure(Some(&session), typist.address, now);
            let actor = Actor::new("(device verification)", typist.address);
            self.audit.record_later(
                Kind::DeviceCodeFailed,
                &actor,
                Target::None,
                "a user code that names no device",
            );
            return Err(DeviceLookup::Unknown);
        };
        if stored.status != DeviceStatus::Pending {
            return Err(DeviceLookup::Answered);
        }
        if now >= stored.expires_at {
            return Err(DeviceLookup::Expired);
        }
        let client = match self.clients.find(self.store.as_ref(), &stored.client_id, now).await? {
            Some(client) if client.client.enabled && client.client.allows_grant(GrantType::DeviceCode) => {
                client
            }
            _ => return Err(DeviceLookup::Unknown),
        };
        Ok(PendingDevice { user_code: code, client, scope: stored.scope })
    }

    /// The person approved: a grant for them (the admin scope only for an
    /// admin), tied to the device code. False if the code stopped waiting
    /// meanwhile.
    pub async fn approve_device(
        &self,
        device: &PendingDevice,
        user: &User,
        auth_time: UnixTime,
        actor: &Actor,
    ) -> Result<bool, OAuthError> {
        let now = self.clock.now();
        let limits = self.store.scope_limits().await?;
        let grant = NewGrant {
            grant_id: GrantId::new(random_id(16)),
            client_id: device.client.client.id.clone(),
            user_id: user.id.clone(),
            scope: limits.grantable(user, &device.scope),
            auth_time,
            expires_at: now.plus(GRANT_MAX_LIFETIME_SECONDS),
        };
        let approved =
            self.store.approve_device_code(&self.hasher.digest(&device.user_code), &grant, now).await?;
        if approved {
            let detail =
                format!("approved a device for {} (scope {})", device.client.client.name, grant.scope);
            self.audit.record_later(Kind::DeviceApproved, actor, Target::Grant(&grant.grant_id), &detail);
        }
        Ok(approved)
    }

    /// The person said no: the device's next poll is `access_denied`.
    pub async fn deny_device(&self, device: &PendingDevice, actor: &Actor) -> Result<bool, OAuthError> {
        let denied =
            self.store.deny_device_code(&self.hasher.digest(&device.user_code), self.clock.now()).await?;
        if denied {
            let detail = format!("denied a device for {}", device.client.client.name);
            self.audit.record_later(
                Kind::DeviceDenied,
                actor,
                Target::Client(&device.client.client.id),
                &detail,
            );
        }
        Ok(denied)
    }
}
