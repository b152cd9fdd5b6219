//! `users`: who may use the console and the HTTP API.

use super::context::Context;
use super::table::{self, print_json};
use clap::{Subcommand, ValueEnum};
use connector_host::model::Role;
use connector_host::service::{ADMIN, AdminToken, Platform};

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List users and their roles.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Add a user; its token is printed once, on standard output.
    Add {
        /// User name (letters, digits, `.`, `_`, `@`, `-`).
        name: String,
        /// What the user may do.
        #[arg(long, value_enum, default_value_t = RoleArg::Viewer)]
        role: RoleArg,
    },
    /// Give a user a new token, ending the user's sessions. The admin's goes to the
    /// admin token file; anyone else's is printed once.
    Rotate {
        /// User name.
        name: String,
    },
    /// Remove a user and end the user's sessions.
    Remove {
        /// User name.
        name: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Configures, tests, syncs, changes statuses, imports.
    Admin,
    /// Reads everything, changes nothing.
    Viewer,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Viewer => Role::Viewer,
        }
    }
}

/// Makes sure the admin exists, and says where its token is (never the token).
pub async fn bootstrap_admin(platform: &Platform) -> anyhow::Result<()> {
    match platform.access().bootstrap_admin().await? {
        AdminToken::Created(path) => eprintln!(
            "created the admin token in {} (mode 0600); log in with it",
            path.display()
        ),
        AdminToken::File(path) => eprintln!("admin token: {}", path.display()),
        AdminToken::Environment => eprintln!("admin token: from CONNECTOR_HOST_ADMIN_TOKEN"),
    }
    Ok(())
}

pub async fn run(ctx: &Context, cmd: UsersCommand) -> anyhow::Result<()> {
    let platform = ctx.platform().await?;
    bootstrap_admin(&platform).await?;
    let access = platform.access();
    match cmd {
        UsersCommand::List { json } => {
            let users = access.users().await?;
            if json {
                return print_json(&users);
            }
            let mut t = table::new(&["NAME", "ROLE", "ADDED"]);
            for u in &users {
                t.add_row(vec![
                    u.name.clone(),
                    u.role.to_string(),
                    table::time(&u.created_at),
                ]);
            }
            table::print(&t);
        }
        UsersCommand::Add { name, role } => {
            let (user, token) = access.add_user(&name, role.into()).await?;
            eprintln!(
                "added {} `{}`; its token follows, shown this once:",
                user.role, user.name
            );
            println!("{}", token.reveal());
        }
        UsersCommand::Rotate { name } => match access.rotate(&name).await? {
            Some(token) => {
                eprintln!("new token for `{name}`, shown this once; its sessions ended:");
                println!("{}", token.reveal());
            }
            None => eprintln!(
                "new {ADMIN} token written to {}; its sessions ended",
                access.admin_token_file().display()
            ),
        },
        UsersCommand::Remove { name } => {
            access.remove_user(&name).await?;
            eprintln!("removed `{name}`");
        }
    }
    Ok(())
}
