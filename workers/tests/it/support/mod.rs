//! The end-to-end harness: every test gets its own database, task queue, tenant and WAHA
//! simulator, the API in-process on a random port, and the worker as a real child process (so a
//! test can SIGKILL it). The Temporal dev server and PostgreSQL are shared per run and come from
//! `TEMPORAL_ADDRESS` and `DATABASE_URL` (scripts/test.sh starts both).

use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::time::Instant;
use uuid::Uuid;
use ventros_api::{ApiConfig, AppState, TemporalHandle};
use ventros_simulators::waha::WahaSimulator;

pub(crate) const WAHA_KEY: &str = "sim-api-key";
pub(crate) const HMAC_KEY: &str = "test-hmac-key-0123456789";
/// The secret the tests' worker, API and agent service share for internal gRPC.
pub(crate) const INTERNAL_SECRET: &str = "test-internal-secret-0123456789abcdef";

pub(crate) fn internal_auth() -> ventros_activities::internal_auth::InternalAuth {
    ventros_activities::internal_auth::InternalAuth::new(INTERNAL_SECRET).expect("secret")
}

/// Attaches a tenant-wide internal token to every call (what the API does for its tenant).
#[derive(Clone)]
pub(crate) struct TenantToken(pub Uuid);

impl tonic::service::Interceptor for TenantToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        internal_auth().attach(&mut request, Some(self.0), None, Duration::from_secs(60));
        Ok(request)
    }
}

/// A MemoryService client with credentials for `tenant_id`.
pub(crate) async fn memory_client(
    address: &str,
    tenant_id: Uuid,
) -> Option<
    ventros_proto::v1::memory_service_client::MemoryServiceClient<
        tonic::service::interceptor::InterceptedService<tonic::transport::Channel, TenantToken>,
    >,
> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .ok()?
        .connect()
        .await
        .ok()?;
    Some(
        ventros_proto::v1::memory_service_client::MemoryServiceClient::with_interceptor(
            channel,
            TenantToken(tenant_id),
        ),
    )
}

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} must be set: run the tests through scripts/test.sh"))
}

static CRYPTO: Once = Once::new();

/// Polls `check` until it yields a value, failing the test after `timeout`.
pub(crate) async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TCP port on loopback for a child process to bind later, reserved for this test process.
///
/// Binding port 0 and closing it is racy: between the close and the child's bind the kernel
/// may hand the same port to anything asking for an ephemeral port (every outgoing connection
/// does) or to another test process, and the child then fails with "address in use". So the
/// port comes from below the kernel's ephemeral range (32768–60999 on Linux), where nothing is
/// assigned implicitly, and an advisory lock on a file named after it keeps the other test
/// processes of the run off it until this process exits (the kernel drops the lock then).
pub(crate) fn free_port() -> u16 {
    use std::fs::{File, OpenOptions};
    use std::sync::Mutex;

    const FIRST: u16 = 20_000;
    const COUNT: u16 = 12_000;
    static HELD: Mutex<Vec<File>> = Mutex::new(Vec::new());

    let dir = std::env::temp_dir().join("ventros-test-ports");
    std::fs::create_dir_all(&dir).expect("port lock directory");
    // Start each process somewhere else so that concurrent ones rarely contend.
    let seed = std::process::id() ^ Uuid::new_v4().as_u128() as u32;
    for step in 0..COUNT {
        let port = FIRST + ((seed as u16 % COUNT) + step) % COUNT;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(port.to_string()))
            .expect("port lock file");
        if file.try_lock().is_err() {
            continue;
        }
        // Something outside the tests (or a process that holds it without a lock) may use it.
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        HELD.lock().expect("port locks").push(file);
        return port;
    }
    panic!("no free port between {FIRST} and {}", FIRST + COUNT)
}

/// The Python agent service as a child process, calling MemoryService back at `memory_address`.
pub(crate) struct AgentService {
    pub address: String,
    child: Option<Child>,
}

impl AgentService {
    pub(crate) async fn start(memory_address: &str) -> AgentService {
        Self::start_on(memory_address, &format!("127.0.0.1:{}", free_port())).await
    }

    pub(crate) async fn start_on(memory_address: &str, address: &str) -> AgentService {
        Self::start_with(memory_address, address, &[]).await
    }

