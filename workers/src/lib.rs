//! The Temporal worker process: hosts the Conversation, OutboundMessage, MemoryShard, MemoryIngestion,
//! ReembedMemories, KnowledgeIngestion, ContactMerge, WebhookDelivery, Campaign, CampaignRecipient and FollowUpTask workflows and the activities behind them,
//! polling two task queues (memory ingestion has its own, so replies' tasks never queue behind its backlog); serves MemoryService to the agents; and runs the outbox consumers (the
//! memory feed → MemoryShard, the webhook fan-out → WebhookDelivery, new tasks → FollowUpTask). Any number of workers
//! may run against the same Temporal cluster and database; nothing here assumes it is alone.

use backon::{ConstantBuilder, Retryable};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgPoolOptions;
use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions};
use temporalio_sdk::runtime::PollerBehavior;
use temporalio_sdk::{Runtime, Worker, WorkerOptions};
use ventros_activities::ConversationActivities;
use ventros_activities::agents::{AgentApi, GrpcAgentClient};
use ventros_activities::identities::IdentityActivities;
use ventros_activities::inbox::InboxActivities;
use ventros_activities::outbound_webhooks::{RetrySchedule, fanout_once, start_pending};
use ventros_activities::{
    CampaignActivities, ContactActivities, TaskActivities, WebhookActivities,
};
use ventros_channels::meta::HttpGraphClient;
use ventros_channels::provider::Channels;
use ventros_channels::waha::HttpWahaClient;
use ventros_memory::embed::EmbeddingSettings;
use ventros_memory::engine::{FactExtractor, SpaceStatus, Weights};
use ventros_memory::ingest::{MemoryActivities, run_feed};
use ventros_memory::{MemoryEngine, MemoryServer};
use ventros_proto::v1::memory_service_server::MemoryServiceServer;
use ventros_workflows::{
    Campaign, CampaignRecipient, ContactMerge, Conversation, FollowUpTask, InboxSweep,
    InboxSweepInput, KnowledgeIngestion, MemoryIngestion, MemoryShard, OutboundMessage,
    ReembedInput, ReembedMemories, WebhookDelivery, ids,
};

