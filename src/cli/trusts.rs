//! `tessera trust …`: trusted outside issuers (a CI platform, a Kubernetes
//! cluster) whose JWTs buy tokens for a service account.

use clap::{Args, Subcommand};
use serde_json::json;

use super::output::{table, time, yes_no};
use super::{command_line_actor, DatabaseArgs, Output};
use crate::domain::{Trust, TrustDraft, TrustView};
use crate::service::trusts::conditions;
use crate::startup::Core;

#[derive(Debug, Args)]
pub struct TrustArgs {
    #[command(subcommand)]
    pub command: TrustCommand,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Trust an outside issuer's JWTs that meet the conditions
    Create(Box<TrustDraft>),
    /// List trusts
    List,
    /// Show one trust
    Show {
        /// The trust id
        id: String,
    },
    /// Disable a trust: its JWTs are refused and its tokens stop working
    Disable {
        /// The trust id
        id: String,
    },
    /// Enable a disabled trust (tokens issued before it was disabled stay dead)
    Enable {
        /// The trust id
        id: String,
    },
    /// Delete a trust; its tokens stop working
    Delete {
        /// The trust id
        id: String,
    },
}

pub async fn run(core: &Core, command: TrustCommand, out: Output) -> anyhow::Result<()> {
    let trusts = &core.trusts;
    let actor = command_line_actor();
    match command {
        TrustCommand::Create(draft) => {
            let trust = trusts.create_from(&actor, &draft).await?;
            let text = format!("created trust {}\n{}", trust.id, describe(&trust));
            out.print(view(&trust)?, text)
        }
        TrustCommand::List => {
            let list = trusts.list().await?;
            let rows = list
                .iter()
                .map(|t| {
                    vec![
                        t.id.to_string(),
                        t.issuer.as_str().to_owned(),
                        conditions(t),
                        t.service_account.username.to_string(),
                        yes_no(t.enabled),
                    ]
                })
                .collect();
            let text = table(&["TRUST ID", "ISSUER", "CONDITIONS", "SERVICE ACCOUNT", "ENABLED"], rows);
            out.print(list.iter().map(view).collect::<anyhow::Result<_>>()?, text)
        }
        TrustCommand::Show { id } => {
            let trust = trusts.find(&id).await?;
            out.print(view(&trust)?, describe(&trust))
        }
        TrustCommand::Disable { id } => {
            trusts.set_enabled(&actor, &id, false).await?;
            out.print(json!({"id": id, "enabled": false}), format!("disabled trust {id}"))
        }
        TrustCommand::Enable { id } => {
            trusts.set_enabled(&actor, &id, true).await?;
            out.print(json!({"id": id, "enabled": true}), format!("enabled trust {id}"))
        }
        TrustCommand::Delete { id } => {
            trusts.delete(&actor, &id).await?;
            out.print(json!({"id": id, "deleted": true}), format!("deleted trust {id}"))
        }
    }
}

fn view(trust: &Trust) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::to_value(TrustView::from(trust))?)
}

fn describe(trust: &Trust) -> String {
    let clients: Vec<String> = trust.clients.iter().map(ToString::to_string).collect();
    let presented_by = match (clients.is_empty(), trust.without_client) {
        (false, true) => format!("{}, or no client", clients.join(", ")),
        (false, false) => clients.join(", "),
        (true, _) => "no client needed".to_owned(),
    };
    format!(
        "issuer:          {}\njwks_uri:        {}\naudience:        {}\nconditions:      {}\nservice account: {}\nscopes:          {}\nmax lifetime:    {}\npresented by:    {}\nenabled:         {}\ncreated:         {}",
        trust.issuer.as_str(),
        trust.jwks_uri.as_str(),
        trust.audience.as_str(),
        conditions(trust),
        trust.service_account.username,
        trust.scopes,
        trust.max_ttl,
        presented_by,
        yes_no(trust.enabled),
        time(trust.created_at),
    )
}
