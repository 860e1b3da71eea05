//! `tessera purge` and `tessera healthcheck`: the commands operators run
//! by hand or from a container's health check.

use clap::Args;

use super::{DatabaseArgs, Output};
use crate::config::{RawSettings, Settings};
use crate::startup::Core;

#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Count what would be deleted, delete nothing
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Listener")]
pub struct HealthcheckArgs {
    /// The management listener to ask (default: TESSERA_MANAGEMENT_BIND)
    #[arg(long, value_name = "ADDRESS")]
    management_bind: Option<String>,
    /// The main listener, asked when the management one is off (default: TESSERA_BIND)
    #[arg(long, value_name = "ADDRESS")]
    bind: Option<String>,
}

impl HealthcheckArgs {
    pub fn settings(&self, config: Option<&std::path::Path>) -> anyhow::Result<Settings> {
        let mut raw = RawSettings::from_environment()?;
        raw.management_bind = self.management_bind.clone().or(raw.management_bind);
        raw.bind = self.bind.clone().or(raw.bind);
        Settings::load(raw, config)
    }
}

pub async fn purge(core: &Core, args: PurgeArgs, out: Output) -> anyhow::Result<()> {
    let report = if args.dry_run { core.retention.dry_run().await? } else { core.retention.purge().await? };
    if !report.ran {
        anyhow::bail!("another node is purging right now; try again when it is done");
    }
    let verb = if args.dry_run { "would delete" } else { "deleted" };
    let mut text = format!("{verb} {} rows in {:.1} s", report.total, report.seconds);
    for table in report.tables.iter().filter(|t| t.rows > 0) {
        text.push_str(&format!("\n  {:<20} {}", table.table, table.rows));
    }
    out.print(serde_json::to_value(&report)?, text)
}

/// `GET /healthz` on this machine's listener, with a 3 s deadline.
pub fn healthcheck(settings: &Settings) -> anyhow::Result<()> {
    use std::io::{Read as _, Write as _};
    let bind = settings.management_bind.as_deref().unwrap_or(&settings.bind);
    let mut address: std::net::SocketAddr =
        bind.parse().map_err(|_| anyhow::anyhow!("cannot check '{bind}': not an IP address and port"))?;
    if address.ip().is_unspecified() {
        address.set_ip(match address {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let timeout = std::time::Duration::from_secs(3);
    let mut stream = std::net::TcpStream::connect_timeout(&address, timeout)
        .map_err(|e| anyhow::anyhow!("nothing answers at {address}: {e}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(format!("GET /healthz HTTP/1.0\r\nHost: {address}\r\n\r\n").as_bytes())?;
    let mut answer = String::new();
    stream.take(4096).read_to_string(&mut answer)?;
    let status = answer.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        println!("healthy");
        Ok(())
    } else {
        anyhow::bail!("{address}/healthz answered '{status}'")
    }
}