/// Worker settings, from the environment (see the README's configuration table).
#[derive(Debug, Clone, clap::Parser)]
pub struct WorkerSettings {
    #[command(flatten)]
    pub connections: ventros_activities::settings::ConnectionSettings,
    /// Concurrent workflow-task polls. Split evenly between the sticky queue (tasks of cached
    /// workflows) and the normal queue (new workflows: every first message of a chat and every
    /// outbound message), which the SDK's default ratio starves.
    #[arg(long, env = "WORKER_WORKFLOW_POLLERS", default_value_t = 16)]
    pub workflow_pollers: usize,
    /// Concurrent activity-task polls.
    #[arg(long, env = "WORKER_ACTIVITY_POLLERS", default_value_t = 8)]
    pub activity_pollers: usize,
    /// The task queue of memory ingestion and re-embedding (default: `TASK_QUEUE` + `-memory`),
    /// polled by a worker of its own with few activity slots: a backlog of episodes to embed then
    /// waits in Temporal instead of taking the pollers and slots that replies need.
    #[arg(long, env = "MEMORY_TASK_QUEUE")]
    pub memory_task_queue: Option<String>,
    /// Memory activities (embedding an episode, a batch of re-embedding) this worker runs at once.
    /// One by default: the embedding runs at idle priority, but an ingestion's database writes and
    /// Temporal round trips do not, and with two at once they ran back to back during a backlog.
    /// Measured on 2 cores (`bench.sh --ai --backlog 600`): AI replies p50 195–209 ms, p99
    /// 360–400 ms with one, p50 465–600 ms, p99 0.7–1.3 s with two, for ~10 % fewer episodes
    /// ingested meanwhile. Raise it on a machine with cores to spare.
    #[arg(long, env = "MEMORY_MAX_CONCURRENT_ACTIVITIES", default_value_t = 1)]
    pub memory_max_concurrent_activities: usize,
    /// The Python agent service (AgentService), `host:port`. Unset: channels configured for AI
    /// replies hand their chats to a human.
    #[arg(long, env = "AGENTS_ADDRESS")]
    pub agents_address: Option<String>,
    /// Where this worker serves its Prometheus metrics (`GET /metrics`: the Temporal SDK's worker
    /// metrics and ours). Unset: no metrics.
    #[arg(long, env = "WORKER_METRICS_BIND")]
    pub metrics_bind: Option<std::net::SocketAddr>,
    /// Where this worker serves MemoryService for the agents' tools. Unset: not served.
    #[arg(long, env = "MEMORY_GRPC_BIND")]
    pub memory_grpc_bind: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub embedding: EmbeddingSettings,
    /// HYBRID search weights of the vector, keyword and graph lists (`vector,keyword,graph`).
    #[arg(long, env = "MEMORY_HYBRID_WEIGHTS", default_value = "1,1,0.5", value_parser = parse_weights)]
    pub hybrid_weights: Weights,
    /// Who reads facts out of customers' messages: `rules` (offline, in-process) or `agent` (the
    /// agent service's FactExtractionAgent, an LLM when that service is configured with one).
    #[arg(long, env = "MEMORY_FACT_EXTRACTOR", default_value = "rules", value_parser = ["rules", "agent"])]
    pub fact_extractor: String,
    /// Rows of one table from which a tenant gets its own HNSW index for tenant-wide vector search
    /// (below it, its rows are read exactly).
    #[arg(long, env = "MEMORY_TENANT_INDEX_ROWS", default_value_t = ventros_memory::engine::DEFAULT_TENANT_INDEX_MIN_ROWS)]
    pub tenant_index_rows: i64,
    /// How often the worker checks for tenants that outgrew the exact scan (and for indexes of
    /// deleted tenants or retired models), in seconds; 0 turns it off.
    #[arg(long, env = "MEMORY_INDEX_INTERVAL_SECS", default_value_t = 300)]
    pub memory_index_interval_secs: u64,
    /// How often the inbox sweeper looks for stored webhooks never handed to Temporal (a Temporal
    /// Schedule); 0 turns it off.
    #[arg(long, env = "INBOX_SWEEP_INTERVAL_SECS", default_value_t = 60)]
    pub inbox_sweep_interval_secs: u64,
    /// How old an unprocessed inbox row must be before the sweeper re-drives it (longer than any
    /// debounce, so a message still being gathered is left alone).
    #[arg(long, env = "INBOX_SWEEP_AFTER_SECS", default_value_t = 120)]
    pub inbox_sweep_after_secs: u64,
    /// How often the memory feed looks for new outbox events when idle, in milliseconds.
    #[arg(long, env = "MEMORY_FEED_INTERVAL_MS", default_value_t = 250)]
    pub memory_feed_interval_ms: u64,
    /// Memory ingestion queues (MemoryShard workflows) per tenant: how many of a tenant's contacts
    /// can be ingested at once across memory workers. Every worker's feed must use the same count;
    /// after a change, a contact's events may briefly be taken by two queues out of order.
    #[arg(long, env = "MEMORY_SHARDS", default_value_t = ventros_workflows::ids::DEFAULT_MEMORY_SHARDS)]
    pub memory_shards: u32,
    /// Attempts per outbound webhook delivery before it is marked failed.
    #[arg(long, env = "WEBHOOK_MAX_ATTEMPTS", default_value_t = 20)]
    pub webhook_max_attempts: u32,
    /// Backoff before the second attempt, doubling after each failure, in milliseconds.
    #[arg(long, env = "WEBHOOK_RETRY_INITIAL_MS", default_value_t = 5_000)]
    pub webhook_retry_initial_ms: u64,
    /// Longest backoff between attempts, in milliseconds.
    #[arg(long, env = "WEBHOOK_RETRY_MAX_MS", default_value_t = 3_600_000)]
    pub webhook_retry_max_ms: u64,
    #[command(flatten)]
    pub network: ventros_activities::settings::NetworkSettings,
    #[command(flatten)]
    pub media: ventros_activities::media::MediaSettings,
    /// The API's public address (`PUBLIC_BASE_URL` there): Meta fetches the files operators send
    /// from signed links under it.
    #[arg(long, env = "PUBLIC_BASE_URL", default_value = "http://127.0.0.1:8080")]
    pub public_base_url: String,
    /// Contacts a campaign run resolves per page of its segment.
    #[arg(long, env = "CAMPAIGN_PAGE_SIZE", default_value_t = 500)]
    pub campaign_page_size: u32,
    /// Recipients a campaign run keeps between their start and their hand-over to OutboundMessage
    /// (or skip, or park until their send time): bounds the load of one campaign.
    #[arg(long, env = "CAMPAIGN_MAX_IN_FLIGHT", default_value_t = 64)]
    pub campaign_max_in_flight: u32,
}

