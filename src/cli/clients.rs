//! `tessera client …`: OAuth clients (apps). A new client is parsed by the
//! same `ClientDraft` the console and the admin API use.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::json;

use super::output::{table, time, yes_no};
use super::{command_line_actor, DatabaseArgs, Output};
use crate::domain::{App, Client, ClientDraft, Grace, UnixTime, MAX_JWKS_BYTES};
use crate::service::admin::ClientWithSecret;
use crate::service::ServiceError;
use crate::startup::Core;

#[derive(Debug, Args)]
pub struct ClientArgs {
    #[command(subcommand)]
    pub command: ClientCommand,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its secret once
    Create(Box<ClientCreateArgs>),
    /// List clients
    List,
    /// Show one client
    Show {
        /// The client id
        id: String,
    },
    /// Issue a new secret; the old one works for the grace period
    RotateSecret {
        /// The client id
        id: String,
        /// How long the old secret keeps working, e.g. 24h; 0s ends it at once
        /// (default TESSERA_SECRET_ROTATION_GRACE)
        #[arg(long)]
        grace: Option<String>,
    },
    /// Disable a client: its tokens stop working for good
    Disable {
        /// The client id
        id: String,
    },
    /// Enable a disabled client (tokens issued before it was disabled stay dead)
    Enable {
        /// The client id
        id: String,
    },
    /// Delete a client and its tokens
    Delete {
        /// The client id
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct ClientCreateArgs {
    /// A public client (a browser or desktop app): no secret, the authorization_code
    /// grant with PKCE (and refresh_token, token exchange); no client_credentials
    #[arg(long)]
    public: bool,
    /// A file holding the client's public keys as a JWK set (for
    /// private_key_jwt and the jwt-bearer grant; never the private key)
    #[arg(long, value_name = "FILE")]
    jwks: Option<PathBuf>,
    #[command(flatten)]
    draft: ClientDraft,
}

impl ClientCreateArgs {
    /// The draft, with the key set read from its file.
    pub fn draft(self) -> anyhow::Result<ClientDraft> {
        let client_type = if self.public { "public" } else { "confidential" };
        let jwks = match &self.jwks {
            Some(path) => Some(read_key_file(path)?),
            None => None,
        };
        Ok(ClientDraft { client_type: client_type.into(), jwks, ..self.draft })
    }
}

/// The text of a JWK set file, refusing one too large to be a key set
/// before reading it whole.
fn read_key_file(path: &Path) -> anyhow::Result<String> {
    let shown = path.display();
    let size = std::fs::metadata(path).with_context(|| format!("cannot read --jwks {shown}"))?.len();
    if size > MAX_JWKS_BYTES as u64 {
        anyhow::bail!("--jwks {shown} is larger than {} KiB: it is not a JWK set", MAX_JWKS_BYTES / 1024);
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read --jwks {shown} as UTF-8 text"))
}

pub async fn run(core: &Core, command: ClientCommand, out: Output) -> anyhow::Result<()> {
    let admin = &core.admin;
    let actor = command_line_actor();
    match command {
        ClientCommand::Create(args) => {
            let new = args.draft()?.parse().map_err(ServiceError::from_field_errors)?;
            let created = admin.create_client(&actor, new).await?;
            out.print(secret_json(&created)?, secret_text(&created, "created client", core.clock.now()))
        }
        ClientCommand::List => {
            let clients = admin.list_clients().await?;
            let rows = clients
                .iter()
                .map(|c| {
                    vec![
                        c.id.to_string(),
                        c.name.clone(),
                        c.grants.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(","),
                        c.acting_username().map(|u| u.to_string()).unwrap_or_default(),
                        c.token_format.to_string(),
                        yes_no(c.enabled),
                    ]
                })
                .collect();
            let text = table(&["CLIENT ID", "NAME", "GRANTS", "SERVICE ACCOUNT", "FORMAT", "ENABLED"], rows);
            out.print(clients.iter().map(client_json).collect::<anyhow::Result<_>>()?, text)
        }
        ClientCommand::Show { id } => {
            let client = admin.find_client(&id).await?;
            let value = client_json(&client)?;
            let text = serde_json::to_string_pretty(&value)?;
            out.print(value, text)
        }
        ClientCommand::RotateSecret { id, grace } => {
            let grace = grace.map(|g| g.parse::<Grace>()).transpose()?;
            let rotated = admin.rotate_client_secret(&actor, &id, grace).await?;
            out.print(
                secret_json(&rotated)?,
                secret_text(&rotated, "rotated the secret of client", core.clock.now()),
            )
        }
        ClientCommand::Disable { id } => {
            admin.set_client_enabled(&actor, &id, false).await?;
            out.print(json!({"client_id": id, "enabled": false}), format!("disabled client {id}"))
        }
        ClientCommand::Enable { id } => {
            admin.set_client_enabled(&actor, &id, true).await?;
            out.print(json!({"client_id": id, "enabled": true}), format!("enabled client {id}"))
        }
        ClientCommand::Delete { id } => {
            admin.delete_client(&actor, &id).await?;
            out.print(json!({"client_id": id, "deleted": true}), format!("deleted client {id}"))
        }
    }
}

/// A client as the admin API shows it (`App`): one shape for both.
fn client_json(client: &Client) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::to_value(App::from(client))?)
}

fn secret_json(created: &ClientWithSecret) -> anyhow::Result<serde_json::Value> {
    let mut value = client_json(&created.client)?;
    if let Some(secret) = &created.secret {
        value["client_secret"] = json!(secret.expose());
    }
    if let Some(at) = created.previous_secret_expires_at {
        value["previous_secret_expires_at"] = json!(at.seconds());
    }
    Ok(value)
}

fn secret_text(created: &ClientWithSecret, verb: &str, now: UnixTime) -> String {
    let mut text = format!("{verb} {}\nclient_id:     {}", created.client.name, created.client.id);
    match &created.secret {
        Some(secret) => text.push_str(&format!(
            "\nclient_secret: {}\n\nThe secret is shown only now; store it safely.",
            secret.expose()
        )),
        None if created.client.keys.is_some() => text.push_str(
            "\n\nThis client has no secret: it proves itself with a JWT signed by its private key.",
        ),
        None => text.push_str("\n\nA public client has no secret: it proves itself with PKCE."),
    }
    match created.previous_secret_expires_at {
        Some(at) if at <= now => text.push_str("\nThe previous secret no longer works."),
        Some(at) => text.push_str(&format!("\nThe previous secret keeps working until {}.", time(at))),
        None => {}
    }
    text
}
