//! The settings every Ventros server process shares: where PostgreSQL and Temporal are.

/// Read from the environment (see the README's configuration table); flattened into each
/// process's own settings.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionSettings {
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Largest number of database connections this process opens.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 20)]
    pub database_max_connections: u32,
    #[arg(long, env = "TEMPORAL_ADDRESS", default_value = "http://127.0.0.1:7233")]
    pub temporal_address: String,
    #[arg(long, env = "TEMPORAL_NAMESPACE", default_value = "default")]
    pub temporal_namespace: String,
    #[arg(long, env = "TEMPORAL_TASK_QUEUE", default_value = ventros_workflows::names::DEFAULT_TASK_QUEUE)]
    pub task_queue: String,
}
