//! `tessera service-account …`: the non-human principals clients act as.

use clap::{Args, Subcommand};
use serde_json::json;

use super::output::{table, yes_no};
use super::{command_line_actor, DatabaseArgs, Output};
use crate::domain::{NewServiceAccount, ServiceAccount, ServiceAccountChanges, Username};
use crate::startup::Core;

#[derive(Debug, Args)]
pub struct ServiceAccountArgs {
    #[command(subcommand)]
    pub command: ServiceAccountCommand,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum ServiceAccountCommand {
    /// Create a service account
    Create {
        /// The Jira username tokens will carry
        #[arg(long)]
        username: String,
        /// The name shown on pages (default: the username)
        #[arg(long)]
        display_name: Option<String>,
        /// May be given the tessera:admin scope (the admin API)
        #[arg(long)]
        admin: bool,
    },
    /// List service accounts
    List,
    /// Disable a service account: its clients' tokens stop working for good
    Disable {
        /// The service account's username
        username: String,
    },
    /// Enable a disabled service account (tokens issued before it was disabled stay dead)
    Enable {
        /// The service account's username
        username: String,
    },
}

pub async fn run(core: &Core, command: ServiceAccountCommand, out: Output) -> anyhow::Result<()> {
    let admin = &core.admin;
    let actor = command_line_actor();
    match command {
        ServiceAccountCommand::Create { username, display_name, admin: flagged } => {
            let new = NewServiceAccount {
                username: Username::parse(&username)?,
                display_name: display_name.filter(|d| !d.trim().is_empty()),
            };
            let mut account = admin.create_service_account(&actor, new).await?;
            if flagged {
                let changes = ServiceAccountChanges {
                    username: account.username.clone(),
                    display_name: account.display_name.clone(),
                    admin: true,
                };
                account = admin.update_service_account(&actor, &account.username.clone(), changes).await?;
            }
            out.print(account_json(&account), format!("created service account {}", account.username))
        }
        ServiceAccountCommand::List => {
            let accounts = admin.list_service_accounts().await?;
            let rows = accounts
                .iter()
                .map(|a| {
                    vec![
                        a.username.to_string(),
                        a.display_name.clone().unwrap_or_default(),
                        yes_no(a.admin),
                        yes_no(a.enabled),
                    ]
                })
                .collect();
            let text = table(&["USERNAME", "DISPLAY NAME", "ADMIN API", "ENABLED"], rows);
            out.print(accounts.iter().map(account_json).collect(), text)
        }
        ServiceAccountCommand::Disable { username } => {
            admin.set_service_account_enabled(&actor, &Username::parse(&username)?, false).await?;
            out.print(
                json!({"username": username, "enabled": false}),
                format!("disabled service account {username}"),
            )
        }
        ServiceAccountCommand::Enable { username } => {
            admin.set_service_account_enabled(&actor, &Username::parse(&username)?, true).await?;
            out.print(
                json!({"username": username, "enabled": true}),
                format!("enabled service account {username}"),
            )
        }
    }
}

fn account_json(account: &ServiceAccount) -> serde_json::Value {
    json!({
        "username": account.username.as_str(),
        "display_name": account.display_name,
        "admin": account.admin,
        "enabled": account.enabled,
        "created_at": account.created_at.seconds(),
    })
}