impl WorkerSettings {
    /// Where MemoryShard, MemoryIngestion and ReembedMemories run (see [`WorkerSettings::memory_task_queue`]).
    pub fn memory_queue(&self) -> String {
        self.memory_task_queue
            .clone()
            .filter(|q| !q.trim().is_empty())
            .unwrap_or_else(|| format!("{}-memory", self.connections.task_queue))
    }
}

/// `vector,keyword,graph`, each 0..=10 (also used by `ventros-memory-eval`).
pub fn parse_weights(value: &str) -> Result<Weights, String> {
    let parts: Vec<f32> = value
        .split(',')
        .map(|p| p.trim().parse::<f32>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match parts[..] {
        [vector, keyword, graph] if parts.iter().all(|w| (0.0..=10.0).contains(w)) => Ok(Weights {
            vector,
            keyword,
            graph,
        }),
        _ => Err("expected three weights between 0 and 10: vector,keyword,graph".into()),
    }
}

/// Connects to Temporal, retrying for up to `patience` (the server may still be starting).
pub async fn connect_temporal(
    address: &str,
    namespace: &str,
    patience: Duration,
) -> anyhow::Result<Client> {
    let url: temporalio_client::Url = address
        .parse()
        .with_context(|| format!("TEMPORAL_ADDRESS {address} is not a URL"))?;
    let connect = || async {
        let options = ConnectionOptions::new(url.clone())
            .identity(format!("ventros-worker@{}", std::process::id()))
            .connect_timeout(Duration::from_secs(3))
            .build();
        Connection::connect(options).await
    };
    let connection = connect
        .retry(
            // Every half second for up to `patience`.
            ConstantBuilder::default()
                .with_delay(Duration::from_millis(500))
                .with_max_times((patience.as_millis() / 500).max(1) as usize),
        )
        .notify(|err, _| tracing::warn!(error = %err, "Temporal not reachable yet; retrying"))
        .await
        .context("connecting to Temporal")?;
    Ok(Client::new(
        connection,
        ClientOptions::new(namespace).build(),
    )?)
}

/// Keeps every large tenant's vector index built (a pass that changed something is followed by
/// another at once, to confirm nothing is left).
async fn run_tenant_indexes(engine: Arc<MemoryEngine>, every: Duration) {
    ventros_activities::polling::run_polling_loop("tenant vector indexes", every, || {
        let engine = engine.clone();
        async move {
            let pass = engine.maintain_tenant_indexes().await?;
            Ok(pass.created + pass.dropped)
        }
    })
    .await;
}

/// Gives every follow-up task its FollowUpTask timer (and tells a running one of a change).
async fn run_task_timers(pool: sqlx::PgPool, client: Client, task_queue: String, idle: Duration) {
    ventros_activities::polling::run_polling_loop("task timers", idle, || {
        let (pool, client, task_queue) = (pool.clone(), client.clone(), task_queue.clone());
        async move {
            ventros_activities::tasks::start_task_timers(&pool, &client, &task_queue).await
        }
    })
    .await;
}

/// The webhook fan-out loop (outbox → deliveries → WebhookDelivery workflows); every few hundred
/// passes it also restarts deliveries a crash left without a workflow.
async fn run_webhook_fanout(
    pool: sqlx::PgPool,
    client: Client,
    task_queue: String,
    schedule: RetrySchedule,
    idle: Duration,
) {
    let mut passes = 0u64;
    ventros_activities::polling::run_polling_loop("webhook fan-out", idle, || {
        passes += 1;
        let (pool, client, task_queue) = (pool.clone(), client.clone(), task_queue.clone());
        async move {
            if passes.is_multiple_of(240) {
                start_pending(&pool, &client, &task_queue, schedule).await?;
            }
            fanout_once(&pool, &client, &task_queue, schedule, 200).await
        }
    })
    .await;
}

/// Creates the inbox sweeper's Temporal Schedule for this task queue, once (every worker tries; the
/// first wins). Change the interval by deleting the schedule (`inbox-sweep:<queue>`) in the UI.
async fn ensure_inbox_sweep(client: &Client, settings: &WorkerSettings) -> anyhow::Result<()> {
    use temporalio_client::schedules::{
        CreateScheduleOptions, ScheduleAction, ScheduleError, ScheduleOverlapPolicy, ScheduleSpec,
    };
    let queue = &settings.connections.task_queue;
    let schedule_id = format!("inbox-sweep:{queue}");
    let input = InboxSweepInput {
        older_than_secs: settings.inbox_sweep_after_secs,
        limit: 500,
    };
    let options = CreateScheduleOptions::builder()
        .action(ScheduleAction::start_workflow(
            InboxSweep::run,
            input,
            queue.clone(),
            schedule_id.clone(),
        ))
        .spec(ScheduleSpec::from_interval(Duration::from_secs(
            settings.inbox_sweep_interval_secs,
        )))
        .overlap_policy(ScheduleOverlapPolicy::Skip)
        .note(
            "re-drives stored webhooks that never reached a Conversation; calls messages never \
             delivered by their ack timeout undelivered"
                .to_owned(),
        )
        .build();
    match client.create_schedule(&schedule_id, options).await {
        Ok(_) => Ok(()),
        Err(ScheduleError::Rpc(status)) if status.code() == tonic::Code::AlreadyExists => Ok(()),
        Err(err) => Err(anyhow::anyhow!(
            "creating the inbox sweeper's schedule: {err}"
        )),
    }
}

/// Sets the passwords of the restricted login roles (migration 0009) from the environment, where
/// the deployment gives them (VENTROS_API_DB_PASSWORD, VENTROS_REPORTS_DB_PASSWORD): the worker
/// is the one process that logs in as the schema owner.
async fn set_login_passwords(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    for (role, variable) in [
        ("ventros_api", "VENTROS_API_DB_PASSWORD"),
        ("ventros_report", "VENTROS_REPORTS_DB_PASSWORD"),
    ] {
        let Ok(password) = std::env::var(variable) else {
            continue;
        };
        anyhow::ensure!(
            password.len() >= 16,
            "{variable} must be at least 16 characters"
        );
        // PostgreSQL quotes the literal itself (utility statements take no parameters).
        let statement = sqlx::query_scalar!(
            r#"SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text) AS "statement!""#,
            role,
            password
        )
        .fetch_one(pool)
        .await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(pool)
            .await
            .with_context(|| format!("setting the password of {role}"))?;
    }
    Ok(())
}

/// Runs the worker until SIGINT/SIGTERM, then drains and stops.
pub async fn run(settings: WorkerSettings) -> anyhow::Result<()> {
    let pool = connect_database(&settings).await?;
    // Internal gRPC (MemoryService here, the agent service there) authenticates every call.
    let internal = if settings.agents_address.is_some() || settings.memory_grpc_bind.is_some() {
        Some(
            ventros_activities::internal_auth::InternalAuth::from_env()
                .map_err(anyhow::Error::msg)?,
        )
    } else {
        None
    };
    let agents: Option<Arc<dyn AgentApi>> = match (&settings.agents_address, &internal) {
        (Some(address), Some(auth)) => Some(Arc::new(
            GrpcAgentClient::connect_lazy(address, auth.clone()).context("AGENTS_ADDRESS")?,
        )),
        _ => None,
    };
    let (engine, space) = memory_engine(&settings, &pool, &agents).await?;
    if let (Some(bind), Some(auth)) = (settings.memory_grpc_bind, &internal) {
        serve_memory(bind, auth, engine.clone()).await?;
    }
    let client = connect_temporal(
        &settings.connections.temporal_address,
        &settings.connections.temporal_namespace,
        Duration::from_secs(60),
    )
    .await?;
    if let SpaceStatus::NeedsReembed { model, .. } = space {
        start_reembed(&client, &settings, model).await?;
    }
    spawn_outbox_consumers(&settings, &pool, &client);
    if settings.memory_index_interval_secs > 0 {
        tokio::spawn(run_tenant_indexes(
            engine.clone(),
            Duration::from_secs(settings.memory_index_interval_secs),
        ));
    }
    if settings.inbox_sweep_interval_secs > 0 {
        ensure_inbox_sweep(&client, &settings).await?;
    }
    let memory_options = memory_worker_options(&settings, engine.clone())?;
    let options = worker_options(&settings, pool, &client, agents, engine)?;
    let runtime = Runtime::from_current_tokio(runtime_options(settings.metrics_bind)?)?;
    let mut worker = Worker::new(&runtime, client.clone(), options)?;
    let mut memory_worker = Worker::new(&runtime, client, memory_options)?;

    let shutdowns = (worker.shutdown_handle(), memory_worker.shutdown_handle());
    tokio::spawn(async move {
        ventros_activities::telemetry::stop_signal().await;
        tracing::info!("stop signal received; draining the worker");
        shutdowns.0();
        shutdowns.1();
    });
    tracing::info!(
        task_queue = %settings.connections.task_queue,
        memory_task_queue = %settings.memory_queue(),
        "worker polling"
    );
    tokio::try_join!(worker.run(), memory_worker.run())?;
    tracing::info!("worker stopped");
    Ok(())
}

/// The SDK runtime; with `metrics_bind`, its Prometheus exporter serves the SDK's worker metrics
/// and ours ([`ventros_activities::metrics`]) there.
fn runtime_options(
    metrics_bind: Option<std::net::SocketAddr>,
) -> anyhow::Result<temporalio_sdk::runtime::RuntimeOptions> {
    use temporalio_common::telemetry::{
        PrometheusExporterOptions, TelemetryOptions, start_prometheus_metric_exporter,
    };
    let Some(bind) = metrics_bind else {
        return Ok(Default::default());
    };
    let exporter = start_prometheus_metric_exporter(
        PrometheusExporterOptions::builder()
            .socket_addr(bind)
            .counters_total_suffix(true)
            .unit_suffix(true)
            .use_seconds_for_durations(true)
            .build(),
    )
    .context("starting the metrics exporter (WORKER_METRICS_BIND)")?;
    tracing::info!(address = %exporter.bound_addr, "worker metrics at /metrics");
    let meter: Arc<dyn temporalio_common::telemetry::metrics::CoreMeter> = exporter.meter;
    ventros_activities::metrics::install(meter.clone());
    let telemetry = TelemetryOptions::builder().metrics(meter).build();
    temporalio_sdk::runtime::RuntimeOptions::builder()
        .telemetry_options(telemetry)
        .build()
        .map_err(anyhow::Error::msg)
}

/// The pool, with the migrations applied and the login roles' passwords set.
async fn connect_database(settings: &WorkerSettings) -> anyhow::Result<sqlx::PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(settings.connections.database_max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect(secrecy::ExposeSecret::expose_secret(
            &settings.connections.database_url,
        ))
        .await
        .context("connecting to PostgreSQL")?;
    ventros_migrations::run(&pool)
        .await
        .context("applying migrations")?;
    set_login_passwords(&pool).await?;

    Ok(pool)
}

/// The embedding model, the engine over it, and whether its embedding space needs re-embedding.
async fn memory_engine(
    settings: &WorkerSettings,
    pool: &sqlx::PgPool,
    agents: &Option<Arc<dyn AgentApi>>,
) -> anyhow::Result<(Arc<MemoryEngine>, SpaceStatus)> {
    let embedder = settings
        .embedding
        .build()
        .context("loading the embedding model")?;
    tracing::info!(
        model = embedder.model(),
        dimensions = embedder.dimensions(),
        "embedding model loaded"
    );
    let extractor = match (settings.fact_extractor.as_str(), agents) {
        ("agent", Some(agents)) => FactExtractor::Agent(agents.clone()),
        ("agent", None) => anyhow::bail!("MEMORY_FACT_EXTRACTOR=agent needs AGENTS_ADDRESS"),
        _ => FactExtractor::Rules,
    };
    let engine = Arc::new(
        MemoryEngine::new(pool.clone(), embedder)
            .with_weights(settings.hybrid_weights)
            .with_extractor(extractor)
            .with_tenant_index_min_rows(settings.tenant_index_rows),
    );
    let space = engine
        .ensure_space()
        .await
        .context("registering the embedding space")?;
    Ok((engine, space))
}

/// MemoryService for the agent service, behind the internal credentials.
async fn serve_memory(
    bind: std::net::SocketAddr,
    auth: &ventros_activities::internal_auth::InternalAuth,
    engine: Arc<MemoryEngine>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .context("binding MEMORY_GRPC_BIND")?;
    tracing::info!(address = %listener.local_addr()?, "MemoryService listening");
    let service =
        MemoryServiceServer::with_interceptor(MemoryServer::new(engine), auth.interceptor());
    tokio::spawn(async move {
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        if let Err(err) = tonic::transport::Server::builder()
            .layer(ventros_activities::traces::ServerSpanLayer::grpc())
            .add_service(service)
            .serve_with_incoming(incoming)
            .await
        {
            tracing::error!(error = %err, "MemoryService stopped");
        }
    });
    Ok(())
}

/// A new model: re-embed everything before searches switch to it (one workflow per model).
async fn start_reembed(
    client: &Client,
    settings: &WorkerSettings,
    model: String,
) -> anyhow::Result<()> {
    let options = temporalio_client::WorkflowStartOptions::new(
        settings.memory_queue(),
        ids::reembed_workflow_id(&model),
    )
    .id_conflict_policy(temporalio_client::WorkflowIdConflictPolicy::UseExisting)
    .build();
    client
        .start_workflow(
            ReembedMemories::run,
            ReembedInput {
                model: model.clone(),
                reembedded: 0,
            },
            options,
        )
        .await
        .context("starting ReembedMemories")?;
    tracing::warn!(%model, "embedding model changed: re-embedding stored memories before switching searches");
    Ok(())
}

/// The outbox's consumers: the memory feed and the webhook fan-out.
fn spawn_outbox_consumers(settings: &WorkerSettings, pool: &sqlx::PgPool, client: &Client) {
    let feed_interval = Duration::from_millis(settings.memory_feed_interval_ms.max(10));
    tokio::spawn(run_feed(
        pool.clone(),
        client.clone(),
        settings.memory_queue(),
        feed_interval,
        settings.memory_shards.max(1),
    ));
    let schedule = RetrySchedule {
        max_attempts: settings.webhook_max_attempts.max(1),
        initial_backoff: Duration::from_millis(settings.webhook_retry_initial_ms.max(1)),
        max_backoff: Duration::from_millis(settings.webhook_retry_max_ms.max(1)),
    };
    tokio::spawn(run_task_timers(
        pool.clone(),
        client.clone(),
        settings.connections.task_queue.clone(),
        feed_interval,
    ));
    tokio::spawn(run_webhook_fanout(
        pool.clone(),
        client.clone(),
        settings.connections.task_queue.clone(),
        schedule,
        feed_interval,
    ));
}

/// Every workflow and activity this worker runs, and its pollers.
fn worker_options(
    settings: &WorkerSettings,
    pool: sqlx::PgPool,
    client: &Client,
    agents: Option<Arc<dyn AgentApi>>,
    engine: Arc<MemoryEngine>,
) -> anyhow::Result<WorkerOptions> {
    let inbox = InboxActivities::new(
        pool.clone(),
        client.clone(),
        settings.connections.task_queue.clone(),
    );
    let campaigns = CampaignActivities::new(
        pool.clone(),
        client.clone(),
        agents.clone(),
        settings.campaign_page_size,
        settings.campaign_max_in_flight,
    );
    let waha: Arc<dyn ventros_channels::waha::WahaApi> = Arc::new(HttpWahaClient::with_policy(
        settings.network.provider_policy(),
    ));
    let identities = IdentityActivities::new(pool.clone(), waha.clone());
    let media = ventros_activities::media::MediaActivities::new(
        pool.clone(),
        settings.media.store()?,
        ventros_channels::media_fetch::MediaDownloader::new(settings.network.provider_policy()),
        settings.media.transcriber()?,
        settings.media.media_max_inbound_bytes,
    );
    let activities = ConversationActivities::new(
        pool.clone(),
        Channels::new(
            waha,
            Arc::new(HttpGraphClient::with_policy(
                settings.network.provider_policy(),
            )),
        ),
        agents,
    )
    .with_media(ventros_activities::media::OutboundMedia::new(
        pool.clone(),
        settings.media.store()?,
        &settings.public_base_url,
    ));
    Ok(WorkerOptions::new(settings.connections.task_queue.clone())
        .workflow_task_poller_behavior(PollerBehavior::SimpleMaximum(
            settings.workflow_pollers.max(2),
        ))
        .nonsticky_to_sticky_poll_ratio(1.0)
        .activity_task_poller_behavior(PollerBehavior::SimpleMaximum(
            settings.activity_pollers.max(1),
        ))
        .register_workflow::<Conversation>()?
        .register_workflow::<OutboundMessage>()?
        // Also here: runs started on this queue before memory had a queue of its own.
        .register_workflow::<MemoryIngestion>()?
        .register_workflow::<ReembedMemories>()?
        .register_workflow::<KnowledgeIngestion>()?
        .register_workflow::<ContactMerge>()?
        .register_workflow::<WebhookDelivery>()?
        .register_workflow::<InboxSweep>()?
        .register_workflow::<Campaign>()?
        .register_workflow::<CampaignRecipient>()?
        .register_workflow::<FollowUpTask>()?
        .register_activities(activities)
        .register_activities(ventros_activities::outbound_start::OutboundStarter::new(
            client.clone(),
            settings.connections.task_queue.clone(),
        ))
        .register_activities(campaigns)
        .register_activities(
            ventros_activities::campaign_progress::ProgressReporter::new(client.clone()),
        )
        .register_activities(ContactActivities::new(pool.clone()))
        .register_activities(TaskActivities::new(pool.clone()))
        .register_activities(identities)
        .register_activities(inbox)
        .register_activities(WebhookActivities::new(
            pool,
            settings.network.webhook_allow_private_networks,
        ))
        .register_activities(MemoryActivities::new(engine))
        .register_activities(media)
        .build())
}

/// The memory worker: MemoryShard (and MemoryIngestion, the per-contact queues before it) and
/// ReembedMemories on their own task queue, with
/// `MEMORY_MAX_CONCURRENT_ACTIVITIES` activity and local-activity slots. The reply path's tasks are
/// on the other queue, whose pollers and slots this worker does not share (the CPU it does: stored
/// text is embedded at idle priority, see `ventros_memory::embed`).
fn memory_worker_options(
    settings: &WorkerSettings,
    engine: Arc<MemoryEngine>,
) -> anyhow::Result<WorkerOptions> {
    use temporalio_sdk::runtime::worker_tuner::{FixedSizeSlotSupplier, TunerHolder};
    let slots = settings.memory_max_concurrent_activities.max(1);
    let tuner = TunerHolder::builder()
        // Ingestion is a local activity inside a workflow task: a few tasks per slot, so that a
        // backlog waits in Temporal's queue rather than as open tasks waiting for a slot here.
        .workflow_task_slot_supplier(FixedSizeSlotSupplier::new(slots * 4))
        .activity_task_slot_supplier(FixedSizeSlotSupplier::new(slots))
        .local_activity_task_slot_supplier(FixedSizeSlotSupplier::new(slots))
        .nexus_task_slot_supplier(FixedSizeSlotSupplier::new(1))
        .build();
    Ok(WorkerOptions::new(settings.memory_queue())
        .tuner(tuner)
        .workflow_task_poller_behavior(PollerBehavior::SimpleMaximum(2))
        .nonsticky_to_sticky_poll_ratio(1.0)
        .activity_task_poller_behavior(PollerBehavior::SimpleMaximum(1))
        .register_workflow::<MemoryShard>()?
        .register_workflow::<MemoryIngestion>()?
        .register_workflow::<ReembedMemories>()?
        .register_activities(MemoryActivities::new(engine))
        .build())
}
