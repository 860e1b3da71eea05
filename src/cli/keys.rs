//! `tessera keys …`: the signing keys.

use clap::{Args, Subcommand};

use super::output::{seconds_time, table};
use super::{command_line_actor, DatabaseArgs, Output};
use crate::domain::Lifetime;
use crate::startup::Core;

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys and their state
    List,
    /// Publish a new key now; it starts signing after --activate-in
    Rotate {
        /// Delay before the new key signs, e.g. 1h (default TESSERA_KEY_PUBLISH_AHEAD)
        #[arg(long)]
        activate_in: Option<String>,
    },
}

pub async fn run(core: &Core, command: KeysCommand, out: Output) -> anyhow::Result<()> {
    match command {
        KeysCommand::List => {
            let keys = core.keys.current().describe(core.clock.now());
            let rows = keys
                .iter()
                .map(|k| {
                    vec![
                        k.kid.clone(),
                        k.alg.to_owned(),
                        k.state.as_str().to_owned(),
                        seconds_time(k.activates_at),
                        k.unpublished_at.map(seconds_time).unwrap_or_default(),
                    ]
                })
                .collect();
            let text = table(&["KID", "ALG", "STATE", "ACTIVATES AT", "UNPUBLISHED AT"], rows);
            out.print(serde_json::to_value(&keys)?, text)
        }
        KeysCommand::Rotate { activate_in } => {
            let ahead = activate_in.map(|a| a.parse::<Lifetime>()).transpose()?;
            let key = core.admin.rotate_keys(&command_line_actor(), ahead).await?;
            let text = format!(
                "published key {} ({}); it signs from {} on. Resource servers that pin a PEM must fetch /oauth2/keys/{}.pem before then.",
                key.kid,
                key.alg,
                seconds_time(key.activates_at),
                key.kid
            );
            out.print(serde_json::to_value(&key)?, text)
        }
    }
}
