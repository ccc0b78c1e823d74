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
