//! The database schema, embedded once.
//!
//! Every binary that touches PostgreSQL (the API, the worker, the admin CLI, the tests) applies the
//! same migrations through [`MIGRATOR`], so there is exactly one copy of the SQL in the build.
//! Applied migrations are never edited: schema changes are new files (expand, then contract).

/// The embedded migrations from `migrations/sql`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./sql");

/// Applies every pending migration. Safe to call concurrently from several processes: sqlx takes
/// an advisory lock for the duration.
pub async fn run(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// Creates a database with a new random name beside the one `server_url` names, applies every
/// migration as the connecting (owner) role, and returns a pool on it with its URL: what each
/// test starts from, so one PostgreSQL serves a whole run with one database per test.
pub async fn fresh_database(
    server_url: &str,
    max_connections: u32,
) -> Result<(sqlx::PgPool, String), Box<dyn std::error::Error + Send + Sync>> {
    use sqlx::postgres::PgPoolOptions;
    let server = PgPoolOptions::new()
        .max_connections(1)
        .connect(server_url)
        .await?;
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    // The name is generated here from hex digits only: nothing to quote.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&server)
        .await?;
    server.close().await;
    let (base, _) = server_url
        .rsplit_once('/')
        .ok_or("the database URL ends with /<database>")?;
    let url = format!("{base}/{name}");
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .connect(&url)
        .await?;
    run(&pool).await?;
    Ok((pool, url))
}
