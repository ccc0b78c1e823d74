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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&cli.database_url).await?;
    ventros_migrations::run(&pool).await?;
    match cli.command {
        Command::Migrate => println!("{}", json!({"migrated": true})),
        Command::CreateTenant { name } => {
            let name = name.trim();
            anyhow::ensure!(!name.is_empty() && name.chars().count() <= 200, "--name must be 1 to 200 characters");
            let (tenant_id, key) = ventros_api::auth::create_tenant(&pool, name).await?;
            println!("{}", json!({"tenant_id": tenant_id, "api_key_id": key.id, "api_key": key.secret}));
        }
        Command::CreateApiKey { tenant, name } => {
            let exists: bool = sqlx::query_scalar("SELECT exists(SELECT 1 FROM tenants WHERE id = $1)").bind(tenant).fetch_one(&pool).await?;
            anyhow::ensure!(exists, "tenant {tenant} does not exist");
            let key = ventros_api::auth::create_api_key(&pool, tenant, &name).await?;
            println!("{}", json!({"tenant_id": tenant, "api_key_id": key.id, "api_key": key.secret}));
        }
    }
    Ok(())
}
