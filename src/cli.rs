//! The command line. Every command takes `--json`; errors are one
//! line on stderr and a non-zero exit, and change nothing.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::admin::ClientWithSecret;
use crate::audit::Actor;
use crate::clock::SystemClock;
use crate::config::{LogFormat, RawSettings, Settings};
use crate::domain::{
    Audience, AuthMethod, Client, ClientId, ClientType, Email, Grace, GrantType, InvalidInput, Lifetime,
    NewClient, NewServiceAccount, NewUser, Password, PersonalToken, PkcePolicy, RedirectUri, Role, ScopeName,
    ScopeSet, ServiceAccount, ServiceAccountChanges, TokenFormat, UnixTime, User, Username,
};
use crate::personal_tokens::TokenRequest;
use crate::startup::{Application, Core};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "OAuth 2.0 / OpenID Connect authorization server whose tokens Jira accepts"
)]
struct Cli {
    #[command(flatten)]
    settings: RawSettings,
    /// Configuration file (default: ./tessera.toml if it exists)
    #[arg(long, env = "TESSERA_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Machine-readable output
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server
    Serve,
    /// Apply database migrations and exit
    Migrate,
    /// People who sign in (username = their Jira username)
    #[command(subcommand)]
    User(UserCommand),
    /// Service accounts: non-human principals with a Jira username
    #[command(subcommand)]
    ServiceAccount(ServiceAccountCommand),
    /// Scopes clients may be granted
    #[command(subcommand)]
    Scope(ScopeCommand),
    /// OAuth clients (apps)
    #[command(subcommand)]
    Client(ClientCommand),
    /// Signing keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Personal API tokens (a person's bearer token for scripts)
    #[command(subcommand)]
    Token(TokenCommand),
    /// Delete rows that can never be valid again (expired and revoked
    /// tokens, ended grants and sessions, old audit events); the server
    /// also does this every TESSERA_PURGE_INTERVAL
    Purge {
        /// Count what would be deleted, delete nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Exit 0 when the local server answers /healthz (for container health
    /// checks); asks the management listener, else the main one
    Healthcheck,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
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
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a personal token by id: it stops working at once
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
enum ServiceAccountCommand {
    /// Create a service account
    Create {
        /// The Jira username tokens will carry
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: Option<String>,
        /// May be given the tessera:admin scope (the admin API)
        #[arg(long)]
        admin: bool,
    },
    /// List service accounts
    List,
    /// Disable a service account: its clients' tokens stop working for good
    Disable { username: String },
    /// Enable a disabled service account (tokens issued before it was disabled stay dead)
    Enable { username: String },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from a prompt or, with
    /// --password-stdin, from standard input (never from a flag)
    Create {
        /// The user's Jira username
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        display_name: Option<String>,
        /// Make the user an administrator
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users
    List,
    /// Disable a user: they cannot sign in, and their grants and personal API tokens end for good
    Disable { username: String },
    /// List the apps a user has approved
    Consents { username: String },
    /// Withdraw a user's approval of an app: its tokens for the user stop working
    RevokeConsent {
        username: String,
        /// The client id of the app
        #[arg(long)]
        client: String,
    },
    /// Enable a disabled user (their old grants and personal API tokens stay dead)
    Enable { username: String },
}

#[derive(Debug, Subcommand)]
enum ScopeCommand {
    /// Create a scope
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List scopes
    List,
}

#[derive(Debug, Args)]
struct ClientCreateArgs {
    #[arg(long)]
    name: String,
    /// A public client: no secret, authorization_code with PKCE only
    #[arg(long)]
    public: bool,
    /// Allowed grant type (repeatable): client_credentials, authorization_code, refresh_token
    #[arg(long = "grant", required = true)]
    grants: Vec<String>,
    /// Registered redirect URI (repeatable)
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// Allowed scope (repeatable)
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// Bind the client to this service account (its tokens act as it)
    #[arg(long)]
    service_account: Option<String>,
    /// Access-token format: jwt (default) or opaque
    #[arg(long, default_value = "jwt")]
    token_format: String,
    /// client_secret_basic (default) or client_secret_post
    #[arg(long)]
    auth_method: Option<String>,
    /// May introspect any token
    #[arg(long)]
    resource_server: bool,
    /// required (default) or optional
    #[arg(long, default_value = "required")]
    pkce: String,
    /// Audience of this client's tokens (repeatable)
    #[arg(long = "audience")]
    audiences: Vec<String>,
    /// Access-token lifetime, e.g. 10m
    #[arg(long)]
    access_token_ttl: Option<String>,
    /// Refresh-token lifetime, e.g. 30d
    #[arg(long)]
    refresh_token_ttl: Option<String>,
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Register a client; prints its secret once
    Create(Box<ClientCreateArgs>),
    /// List clients
    List,
    /// Show one client
    Show { id: String },
    /// Issue a new secret; the old one works for the grace period
    RotateSecret {
        id: String,
        /// How long the old secret keeps working, e.g. 24h; 0s ends it at once
        /// (default TESSERA_SECRET_ROTATION_GRACE)
        #[arg(long)]
        grace: Option<String>,
    },
    /// Disable a client: its tokens stop working for good
    Disable { id: String },
    /// Enable a disabled client (tokens issued before it was disabled stay dead)
    Enable { id: String },
    /// Delete a client and its tokens
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List signing keys and their state
    List,
    /// Publish a new key now; it starts signing after --activate-in
    Rotate {
        /// Delay before the new key signs (default TESSERA_KEY_PUBLISH_AHEAD)
        #[arg(long)]
        activate_in: Option<String>,
    },
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
    let settings = Settings::load(cli.settings, cli.config.as_deref())?;
    let json = cli.json;
    match cli.command {
        Command::Serve => {
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
            // Once logging is set up, a fatal error is a log line like any
            // other (one JSON object with TESSERA_LOG_FORMAT=json).
            served.await.map_err(|error| {
                tracing::error!(error = %format!("{error:#}"), "tessera cannot run");
                anyhow::Error::new(Reported)
            })
        }
        Command::Healthcheck => healthcheck(&settings),
        command => {
            telemetry::init(LogFormat::Human, "warn,sqlx=error");
            let core = Core::open(settings, Arc::new(SystemClock)).await?;
            let result = admin_command(&core, command, json).await;
            core.database.close().await;
            result
        }
    }
}

async fn admin_command(core: &Core, command: Command, json: bool) -> anyhow::Result<()> {
    let admin = &core.admin;
    let actor = command_line_actor();
    match command {
        Command::Serve | Command::Healthcheck => unreachable!("handled by run"),
        Command::Migrate => print(json, json!({"migrated": true}), "migrations applied".into()),
        Command::Purge { dry_run } => {
            let report =
                if dry_run { core.retention.dry_run().await? } else { core.retention.purge().await? };
            if !report.ran {
                anyhow::bail!("another node is purging right now; try again when it is done");
            }
            let verb = if dry_run { "would delete" } else { "deleted" };
            let mut text = format!("{verb} {} rows in {:.1} s", report.total, report.seconds);
            for table in report.tables.iter().filter(|t| t.rows > 0) {
                text.push_str(&format!("\n  {:<20} {}", table.table, table.rows));
            }
            print(json, serde_json::to_value(&report)?, text)
        }
        Command::User(command) => user_command(core, command, json).await,
        Command::Token(command) => token_command(core, command, json).await,
        Command::ServiceAccount(command) => match command {
            ServiceAccountCommand::Create { username, display_name, admin: flagged } => {
                let mut account = admin
                    .create_service_account(
                        &actor,
                        NewServiceAccount {
                            username: Username::parse(&username)?,
                            display_name: display_name.filter(|d| !d.trim().is_empty()),
                        },
                    )
                    .await?;
                if flagged {
                    let changes = ServiceAccountChanges {
                        username: account.username.clone(),
                        display_name: account.display_name.clone(),
                        admin: true,
                    };
                    account =
                        admin.update_service_account(&actor, &account.username.clone(), changes).await?;
                }
                print(json, account_json(&account), format!("created service account {}", account.username))
            }
            ServiceAccountCommand::List => {
                let accounts = admin.list_service_accounts().await?;
                let text = table(
                    &["USERNAME", "DISPLAY NAME", "ADMIN API", "ENABLED"],
                    accounts
                        .iter()
                        .map(|a| {
                            vec![
                                a.username.to_string(),
                                a.display_name.clone().unwrap_or_default(),
                                yes_no(a.admin),
                                yes_no(a.enabled),
                            ]
                        })
                        .collect(),
                );
                print(json, accounts.iter().map(account_json).collect(), text)
            }
            ServiceAccountCommand::Disable { username } => {
                admin.set_service_account_enabled(&actor, &Username::parse(&username)?, false).await?;
                print(
                    json,
                    json!({"username": username, "enabled": false}),
                    format!("disabled service account {username}"),
                )
            }
            ServiceAccountCommand::Enable { username } => {
                admin.set_service_account_enabled(&actor, &Username::parse(&username)?, true).await?;
                print(
                    json,
                    json!({"username": username, "enabled": true}),
                    format!("enabled service account {username}"),
                )
            }
        },
        Command::Scope(command) => match command {
            ScopeCommand::Create { name, description } => {
                let scope = admin.create_scope(&actor, ScopeName::parse(&name)?, &description).await?;
                print(
                    json,
                    json!({"name": scope.name.as_str(), "description": scope.description}),
                    format!("created scope {}", scope.name),
                )
            }
            ScopeCommand::List => {
                let scopes = admin.list_scopes().await?;
                let text = table(
                    &["NAME", "DESCRIPTION", "BUILT-IN"],
                    scopes
                        .iter()
                        .map(|s| vec![s.name.to_string(), s.description.clone(), yes_no(s.builtin)])
                        .collect(),
                );
                let value = scopes
                    .iter()
                    .map(|s| json!({"name": s.name.as_str(), "description": s.description, "builtin": s.builtin, "enabled": s.enabled}))
                    .collect();
                print(json, value, text)
            }
        },
        Command::Client(command) => match command {
            ClientCommand::Create(args) => {
                let new = new_client(*args)?;
                let created = admin.create_client(&actor, new).await?;
                print(json, secret_json(&created), secret_text(&created, "created client"))
            }
            ClientCommand::List => {
                let clients = admin.list_clients().await?;
                let text = table(
                    &["CLIENT ID", "NAME", "GRANTS", "SERVICE ACCOUNT", "FORMAT", "ENABLED"],
                    clients
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
                        .collect(),
                );
                print(json, clients.iter().map(client_json).collect(), text)
            }
            ClientCommand::Show { id } => {
                let client = admin.find_client(&id).await?;
                let value = client_json(&client);
                let text = serde_json::to_string_pretty(&value)?;
                print(json, value, text)
            }
            ClientCommand::RotateSecret { id, grace } => {
                let grace = grace.map(|g| g.parse::<Grace>()).transpose()?;
                let rotated = admin.rotate_client_secret(&actor, &id, grace).await?;
                print(json, secret_json(&rotated), secret_text(&rotated, "rotated the secret of client"))
            }
            ClientCommand::Disable { id } => {
                admin.set_client_enabled(&actor, &id, false).await?;
                print(json, json!({"client_id": id, "enabled": false}), format!("disabled client {id}"))
            }
            ClientCommand::Enable { id } => {
                admin.set_client_enabled(&actor, &id, true).await?;
                print(json, json!({"client_id": id, "enabled": true}), format!("enabled client {id}"))
            }
            ClientCommand::Delete { id } => {
                admin.delete_client(&actor, &id).await?;
                print(json, json!({"client_id": id, "deleted": true}), format!("deleted client {id}"))
            }
        },
        Command::Keys(command) => match command {
            KeysCommand::List => {
                let keys = core.keys.current().describe(core.clock.now());
                let text = table(
                    &["KID", "ALG", "STATE", "ACTIVATES AT", "UNPUBLISHED AT"],
                    keys.iter()
                        .map(|k| {
                            vec![
                                k.kid.clone(),
                                k.alg.to_owned(),
                                k.state.as_str().to_owned(),
                                k.activates_at.to_string(),
                                k.unpublished_at.map(|t| t.to_string()).unwrap_or_default(),
                            ]
                        })
                        .collect(),
                );
                print(json, serde_json::to_value(&keys)?, text)
            }
            KeysCommand::Rotate { activate_in } => {
                let ahead = activate_in.map(|a| a.parse::<Lifetime>()).transpose()?;
                let key = core.admin.rotate_keys(&actor, ahead).await?;
                let text = format!(
                    "published key {} ({}); it signs from {} on. Resource servers that pin a PEM must fetch /oauth2/keys/{}.pem before then.",
                    key.kid, key.alg, key.activates_at, key.kid
                );
                print(json, serde_json::to_value(&key)?, text)
            }
        },
    }
}

async fn user_command(core: &Core, command: UserCommand, json: bool) -> anyhow::Result<()> {
    let accounts = &core.accounts;
    let actor = command_line_actor();
    match command {
        UserCommand::Create { username, email, display_name, admin, password_stdin } => {
            let username = Username::parse(&username)?;
            let email = Email::parse(&email)?;
            let password = Password::parse(&read_password(password_stdin)?)?;
            let user = accounts
                .create_user(
                    &actor,
                    NewUser {
                        username,
                        email,
                        display_name: display_name.filter(|d| !d.trim().is_empty()),
                        password,
                        role: if admin { Role::Admin } else { Role::User },
                    },
                )
                .await?;
            print(json, user_json(&user), format!("created {} {}", user.role.as_str(), user.username))
        }
        UserCommand::List => {
            let users = accounts.list_users().await?;
            let text = table(
                &["USERNAME", "EMAIL", "DISPLAY NAME", "ROLE", "ENABLED"],
                users
                    .iter()
                    .map(|u| {
                        vec![
                            u.username.to_string(),
                            u.email.to_string(),
                            u.display_name.clone().unwrap_or_default(),
                            u.role.as_str().to_owned(),
                            yes_no(u.enabled),
                        ]
                    })
                    .collect(),
            );
            print(json, users.iter().map(user_json).collect(), text)
        }
        UserCommand::Disable { username } => {
            accounts.set_user_enabled(&actor, &Username::parse(&username)?, false).await?;
            print(json, json!({"username": username, "enabled": false}), format!("disabled user {username}"))
        }
        UserCommand::Consents { username } => {
            let consents = accounts.consents(&Username::parse(&username)?).await?;
            let text = table(
                &["CLIENT ID", "SCOPE", "APPROVED AT"],
                consents
                    .iter()
                    .map(|(id, scope, at)| vec![id.to_string(), scope.clone(), at.seconds().to_string()])
                    .collect(),
            );
            let value = consents
                .iter()
                .map(|(id, scope, at)| json!({"client_id": id.as_str(), "scope": scope, "approved_at": at.seconds()}))
                .collect();
            print(json, value, text)
        }
        UserCommand::RevokeConsent { username, client } => {
            accounts.revoke_consent(&actor, &Username::parse(&username)?, &ClientId::parse(&client)?).await?;
            print(
                json,
                json!({"username": username, "client_id": client, "revoked": true}),
                format!(
                    "revoked {username}'s approval of {client}; its tokens for {username} no longer work"
                ),
            )
        }
        UserCommand::Enable { username } => {
            accounts.set_user_enabled(&actor, &Username::parse(&username)?, true).await?;
            print(json, json!({"username": username, "enabled": true}), format!("enabled user {username}"))
        }
    }
}

async fn token_command(core: &Core, command: TokenCommand, json: bool) -> anyhow::Result<()> {
    let tokens = &core.personal_tokens;
    let actor = command_line_actor();
    let now = core.clock.now();
    match command {
        TokenCommand::Create { user, label, scopes, expires_in } => {
            let owner = core.accounts.find_user(&Username::parse(&user)?).await?;
            let expires_in = expires_in.as_deref().map(str::parse::<Lifetime>).transpose()?;
            let request = TokenRequest { label, scopes, expires_in };
            let created = tokens.create(&actor, &owner, &request).await?;
            let mut value = token_json(&created.token, now);
            value["token"] = json!(created.secret.expose());
            let expiry = created.token.expires_at.map_or("never".to_owned(), |at| at.seconds().to_string());
            let text = format!(
                "created personal token {} ('{}') for {}, expires at {expiry}\n\n  {}\n\nIt is shown only now: store it in your secret manager.",
                created.token.id,
                created.token.label,
                created.token.username,
                created.secret.expose()
            );
            print(json, value, text)
        }
        TokenCommand::List { user } => {
            let owner = match user {
                Some(name) => Some(core.accounts.find_user(&Username::parse(&name)?).await?),
                None => None,
            };
            let list = tokens.list(owner.as_ref()).await?;
            let seconds = |at: Option<UnixTime>| at.map_or("-".to_owned(), |at| at.seconds().to_string());
            let text = table(
                &["ID", "USER", "LABEL", "SCOPE", "STATUS", "EXPIRES AT", "LAST USED AT"],
                list.iter()
                    .map(|t| {
                        vec![
                            t.id.clone(),
                            t.username.to_string(),
                            t.label.clone(),
                            t.scope.clone(),
                            t.status(now).as_str().to_owned(),
                            seconds(t.expires_at),
                            seconds(t.last_used_at),
                        ]
                    })
                    .collect(),
            );
            print(json, list.iter().map(|t| token_json(t, now)).collect(), text)
        }
        TokenCommand::Revoke { id } => {
            tokens.revoke(&actor, &id, None).await?;
            print(json, json!({"id": id, "revoked": true}), format!("revoked personal token {id}"))
        }
    }
}

fn token_json(token: &PersonalToken, now: UnixTime) -> serde_json::Value {
    json!({
        "id": token.id,
        "username": token.username.as_str(),
        "label": token.label,
        "scope": token.scope,
        "status": token.status(now).as_str(),
        "created_at": token.created_at.seconds(),
        "expires_at": token.expires_at.map(UnixTime::seconds),
        "last_used_at": token.last_used_at.map(UnixTime::seconds),
    })
}

/// The new password: the first line of standard input, or typed twice at a
/// prompt. Never a flag, so it stays out of shell history and `ps`.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    use std::io::{BufRead as _, IsTerminal as _};
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let password = line.strip_suffix('\n').unwrap_or(&line);
        return Ok(password.strip_suffix('\r').unwrap_or(password).to_owned());
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("no terminal to ask for the password on; pipe it in with --password-stdin");
    }
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Repeat the password: ")?;
    if first != second {
        anyhow::bail!("the two passwords differ");
    }
    Ok(first)
}

fn user_json(user: &User) -> serde_json::Value {
    json!({
        "username": user.username.as_str(),
        "email": user.email.as_str(),
        "display_name": user.display_name,
        "role": user.role.as_str(),
        "enabled": user.enabled,
        "created_at": user.created_at.seconds(),
    })
}

fn new_client(args: ClientCreateArgs) -> Result<NewClient, InvalidInput> {
    let grants: BTreeSet<GrantType> = args.grants.iter().map(|g| g.parse()).collect::<Result<_, _>>()?;
    let scopes =
        ScopeSet::from_names(args.scopes.iter().map(|s| ScopeName::parse(s)).collect::<Result<Vec<_>, _>>()?);
    Ok(NewClient {
        name: args.name,
        client_type: if args.public { ClientType::Public } else { ClientType::Confidential },
        auth_method: args.auth_method.map(|m| m.parse::<AuthMethod>()).transpose()?,
        token_format: args.token_format.parse::<TokenFormat>()?,
        grants,
        scopes,
        redirect_uris: args.redirect_uris.iter().map(|u| RedirectUri::parse(u)).collect::<Result<_, _>>()?,
        audiences: args.audiences.iter().map(|a| Audience::parse(a)).collect::<Result<_, _>>()?,
        service_account: args.service_account.map(|u| Username::parse(&u)).transpose()?,
        access_token_ttl: args.access_token_ttl.map(|t| t.parse()).transpose()?,
        refresh_token_ttl: args.refresh_token_ttl.map(|t| t.parse()).transpose()?,
        resource_server: args.resource_server,
        pkce: args.pkce.parse::<PkcePolicy>()?,
    })
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

fn client_json(client: &Client) -> serde_json::Value {
    json!({
        "client_id": client.id.as_str(),
        "name": client.name,
        "client_type": client.client_type.as_str(),
        "token_endpoint_auth_method": client.auth_method.as_str(),
        "token_format": client.token_format.as_str(),
        "grant_types": client.grants.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "scope": client.scopes.to_string(),
        "redirect_uris": client.redirect_uris.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        "audiences": client.audiences.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "service_account": client.acting_username().map(|u| u.as_str()),
        "access_token_ttl": client.access_token_ttl.map(|l| l.to_string()),
        "refresh_token_ttl": client.refresh_token_ttl.map(|l| l.to_string()),
        "resource_server": client.resource_server,
        "pkce": client.pkce.as_str(),
        "enabled": client.enabled,
        "created_at": client.created_at.seconds(),
    })
}

fn secret_json(created: &ClientWithSecret) -> serde_json::Value {
    let mut value = client_json(&created.client);
    if let Some(secret) = &created.secret {
        value["client_secret"] = json!(secret.expose());
    }
    if let Some(at) = created.previous_secret_expires_at {
        value["previous_secret_expires_at"] = json!(at.seconds());
    }
    value
}

fn secret_text(created: &ClientWithSecret, verb: &str) -> String {
    let mut text = format!("{verb} {}\nclient_id:     {}", created.client.name, created.client.id);
    match &created.secret {
        Some(secret) => text.push_str(&format!(
            "\nclient_secret: {}\n\nThe secret is shown only now; store it safely.",
            secret.expose()
        )),
        None => text.push_str("\n\nA public client has no secret: it proves itself with PKCE."),
    }
    if let Some(at) = created.previous_secret_expires_at {
        if at <= UnixTime::now() {
            text.push_str("\nThe previous secret no longer works.");
        } else {
            text.push_str(&format!(
                "\nThe previous secret keeps working until {at} (unix time).",
                at = at.seconds()
            ));
        }
    }
    text
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}

fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(headers.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.into_iter().map(line));
    out.join("\n")
}

fn print(json: bool, value: serde_json::Value, text: String) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("{text}");
    }
    Ok(())
}

/// `GET /healthz` on this machine's listener, with a 3 s deadline.
fn healthcheck(settings: &Settings) -> anyhow::Result<()> {
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
        assert!(cli.settings.access_token_ttl.is_none());
        let Command::Client(ClientCommand::Create(args)) = cli.command else { panic!() };
        assert_eq!(args.access_token_ttl.as_deref(), Some("5m"));
    }
}
