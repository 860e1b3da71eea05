//! `tessera scope …`: the scopes clients may be granted.

use clap::{Args, Subcommand};
use serde_json::json;

use super::output::{table, yes_no};
use super::{command_line_actor, DatabaseArgs, Output};
use crate::domain::ScopeName;
use crate::startup::Core;

#[derive(Debug, Args)]
pub struct ScopeArgs {
    #[command(subcommand)]
    pub command: ScopeCommand,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum ScopeCommand {
    /// Create a scope
    Create {
        /// The scope's name, e.g. jira:read
        name: String,
        /// What the scope allows, shown on the consent page
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List scopes
    List,
}

pub async fn run(core: &Core, command: ScopeCommand, out: Output) -> anyhow::Result<()> {
    let admin = &core.admin;
    match command {
        ScopeCommand::Create { name, description } => {
            let scope =
                admin.create_scope(&command_line_actor(), ScopeName::parse(&name)?, &description).await?;
            out.print(
                json!({"name": scope.name.as_str(), "description": scope.description}),
                format!("created scope {}", scope.name),
            )
        }
        ScopeCommand::List => {
            let scopes = admin.list_scopes().await?;
            let rows = scopes
                .iter()
                .map(|s| vec![s.name.to_string(), s.description.clone(), yes_no(s.builtin)])
                .collect();
            let text = table(&["NAME", "DESCRIPTION", "BUILT-IN"], rows);
            let value = scopes
                .iter()
                .map(|s| json!({"name": s.name.as_str(), "description": s.description, "builtin": s.builtin, "enabled": s.enabled}))
                .collect();
            out.print(value, text)
        }
    }
}
