//! `tessera directory`: the LDAP / Active Directory people sign in against
//! — check the settings, sync now, see the last sync, link a local user.

use clap::{Args, Subcommand};
use serde_json::json;

use super::output::{time_or, Output};
use super::{command_line_actor, DatabaseArgs};
use crate::domain::Username;
use crate::service::directory::{DirectoryPeople, SyncTrigger};
use crate::startup::Core;

#[derive(Debug, Args)]
pub struct DirectoryArgs {
    #[command(subcommand)]
    pub command: DirectoryCommand,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Connect, bind as TESSERA_LDAP_BIND_DN and read the user base; with
    /// --user, find that person and the groups that matter here
    Test {
        /// A username to look up (no password is checked)
        #[arg(long)]
        user: Option<String>,
    },
    /// Compare every directory user with the directory now: refresh them,
    /// disable those missing or disabled there (their tokens die at once)
    Sync,
    /// The last sync: when, how it went, how many people it saw
    Status,
    /// Make a local user the directory person with the same username (their
    /// password here stops working; their grants and tokens stay)
    Link {
        /// The local user's username
        username: String,
    },
}

pub async fn run(core: &Core, command: DirectoryCommand, out: Output) -> anyhow::Result<()> {
    let Some(directory) = core.directory.as_deref() else {
        anyhow::bail!("no directory is configured: set TESSERA_LDAP_URL (docs/directory.md)");
    };
    match command {
        DirectoryCommand::Test { user } => test(directory, user.as_deref(), out).await,
        DirectoryCommand::Sync => {
            let report = directory.sync(SyncTrigger::Manual, &command_line_actor()).await?;
            if let Some(error) = &report.error {
                anyhow::bail!("the sync failed and disabled nobody: {error}");
            }
            let text = format!(
                "{} people in the directory; {} users refreshed, {} disabled, {} enabled",
                report.people_seen, report.users_updated, report.users_disabled, report.users_enabled
            );
            out.print(serde_json::to_value(&report)?, text)
        }
        DirectoryCommand::Status => {
            let status = directory.status().await?;
            let value = json!({
                "url": directory.directory().settings().url,
                "last_sync_started_at": status.started_at.map(|t| t.seconds()),
                "last_sync_finished_at": status.finished_at.map(|t| t.seconds()),
                "outcome": status.outcome,
                "error": status.error,
                "people_seen": status.people_seen,
                "users_updated": status.users_updated,
                "users_disabled": status.users_disabled,
                "users_enabled": status.users_enabled,
            });
            let mut text = format!(
                "directory {}\nlast sync: {} ({})\npeople seen {}, users refreshed {}, disabled {}, enabled {}",
                directory.directory().settings().url,
                time_or(status.finished_at, "never"),
                status.outcome.as_deref().unwrap_or("-"),
                status.people_seen,
                status.users_updated,
                status.users_disabled,
                status.users_enabled
            );
            if let Some(error) = &status.error {
                text.push_str(&format!("\nerror: {error}"));
            }
            out.print(value, text)
        }
        DirectoryCommand::Link { username } => {
            let username = Username::parse(&username)?;
            let user = directory.link(&command_line_actor(), &username).await?;
            let dn = user.directory.as_ref().map(|d| d.dn.clone()).unwrap_or_default();
            out.print(
                json!({"username": user.username.as_str(), "dn": dn}),
                format!("{} now signs in with the directory ({dn})", user.username),
            )
        }
    }
}

async fn test(directory: &DirectoryPeople, user: Option<&str>, out: Output) -> anyhow::Result<()> {
    let report = directory.test(user).await;
    if out.json {
        out.print(serde_json::to_value(&report)?, String::new())?;
    } else {
        for step in &report.steps {
            println!("ok: {step}");
        }
    }
    match report.error {
        Some(error) => anyhow::bail!("{error}"),
        None => Ok(()),
    }
}
