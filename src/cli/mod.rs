//! The command line: one file per resource, each a clap command and the
//! code that runs it over the application services. Every command takes
//! `--json`; an error is one line on stderr and a non-zero exit, and
//! changes nothing. Server settings are `serve`'s flags; the other
//! commands read them from the environment and the file, and take only
//! the database's flags.

mod clients;
mod directory;
mod keys;
mod maintenance;
mod output;
mod scopes;
mod service_accounts;
mod tokens;
mod trusts;
mod users;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::clock::SystemClock;
use crate::config::{LogFormat, RawSettings, Settings};
use crate::service::audit::Actor;
use crate::startup::{Application, Core};
use crate::telemetry;
use output::Output;

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "OAuth 2.0 / OpenID Connect authorization server whose tokens Jira accepts",
    after_help = "Server settings are `tessera serve --help`; every one also reads a TESSERA_* variable \
                  and tessera.toml (docs/configuration.md)."
)]
struct Cli {
    /// Configuration file (default: ./tessera.toml if it exists)
    #[arg(long, env = "TESSERA_CONFIG", hide_env_values = true, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print JSON for scripts instead of text for people
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server
    Serve(Box<ServeArgs>),
    #[command(flatten)]
    Stored(StoredCommand),
    /// Exit 0 when the local server answers /healthz (for container health
    /// checks); asks the management listener, else the main one
    Healthcheck(maintenance::HealthcheckArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten, next_help_heading = "Server settings")]
    settings: RawSettings,
}

/// The commands that work on the stored data.
#[derive(Debug, Subcommand)]
enum StoredCommand {
    /// Apply database migrations and exit
    Migrate(DatabaseArgs),
    /// People who sign in (username = their Jira username)
    User(users::UserArgs),
    /// Service accounts: non-human principals with a Jira username
    ServiceAccount(service_accounts::ServiceAccountArgs),
    /// Scopes clients may be granted
    Scope(scopes::ScopeArgs),
    /// OAuth clients (apps)
    Client(clients::ClientArgs),
    /// Signing keys
    Keys(keys::KeysArgs),
    /// Personal API tokens (a person's bearer token for scripts)
    Token(tokens::TokenArgs),
    /// Trusted outside issuers: CI jobs and pods trade their platform's JWT for a token
    Trust(trusts::TrustArgs),
    /// The LDAP / Active Directory people sign in against: test, sync, status, link
    Directory(directory::DirectoryArgs),
    /// Delete rows that can never be valid again (expired and revoked
    /// tokens, ended grants and sessions, old audit events); the server
    /// also does this every TESSERA_PURGE_INTERVAL
    Purge(maintenance::PurgeArgs),
}

/// Which database a command works on; the rest of the settings come from
/// the environment and the configuration file.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Database")]
pub struct DatabaseArgs {
    /// postgres://… or sqlite://… (default: the embedded database in the data folder)
    #[arg(long, env = "TESSERA_DATABASE_URL", hide_env_values = true, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Folder of the embedded database and the generated master key
    #[arg(long, env = "TESSERA_DATA_DIR", hide_env_values = true, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

impl DatabaseArgs {
    /// The settings from the environment and `config`, on this database.
    fn settings(&self, config: Option<&Path>) -> anyhow::Result<Settings> {
        let mut raw = RawSettings::from_environment()?;
        raw.database_url = self.database_url.clone().or(raw.database_url);
        raw.data_dir = self.data_dir.clone().or(raw.data_dir);
        Settings::load(raw, config)
    }
}

impl StoredCommand {
    fn database(&self) -> &DatabaseArgs {
        match self {
            Self::Migrate(database) => database,
            Self::User(args) => &args.database,
            Self::ServiceAccount(args) => &args.database,
            Self::Scope(args) => &args.database,
            Self::Client(args) => &args.database,
            Self::Keys(args) => &args.database,
            Self::Token(args) => &args.database,
            Self::Trust(args) => &args.database,
            Self::Directory(args) => &args.database,
            Self::Purge(args) => &args.database,
        }
    }
}

/// Parses the arguments, runs the command, reports errors as one line.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is::<Reported>() => ExitCode::FAILURE,
        Err(error) => {
            let line = format!("{error:#}").replace('\n', " ");
            eprintln!("error: {line}");
            ExitCode::FAILURE
        }
    }
}

/// An error already written to the log stream.
#[derive(Debug, thiserror::Error)]
#[error("reported in the log")]
struct Reported;

