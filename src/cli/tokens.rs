//! `tessera token …`: personal API tokens.

use clap::{Args, Subcommand};
use serde_json::json;

use super::output::{table, time_or};
use super::{command_line_actor, DatabaseArgs, Output};
use crate::domain::{Lifetime, PersonalToken, PersonalTokenId, UnixTime, Username};
use crate::service::personal_tokens::TokenRequest;
use crate::startup::Core;

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a personal API token for a user; the token is printed once
    Create {
        /// The owner's username
        #[arg(long)]
        user: String,
        /// What the token is for, e.g. "deploy script"
        #[arg(long)]
        label: String,
        /// A scope the token carries (repeat, or space-separate)
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Lifetime, e.g. 90d (default: the server's maximum, TESSERA_PAT_MAX_LIFETIME)
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// List personal tokens, everyone's or one user's
    List {
        /// Only this user's tokens
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a personal token by id: it stops working at once
    Revoke {
        /// The token's id (from `token list`), not the token itself; an id
        /// may start with '-'
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
}

pub async fn run(core: &Core, command: TokenCommand, out: Output) -> anyhow::Result<()> {
    let tokens = &core.personal_tokens;
    let now = core.clock.now();
    match command {
        TokenCommand::Create { user, label, scopes, expires_in } => {
            let owner = core.accounts.find_user(&Username::parse(&user)?).await?;
            let expires_in = expires_in.as_deref().map(str::parse::<Lifetime>).transpose()?;
            let request = TokenRequest { label, scopes, expires_in };
            let created = tokens.create(&command_line_actor(), &owner, &request).await?;
            let mut value = token_json(&created.token, now);
            value["token"] = json!(created.secret.expose());
            let text = format!(
                "created personal token {} ('{}') for {}, expires {}\n\n  {}\n\nIt is shown only now: store it in your secret manager.",
                created.token.id,
                created.token.label,
                created.token.username,
                created.token.expires_at.map_or("never".to_owned(), |at| format!("at {}", at.utc())),
                created.secret.expose()
            );
            out.print(value, text)
        }
        TokenCommand::List { user } => {
            let owner = match user {
                Some(name) => Some(core.accounts.find_user(&Username::parse(&name)?).await?),
                None => None,
            };
            let list = tokens.list(owner.as_ref()).await?;
            let rows = list
                .iter()
                .map(|t| {
                    vec![
                        t.id.to_string(),
                        t.username.to_string(),
                        t.label.clone(),
                        t.scope.to_string(),
                        t.status(now).as_str().to_owned(),
                        time_or(t.expires_at, "-"),
                        time_or(t.last_used_at, "-"),
                    ]
                })
                .collect();
            let text = table(&["ID", "USER", "LABEL", "SCOPE", "STATUS", "EXPIRES AT", "LAST USED AT"], rows);
            out.print(list.iter().map(|t| token_json(t, now)).collect(), text)
        }
        TokenCommand::Revoke { id } => {
            tokens.revoke(&command_line_actor(), &PersonalTokenId::new(id.as_str()), None).await?;
            out.print(json!({"id": id, "revoked": true}), format!("revoked personal token {id}"))
        }
    }
}

fn token_json(token: &PersonalToken, now: UnixTime) -> serde_json::Value {
    json!({
        "id": token.id,
        "username": token.username.as_str(),
        "label": token.label,
        "scope": token.scope.to_string(),
        "status": token.status(now).as_str(),
        "created_at": token.created_at.seconds(),
        "expires_at": token.expires_at.map(UnixTime::seconds),
        "last_used_at": token.last_used_at.map(UnixTime::seconds),
    })
}
