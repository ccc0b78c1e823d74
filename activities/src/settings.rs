//! The settings every Ventros server process shares: where PostgreSQL and Temporal are.

use secrecy::SecretString;

/// Read from the environment (see the README's configuration table); flattened into each
/// process's own settings.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionSettings {
    /// PostgreSQL connection URL. It holds the password, so it is redacted in Debug output and
    /// exposed only to connect.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: SecretString,
    /// Largest number of database connections this process opens.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 20)]
    pub database_max_connections: u32,
    #[arg(
        long,
        env = "TEMPORAL_ADDRESS",
        default_value = "http://127.0.0.1:7233"
    )]
    pub temporal_address: String,
    #[arg(long, env = "TEMPORAL_NAMESPACE", default_value = "default")]
    pub temporal_namespace: String,
    #[arg(long, env = "TEMPORAL_TASK_QUEUE", default_value = ventros_workflows::names::DEFAULT_TASK_QUEUE)]
    pub task_queue: String,
}

/// Where tenant-given addresses may point (see [`ventros_channels::net_guard`]); the API checks them when a
/// channel or webhook subscription is stored, the worker again at every call.
#[derive(Debug, Clone, clap::Args)]
pub struct NetworkSettings {
    /// Deliver outbound webhooks to loopback and private addresses too (development only: in
    /// production a tenant could otherwise reach internal services).
    #[arg(long, env = "WEBHOOK_ALLOW_PRIVATE_NETWORKS", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private_networks: bool,
    /// Let channels' WAHA and Graph base URLs point at loopback and private addresses (the local
    /// stack and the tests, whose simulators listen on loopback). Off in production.
    #[arg(long, env = "PROVIDER_ALLOW_PRIVATE_NETWORKS", default_value_t = false, action = clap::ArgAction::Set)]
    pub provider_allow_private_networks: bool,
    /// Private hosts channels may use by name, comma-separated (e.g. `waha` on the compose
    /// network), while every other private address stays refused.
    #[arg(long, env = "PROVIDER_PRIVATE_HOSTS", value_delimiter = ',')]
    pub provider_private_hosts: Vec<String>,
}

impl NetworkSettings {
    pub fn provider_policy(&self) -> ventros_channels::net_guard::NetPolicy {
        ventros_channels::net_guard::NetPolicy::new(
            self.provider_allow_private_networks,
            &self.provider_private_hosts,
        )
    }

    pub fn webhook_policy(&self) -> ventros_channels::net_guard::NetPolicy {
        ventros_channels::net_guard::NetPolicy::new(self.webhook_allow_private_networks, &[])
    }
}
