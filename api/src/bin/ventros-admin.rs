//! `ventros-admin`: operator commands that do not belong behind the API (no API key exists yet
//! when the first tenant is created).

use clap::{Parser, Subcommand};
use serde_json::json;
use uuid::Uuid;

#[derive(Parser)]
#[command(about = "Ventros administration")]
struct Cli {
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending database migrations.
    Migrate,
    /// Create a tenant and its first API key; prints JSON with the key (shown once).
    CreateTenant {
        #[arg(long)]
        name: String,
    },
    /// Create another API key for a tenant; prints JSON with the key (shown once).
    CreateApiKey {
        #[arg(long)]
        tenant: Uuid,
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Create a user who logs in to the web app and API. The password comes from the environment
    /// (never the command line, which other users of the machine can read).
    CreateUser {
        #[arg(long)]
        tenant: Uuid,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "admin", value_parser = ["admin", "agent", "viewer"])]
        role: String,
        #[arg(long, env = "VENTROS_USER_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&cli.database_url)
        .await?;
    ventros_migrations::run(&pool).await?;
    match cli.command {
        Command::Migrate => println!("{}", json!({"migrated": true})),
        Command::CreateTenant { name } => {
            let name = name.trim();
            anyhow::ensure!(
                !name.is_empty() && name.chars().count() <= 200,
                "--name must be 1 to 200 characters"
            );
            let (tenant_id, key) = ventros_api::auth::create_tenant(&pool, name).await?;
            println!(
                "{}",
                json!({"tenant_id": tenant_id, "api_key_id": key.id, "api_key": key.secret})
            );
        }
        Command::CreateApiKey { tenant, name } => {
            let exists: bool = sqlx::query_scalar!(
                r#"SELECT exists(SELECT 1 FROM tenants WHERE id = $1) AS "exists!""#,
                tenant
            )
            .fetch_one(&pool)
            .await?;
            anyhow::ensure!(exists, "tenant {tenant} does not exist");
            let key = ventros_api::auth::create_api_key(&pool, tenant, &name).await?;
            println!(
                "{}",
                json!({"tenant_id": tenant, "api_key_id": key.id, "api_key": key.secret})
            );
        }
        Command::CreateUser {
            tenant,
            email,
            name,
            role,
            password,
        } => {
            use ventros_api::auth::{Role, hash_password, insert_user, validate_password};
            let exists: bool = sqlx::query_scalar!(
                r#"SELECT exists(SELECT 1 FROM tenants WHERE id = $1) AS "exists!""#,
                tenant
            )
            .fetch_one(&pool)
            .await?;
            anyhow::ensure!(exists, "tenant {tenant} does not exist");
            validate_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
            let hash = hash_password(password)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let role = Role::parse(&role).expect("clap checked the role");
            let id = insert_user(&pool, tenant, email.trim(), name.trim(), role, &hash).await?;
            println!(
                "{}",
                json!({"tenant_id": tenant, "user_id": id, "email": email.trim(), "role": role})
            );
        }
    }
    Ok(())
}