async fn run(cli: Cli) -> anyhow::Result<()> {
    let out = Output { json: cli.json };
    let config = cli.config.as_deref();
    match cli.command {
        Command::Serve(args) => serve(Settings::load(args.settings, config)?).await,
        Command::Healthcheck(args) => maintenance::healthcheck(&args.settings(config)?),
        Command::Stored(command) => {
            let settings = command.database().settings(config)?;
            telemetry::init(LogFormat::Human, "warn,sqlx=error");
            let core = Core::open(settings, Arc::new(SystemClock)).await?;
            let result = run_stored(&core, command, out).await;
            core.database.close().await;
            result
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    telemetry::init(settings.log_format, "info,sqlx=warn,actix_server=warn");
    let served = async {
        let app = Application::build(settings).await?;
        tracing::info!(
            port = app.port(),
            management_port = app.management_port(),
            issuer = %app.core.settings.issuer,
            database = %crate::startup::redact_url(&app.core.settings.database_url),
            version = env!("CARGO_PKG_VERSION"),
            "tessera is listening"
        );
        app.run_until_stopped().await?;
        anyhow::Ok(())
    };
    // Once logging is set up, a fatal error is a log line like any other
    // (one JSON object with TESSERA_LOG_FORMAT=json).
    served.await.map_err(|error| {
        tracing::error!(error = %format!("{error:#}"), "tessera cannot run");
        anyhow::Error::new(Reported)
    })
}

async fn run_stored(core: &Core, command: StoredCommand, out: Output) -> anyhow::Result<()> {
    match command {
        StoredCommand::Migrate(_) => {
            out.print(serde_json::json!({"migrated": true}), "migrations applied".into())
        }
        StoredCommand::User(args) => users::run(core, args.command, out).await,
        StoredCommand::ServiceAccount(args) => service_accounts::run(core, args.command, out).await,
        StoredCommand::Scope(args) => scopes::run(core, args.command, out).await,
        StoredCommand::Client(args) => clients::run(core, args.command, out).await,
        StoredCommand::Keys(args) => keys::run(core, args.command, out).await,
        StoredCommand::Token(args) => tokens::run(core, args.command, out).await,
        StoredCommand::Trust(args) => trusts::run(core, args.command, out).await,
        StoredCommand::Directory(args) => directory::run(core, args.command, out).await,
        StoredCommand::Purge(args) => maintenance::purge(core, args, out).await,
    }
}

/// Changes made from the command line are audited as `cli:<OS user>`.
fn command_line_actor() -> Actor {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).ok();
    Actor::command_line(user.as_deref())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn client_create_ttl_is_the_clients_not_the_server_default() {
        let cli = Cli::try_parse_from([
            "tessera",
            "client",
            "create",
            "--name",
            "x",
            "--grant",
            "client_credentials",
            "--access-token-ttl",
            "5m",
        ])
        .unwrap();
        let Command::Stored(StoredCommand::Client(args)) = cli.command else { panic!() };
        let clients::ClientCommand::Create(create) = args.command else { panic!() };
        assert_eq!(create.draft().unwrap().access_token_ttl.as_deref(), Some("5m"));
    }

    #[test]
    fn server_settings_are_serves_alone() {
        let serve = Cli::try_parse_from(["tessera", "serve", "--workers", "2"]).unwrap();
        let Command::Serve(args) = serve.command else { panic!() };
        assert_eq!(args.settings.workers, Some(2));
        assert!(Cli::try_parse_from(["tessera", "client", "list", "--workers", "2"]).is_err());
        let list =
            Cli::try_parse_from(["tessera", "client", "list", "--database-url", "sqlite://x.db"]).unwrap();
        let Command::Stored(command) = list.command else { panic!() };
        assert_eq!(command.database().database_url.as_deref(), Some("sqlite://x.db"));
    }

    #[test]
    fn a_token_id_may_start_with_a_hyphen() {
        for args in [
            ["tessera", "token", "revoke", "-Xy_z", "--json"],
            ["tessera", "--json", "token", "revoke", "-Xy_z"],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            assert!(cli.json, "{args:?}");
            let Command::Stored(StoredCommand::Token(token)) = cli.command else { panic!() };
            let tokens::TokenCommand::Revoke { id } = token.command else { panic!() };
            assert_eq!(id, "-Xy_z");
        }
    }

    #[test]
    fn every_argument_is_described() {
        fn check(command: &clap::Command, path: &str) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                assert!(arg.get_help().is_some(), "{path} {id} has no description");
            }
            for sub in command.get_subcommands() {
                assert!(sub.get_about().is_some(), "{path} {} has no description", sub.get_name());
                check(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        check(&Cli::command(), "tessera");
    }
}
