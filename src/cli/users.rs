//! `tessera user …`: the people who sign in.

use clap::{Args, Subcommand};
use serde_json::json;

use super::output::{table, time, yes_no};
use super::{command_line_actor, DatabaseArgs, Output};
use crate::domain::{ClientId, Email, NewUser, Password, ProfileDraft, Role, User, UserChanges, Username};
use crate::startup::Core;

#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    pub command: UserCommand,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from a prompt or, with
    /// --password-stdin, from standard input (never from a flag)
    Create {
        /// The user's Jira username
        #[arg(long)]
        username: String,
        /// The user's email address
        #[arg(long)]
        email: String,
        /// The name shown on pages (default: the username)
        #[arg(long)]
        display_name: Option<String>,
        #[command(flatten)]
        profile: ProfileArgs,
        /// Make the user an administrator
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's username, email or profile; what is not given stays
    /// as it is, and an empty value ("") clears an optional field
    Update {
        /// The user's current username
        username: String,
        /// A new Jira username
        #[arg(long = "new-username")]
        new_username: Option<String>,
        /// A new email address
        #[arg(long)]
        email: Option<String>,
        /// The name shown on pages and released as `name`
        #[arg(long)]
        display_name: Option<String>,
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// List users
    List,
    /// Set a new password for a user (e.g. the first admin's, when the one
    /// printed at first start is lost); their sessions and app grants end
    ResetPassword {
        /// The user's username
        username: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: they cannot sign in, and their grants and personal API tokens end for good
    Disable {
        /// The user's username
        username: String,
    },
    /// Enable a disabled user (their old grants and personal API tokens stay dead)
    Enable {
        /// The user's username
        username: String,
    },
    /// List the apps a user has approved
    Consents {
        /// The user's username
        username: String,
    },
    /// Withdraw a user's approval of an app: its tokens for the user stop working
    RevokeConsent {
        /// The user's username
        username: String,
        /// The client id of the app
        #[arg(long)]
        client: String,
    },
}

/// The OpenID Connect standard claims apps may ask for.
#[derive(Debug, Args, Default)]
pub struct ProfileArgs {
    /// Given (first) name, released with the profile scope
    #[arg(long)]
    pub given_name: Option<String>,
    /// Family (last) name, released with the profile scope
    #[arg(long)]
    pub family_name: Option<String>,
    /// Whether the email address is known to reach the user (email_verified);
    /// alone it means true
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "true|false")]
    pub email_verified: Option<bool>,
    /// Language tag (BCP 47), like en-GB
    #[arg(long)]
    pub locale: Option<String>,
    /// Time zone (IANA), like Europe/Paris
    #[arg(long)]
    pub zoneinfo: Option<String>,
}

impl ProfileArgs {
    /// `base` with what was given laid over it.
    fn over(self, base: ProfileDraft) -> ProfileDraft {
        ProfileDraft {
            given_name: self.given_name.or(base.given_name),
            family_name: self.family_name.or(base.family_name),
            email_verified: self.email_verified.unwrap_or(base.email_verified),
            locale: self.locale.or(base.locale),
            zoneinfo: self.zoneinfo.or(base.zoneinfo),
        }
    }
}

pub async fn run(core: &Core, command: UserCommand, out: Output) -> anyhow::Result<()> {
    let accounts = &core.accounts;
    let actor = command_line_actor();
    match command {
        UserCommand::Create { username, email, display_name, profile, admin, password_stdin } => {
            let username = Username::parse(&username)?;
            let email = Email::parse(&email)?;
            let profile = profile.over(ProfileDraft::default()).parse()?;
            let password = Password::parse(&read_password(password_stdin)?)?;
            let new = NewUser {
                username,
                email,
                display_name: display_name.filter(|d| !d.trim().is_empty()),
                profile,
                password,
                role: if admin { Role::Admin } else { Role::User },
            };
            let user = accounts.create_user(&actor, new).await?;
            out.print(user_json(&user), format!("created {} {}", user.role.as_str(), user.username))
        }
        UserCommand::Update { username, new_username, email, display_name, profile } => {
            let current = accounts.find_user(&Username::parse(&username)?).await?;
            let changes = UserChanges {
                username: match new_username {
                    Some(name) => Username::parse(&name)?,
                    None => current.username.clone(),
                },
                email: match email {
                    Some(email) => Email::parse(&email)?,
                    None => current.email.clone(),
                },
                display_name: match display_name {
                    Some(name) => Some(name).filter(|d| !d.trim().is_empty()),
                    None => current.display_name.clone(),
                },
                profile: profile.over(ProfileDraft::from(&current.profile)).parse()?,
                role: current.role,
            };
            let user = accounts.update_user(&actor, &current.username, changes).await?;
            out.print(user_json(&user), format!("updated user {}", user.username))
        }
        UserCommand::List => {
            let users = accounts.list_users().await?;
            let rows = users
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
                .collect();
            let text = table(&["USERNAME", "EMAIL", "DISPLAY NAME", "ROLE", "ENABLED"], rows);
            out.print(users.iter().map(user_json).collect(), text)
        }
        UserCommand::ResetPassword { username, password_stdin } => {
            let username = Username::parse(&username)?;
            // The user must exist before anyone is asked to type a password.
            accounts.find_user(&username).await?;
            let password = Password::parse(&read_password(password_stdin)?)?;
            accounts.reset_password(&actor, &username, &password).await?;
            out.print(
                json!({"username": username.as_str(), "password_reset": true}),
                format!(
                    "set a new password for {username}; their sessions and app grants have ended \
                     (their personal API tokens still work: disable the user to end those)"
                ),
            )
        }
        UserCommand::Disable { username } => {
            accounts.set_user_enabled(&actor, &Username::parse(&username)?, false).await?;
            out.print(json!({"username": username, "enabled": false}), format!("disabled user {username}"))
        }
        UserCommand::Enable { username } => {
            accounts.set_user_enabled(&actor, &Username::parse(&username)?, true).await?;
            out.print(json!({"username": username, "enabled": true}), format!("enabled user {username}"))
        }
        UserCommand::Consents { username } => {
            let consents = accounts.consents(&Username::parse(&username)?).await?;
            let rows = consents
                .iter()
                .map(|(id, scope, at)| vec![id.to_string(), scope.to_string(), time(*at)])
                .collect();
            let text = table(&["CLIENT ID", "SCOPE", "APPROVED AT"], rows);
            let value = consents
                .iter()
                .map(|(id, scope, at)| json!({"client_id": id.as_str(), "scope": scope.to_string(), "approved_at": at.seconds()}))
                .collect();
            out.print(value, text)
        }
        UserCommand::RevokeConsent { username, client } => {
            accounts.revoke_consent(&actor, &Username::parse(&username)?, &ClientId::parse(&client)?).await?;
            out.print(
                json!({"username": username, "client_id": client, "revoked": true}),
                format!(
                    "revoked {username}'s approval of {client}; its tokens for {username} no longer work"
                ),
            )
        }
    }
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
        "given_name": user.profile.given_name,
        "family_name": user.profile.family_name,
        "email_verified": user.profile.email_verified,
        "locale": user.profile.locale,
        "zoneinfo": user.profile.zoneinfo,
        "role": user.role.as_str(),
        "enabled": user.enabled,
        "created_at": user.created_at.seconds(),
        "updated_at": user.updated_at.seconds(),
    })
}