    /// With extra environment (`env`), e.g. where to export traces.
    pub(crate) async fn start_with(
        memory_address: &str,
        address: &str,
        env: &[(&str, &str)],
    ) -> AgentService {
        let address = address.to_owned();
        let python = std::env::var("VENTROS_PYTHON")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python").into());
        let child = Command::new(python)
            .args(["-m", "ventros_agents.server"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../agents"))
            .env("AGENTS_BIND", &address)
            .env("MEMORY_SERVICE_ADDRESS", memory_address)
            .env("INTERNAL_AUTH_SECRET", INTERNAL_SECRET)
            .env("LOG_LEVEL", "WARNING")
            .env("AGENTS_GRACE_SECONDS", "1")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the agent service");
        let service = AgentService {
            address,
            child: Some(child),
        };
        let client = ventros_activities::agents::GrpcAgentClient::connect_lazy(
            &service.address,
            internal_auth(),
        )
        .expect("client");
        eventually(
            "the agent service to answer",
            Duration::from_secs(120),
            || {
                let client = client.clone();
                async move {
                    use ventros_activities::agents::AgentApi;
                    client
                        .list(Duration::from_secs(1))
                        .await
                        .ok()
                        .filter(|agents| !agents.is_empty())
                        .map(|_| ())
                }
            },
        )
        .await;
        service
    }

    /// SIGKILL.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for AgentService {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) struct TestApp {
    pub api: String,
    pub sim: WahaSimulator,
    pub sim_url: String,
    pub pool: PgPool,
    pub database_url: String,
    pub temporal: temporalio_client::Client,
    pub task_queue: String,
    pub http: reqwest::Client,
    pub tenant_id: Uuid,
    pub api_key: String,
    pub channel_id: Uuid,
    /// Where this app's worker serves MemoryService.
    pub memory_address: String,
    pub agents_address: Option<String>,
    /// Extra environment for the worker process (set before `start_worker`).
    pub worker_env: Vec<(String, String)>,
    pub temporal_address: String,
    worker: Option<Child>,
}

/// A fresh database with the schema applied.
pub(crate) async fn fresh_database() -> (PgPool, String) {
    ventros_migrations::fresh_database(&env("DATABASE_URL"), 5)
        .await
        .expect("a fresh database")
}

/// A change to the API's configuration before it starts.
type ConfigChange = Box<dyn FnOnce(&mut ApiConfig) + Send>;

/// The API served in-process on a random port, with its own pools logging in as the restricted
/// roles (`ventros_api` under RLS, `ventros_report`), never as the owner that made the database.
pub(crate) struct ApiBuilder {
    database_url: String,
    temporal: TemporalHandle,
    task_queue: String,
    agents_address: Option<String>,
    memory_address: Option<String>,
    configure: Vec<ConfigChange>,
}

impl ApiBuilder {
    pub(crate) fn new(database_url: &str, temporal: TemporalHandle, task_queue: &str) -> Self {
        ApiBuilder {
            database_url: database_url.to_owned(),
            temporal,
            task_queue: task_queue.to_owned(),
            agents_address: None,
            memory_address: None,
            configure: Vec::new(),
        }
    }

    /// Another Temporal connection (a dead one, to test what the API does without it).
    pub(crate) fn temporal(mut self, temporal: TemporalHandle) -> Self {
        self.temporal = temporal;
        self
    }

    /// The agent service the API drafts replies with.
    pub(crate) fn agents(mut self, address: &str) -> Self {
        self.agents_address = Some(address.to_owned());
        self
    }

    /// The worker's MemoryService, for the memory routes.
    pub(crate) fn memory(mut self, address: &str) -> Self {
        self.memory_address = Some(address.to_owned());
        self
    }

    /// A change to the configuration (limits, network policy, ...), applied after the defaults.
    pub(crate) fn configure(
        mut self,
        change: impl FnOnce(&mut ApiConfig) + Send + 'static,
    ) -> Self {
        self.configure.push(Box::new(change));
        self
    }

    /// Serves it; returns its base URL.
    pub(crate) async fn spawn(self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind API");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let mut config = ApiConfig::new(&self.task_queue, &base);
        // The tests' simulators and webhook receivers listen on loopback (the local stack's setting).
        config.provider_network = ventros_channels::net_guard::NetPolicy::private_allowed();
        config.webhook_network = ventros_channels::net_guard::NetPolicy::private_allowed();
        for change in self.configure {
            change(&mut config);
        }
        let api_url = ventros_api::db::login_url(&self.database_url, ventros_api::db::API_LOGIN)
            .expect("API URL");
        let pool = ventros_api::db::app_pool(&api_url, 5)
            .await
            .expect("API pool");
        let reports_url =
            ventros_api::db::login_url(&self.database_url, ventros_api::db::REPORT_LOGIN)
                .expect("reports URL");
        let reports = ventros_api::db::report_pool(&reports_url, 2)
            .await
            .expect("reports pool");
        let agents =
            ventros_api::routes::agents::AgentDirectory::new(self.agents_address.map(|a| {
                std::sync::Arc::new(
                    ventros_activities::agents::GrpcAgentClient::connect_lazy(&a, internal_auth())
                        .expect("agents client"),
                ) as std::sync::Arc<dyn ventros_activities::agents::AgentApi>
            }));
        let memory = ventros_api::routes::memories::MemoryClient::connect_lazy(
            self.memory_address.as_deref(),
            internal_auth(),
        )
        .expect("memory client");
        let state = AppState::new(pool, reports, self.temporal, config, agents, memory);
        tokio::spawn(async move {
            axum::serve(
                listener,
                ventros_api::router(state)
                    .into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
        });
        base
    }
}

/// How a [`TestApp`] is made: `TestApp::builder().settings(…).agents(…).spawn().await`, each
/// option only where a test needs it.
#[derive(Default)]
pub(crate) struct TestAppBuilder {
    settings: Option<Value>,
    agents: Option<(String, String)>,
    temporal_address: Option<String>,
    web_dir: Option<std::path::PathBuf>,
    api_changes: Vec<ConfigChange>,
    worker_env: Vec<(String, String)>,
}

impl TestAppBuilder {
    /// A change to the API's configuration (its media store, limits, ...).
    pub(crate) fn api_config(
        mut self,
        change: impl FnOnce(&mut ApiConfig) + Send + 'static,
    ) -> Self {
        self.api_changes.push(Box::new(change));
        self
    }

    /// Extra environment for the worker process.
    pub(crate) fn worker_env(mut self, name: &str, value: &str) -> Self {
        self.worker_env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The WhatsApp channel's settings (auto-reply, timing, AI, pacing); default `{}`.
    pub(crate) fn settings(mut self, settings: Value) -> Self {
        self.settings = Some(settings);
        self
    }

    /// The worker and API use the agent service at `address`, which calls MemoryService back at
    /// `memory_address` (this app's worker serves it there).
    pub(crate) fn agents(mut self, address: &str, memory_address: &str) -> Self {
        self.agents = Some((address.to_owned(), memory_address.to_owned()));
        self
    }

    /// Another Temporal server than the shared dev server (the time-skipping test server).
    pub(crate) fn temporal(mut self, address: &str) -> Self {
        self.temporal_address = Some(address.to_owned());
        self
    }

    /// The API serves the built web app from this directory.
    pub(crate) fn web_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.web_dir = Some(dir);
        self
    }

    /// A database, a tenant with an API key, a WAHA channel on the simulator (its session's
    /// webhook pointing at the API), the API and the worker.
    pub(crate) async fn spawn(self) -> TestApp {
        let settings = self.settings.unwrap_or_else(|| json!({}));
        let temporal_address = self
            .temporal_address
            .unwrap_or_else(|| env("TEMPORAL_ADDRESS"));
        let web_dir = self.web_dir;
        let (agents_address, memory_address) = match self.agents {
            Some((agents, memory)) => (Some(agents), memory),
            None => (None, format!("127.0.0.1:{}", free_port())),
        };
        CRYPTO.call_once(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let (pool, database_url) = fresh_database().await;
        let temporal = ventros_workers::connect_temporal(
            &temporal_address,
            "default",
            Duration::from_secs(30),
        )
        .await
        .expect("Temporal");
        let task_queue = format!("test-{}", Uuid::new_v4().simple());

        let sim = WahaSimulator::new(WAHA_KEY, Duration::from_millis(30));
        let sim_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sim");
        let sim_url = format!("http://{}", sim_listener.local_addr().expect("addr"));
        let router = sim.router();
        tokio::spawn(async move { axum::serve(sim_listener, router).await });

        let mut api = ApiBuilder::new(
            &database_url,
            TemporalHandle::from_client(temporal.clone()),
            &task_queue,
        )
        .memory(&memory_address)
        .configure(move |config| config.web_dir = web_dir);
        for change in self.api_changes {
            api = api.configure(change);
        }
        if let Some(agents) = &agents_address {
            api = api.agents(agents);
        }
        let api = api.spawn().await;
        let (tenant_id, key) = ventros_api::auth::create_tenant(&pool, "Test tenant")
            .await
            .expect("tenant");

        let mut app = TestApp {
            api,
            sim,
            sim_url,
            pool,
            database_url,
            temporal,
            task_queue,
            http: reqwest::Client::new(),
            tenant_id,
            api_key: key.secret,
            channel_id: Uuid::nil(),
            memory_address,
            agents_address,
            worker_env: self.worker_env,
            temporal_address,
            worker: None,
        };
        let (status, channel) = app
            .post(
                "/api/v1/channels",
                json!({
                    "name": "WhatsApp test",
                    "kind": "waha",
                    "provider_config": {"base_url": app.sim_url, "api_key": WAHA_KEY, "session": "default", "hmac_key": HMAC_KEY},
                    "settings": settings,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "channel creation: {channel}");
        app.channel_id = channel["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("channel id");
        let webhook_url = channel["webhook"]["url"]
            .as_str()
            .expect("webhook url")
            .to_owned();

        let resp = app
            .http
            .post(format!("{}/api/sessions", app.sim_url))
            .header("X-Api-Key", WAHA_KEY)
            .json(
                &json!({"name": "default", "start": true, "config": {"webhooks": [{
                    "url": webhook_url,
                    "events": ["message", "message.ack", "session.status"],
                    "hmac": {"key": HMAC_KEY},
                    "retries": {"policy": "constant", "delaySeconds": 0.1, "attempts": 100},
                }]}}),
            )
            .send()
            .await
            .expect("configure sim session");
        assert_eq!(resp.status(), StatusCode::CREATED);

        app.start_worker();
        app
    }
}

impl TestApp {
    pub(crate) fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// The common case: a complete app whose channel uses `settings`.
    pub(crate) async fn spawn(settings: Value) -> TestApp {
        Self::builder().settings(settings).spawn().await
    }

    /// Another API on this app's database and task queue (other limits, another Temporal).
    pub(crate) fn api(&self) -> ApiBuilder {
        ApiBuilder::new(
            &self.database_url,
            TemporalHandle::from_client(self.temporal.clone()),
            &self.task_queue,
        )
    }

    pub(crate) fn start_worker(&mut self) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ventros-worker"));
        let child = command
            .env("DATABASE_URL", &self.database_url)
            .env("TEMPORAL_ADDRESS", &self.temporal_address)
            .env("TEMPORAL_TASK_QUEUE", &self.task_queue)
            .env("DATABASE_MAX_CONNECTIONS", "4")
            .env("MEMORY_GRPC_BIND", &self.memory_address)
            .env("INTERNAL_AUTH_SECRET", INTERNAL_SECRET)
            // The same store as the in-process API's default (files are per tenant inside it),
            // and the API's address for the signed links Meta fetches files from.
            .env(
                "MEDIA_STORE_URL",
                std::env::temp_dir().join("ventros-media"),
            )
            .env("PUBLIC_BASE_URL", &self.api)
            // One inference thread: two on a 2-core machine only contend (and tests run in pairs).
            .env("RAYON_NUM_THREADS", "1")
            // The tests' webhook receivers and simulators listen on loopback.
            .env("WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true")
            .env("PROVIDER_ALLOW_PRIVATE_NETWORKS", "true")
            // One schedule per test would outlive it on the shared server; a test that needs the
            // sweeper turns it on through worker_env.
            .env("INBOX_SWEEP_INTERVAL_SECS", "0")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(
                self.worker_env
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = match &self.agents_address {
            Some(address) => child.env("AGENTS_ADDRESS", address),
            None => child.env_remove("AGENTS_ADDRESS"),
        }
        .spawn()
        .expect("spawn worker");
        self.worker = Some(child);
    }

    /// SIGKILL: no shutdown, no draining, exactly like a crash.
    pub(crate) fn kill_worker(&mut self) {
        if let Some(mut child) = self.worker.take() {
            child.kill().expect("SIGKILL worker");
            child.wait().expect("reap worker");
        }
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.get_as(path, &self.api_key).await
    }

    pub(crate) async fn get_as(&self, path: &str, key: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.api))
            .bearer_auth(key)
            .send()
            .await
            .expect("GET");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.api))
            .bearer_auth(&self.api_key)
            .json(&body)
            .send()
            .await
            .expect("POST");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// A message's status history, oldest first, as the API shows it.
    pub(crate) async fn status_history(&self, message_id: Uuid) -> Vec<String> {
        let (status, message) = self.get(&format!("/api/v1/messages/{message_id}")).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{message}");
        message["status_history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["status"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The events of a workflow's history (its latest run).
    pub(crate) async fn history_events(
        &self,
        workflow_id: &str,
    ) -> Vec<temporalio_common::protos::temporal::api::history::v1::HistoryEvent> {
        self.history_events_if_any(workflow_id)
            .await
            .expect("history")
    }

    /// A workflow's history, or `None` when no workflow has that id.
    pub(crate) async fn history_events_if_any(
        &self,
        workflow_id: &str,
    ) -> Option<Vec<temporalio_common::protos::temporal::api::history::v1::HistoryEvent>> {
        self.temporal
            .get_workflow_handle::<temporalio_client::UntypedWorkflow>(workflow_id.to_owned())
            .fetch_history(temporalio_client::WorkflowFetchHistoryOptions::default())
            .into_events()
            .await
            .ok()
    }

    /// The id of the MemoryShard workflow that ingests `contact`'s events (the worker's default
    /// shard count).
    pub(crate) fn memory_shard_workflow(&self, contact: Uuid) -> String {
        use ventros_workflows::ids;
        ids::memory_shard_workflow_id(
            self.tenant_id,
            ids::memory_shard_of(contact, ids::DEFAULT_MEMORY_SHARDS),
        )
    }

    /// With `VENTROS_RECORD_HISTORIES=DIR`, saves a workflow's history for the replay tests.
    /// Never over an existing file: a recorded history stands for a released behaviour and stays;
    /// a changed behaviour (behind `patched`) is recorded under a new name beside it.
    pub(crate) async fn record_history(&self, workflow_id: &str, name: &str) {
        use temporalio_client::{UntypedWorkflow, WorkflowFetchHistoryOptions};
        let Ok(dir) = std::env::var("VENTROS_RECORD_HISTORIES") else {
            return;
        };
        let path = std::path::Path::new(&dir).join(format!("{name}.json"));
        if path.exists() {
            eprintln!(
                "{} exists and is kept: record a new behaviour under a new name",
                path.display()
            );
            return;
        }
        let handle = self
            .temporal
            .get_workflow_handle::<UntypedWorkflow>(workflow_id.to_owned());
        let json = handle
            .fetch_history(WorkflowFetchHistoryOptions::default())
            .to_json()
            .await
            .expect("history");
        std::fs::write(path, json).expect("write history");
    }

    /// Any method, with `token` (an API key or access token) and an optional JSON body.
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("API call");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// A customer writes, through the simulator (signed `message` webhooks).
    pub(crate) async fn customer_writes(
        &self,
        from: &str,
        messages: Value,
        deliveries: u32,
        reverse: bool,
    ) -> Value {
        let resp = self
            .http
            .post(format!("{}/sim/inbound", self.sim_url))
            .json(&json!({"from": from, "push_name": "Test Customer", "messages": messages, "deliveries": deliveries, "reverse": reverse}))
            .send()
            .await
            .expect("sim inbound");
        assert!(resp.status().is_success());
        let body: Value = resp.json().await.expect("sim answer");
        for status in body["statuses"].as_array().expect("statuses") {
            assert_eq!(
                status.as_u64(),
                Some(200),
                "the API must accept every delivery: {body}"
            );
        }
        body
    }

    pub(crate) fn sent_to(&self, chat: &str) -> Vec<String> {
        self.sim
            .sent()
            .into_iter()
            .filter(|m| m.chat_id == chat)
            .map(|m| m.body)
            .collect()
    }

    pub(crate) async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }

    pub(crate) async fn outbound_statuses(&self) -> Vec<(Uuid, String, Option<String>)> {
        sqlx::query_as("SELECT id, status, failure_reason FROM messages WHERE direction = 'outbound' ORDER BY created_at")
            .fetch_all(&self.pool)
            .await
            .expect("outbound messages")
    }

    /// Waits until there are `n` outbound messages and all have reached `status`.
    pub(crate) async fn wait_outbound(
        &self,
        n: usize,
        status: &str,
        timeout: Duration,
    ) -> Vec<(Uuid, String, Option<String>)> {
        eventually(
            &format!("{n} outbound message(s) {status}"),
            timeout,
            || async {
                let rows = self.outbound_statuses().await;
                (rows.len() == n && rows.iter().all(|(_, s, _)| s == status)).then_some(rows)
            },
        )
        .await
    }

    /// The tenant's outbox events in order. Every type must be one `EventType` names: a type
    /// written anywhere else (SQL, a trigger) would reach subscribers undocumented.
    pub(crate) async fn outbox(&self) -> Vec<(String, Value)> {
        let rows: Vec<(String, Value)> =
            sqlx::query_as("SELECT event_type, payload FROM outbox_events ORDER BY id")
                .fetch_all(&self.pool)
                .await
                .expect("outbox");
        for (event_type, _) in &rows {
            assert!(
                event_type.parse::<ventros_domain::EventType>().is_ok(),
                "outbox event type {event_type:?} is not defined in ventros_domain::EventType"
            );
        }
        rows
    }

    /// The only conversation of the tenant, through the API.
    pub(crate) async fn only_conversation(&self) -> Value {
        let (status, list) = self.get("/api/v1/conversations").await;
        assert_eq!(status, StatusCode::OK);
        let items = list["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "expected one conversation: {list}");
        items[0].clone()
    }

    /// Posts a raw webhook body with the given headers.
    pub(crate) async fn raw_webhook(
        &self,
        channel: &str,
        body: Vec<u8>,
        signature: Option<String>,
    ) -> (StatusCode, Value, String) {
        let mut req = self
            .http
            .post(format!("{}/webhooks/waha/{channel}", self.api))
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(sig) = signature {
            req = req
                .header("X-Webhook-Hmac", sig)
                .header("X-Webhook-Hmac-Algorithm", "sha512");
        }
        let resp = req.send().await.expect("webhook");
        let status = resp.status();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (
            status,
            resp.json().await.unwrap_or(Value::Null),
            content_type,
        )
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(mut child) = self.worker.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An app whose channel answers with the AI agent: the Python agent service as a real process,
/// calling MemoryService back on this app's worker.
pub(crate) async fn ai_app(settings: Value) -> (TestApp, AgentService) {
    let memory = format!("127.0.0.1:{}", free_port());
    let agents = AgentService::start(&memory).await;
    let app = TestApp::builder()
        .settings(settings)
        .agents(&agents.address, &memory)
        .spawn()
        .await;
    (app, agents)
}

/// Local activities of `activity_type` recorded in a history (their markers carry the type in
/// their data).
pub(crate) fn local_activities(
    events: &[temporalio_common::protos::temporal::api::history::v1::HistoryEvent],
    activity_type: &str,
) -> usize {
    use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
    events
        .iter()
        .filter(|e| match &e.attributes {
            Some(Attributes::MarkerRecordedEventAttributes(m)) => {
                m.marker_name == "core_local_activity"
                    && m.details
                        .values()
                        .flat_map(|p| &p.payloads)
                        .any(|p| String::from_utf8_lossy(&p.data).contains(activity_type))
            }
            _ => false,
        })
        .count()
}

/// How many signals a workflow's history received.
pub(crate) fn signals_in(
    events: &[temporalio_common::protos::temporal::api::history::v1::HistoryEvent],
) -> usize {
    use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
    events
        .iter()
        .filter(|e| {
            matches!(
                e.attributes,
                Some(Attributes::WorkflowExecutionSignaledEventAttributes(_))
            )
        })
        .count()
}
