//! The API's Temporal client, connected in the background so the API starts (and answers 503 on
//! the paths that need Temporal) even while the Temporal server is down or still starting.

use backon::{ExponentialBuilder, Retryable};
use std::sync::Arc;
use std::time::Duration;

use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions};
use tokio::sync::RwLock;

use crate::error::ApiError;

#[derive(Clone)]
pub struct TemporalHandle {
    client: Arc<RwLock<Option<Client>>>,
}

impl TemporalHandle {
    /// Starts connecting in the background, retrying until it succeeds.
    pub fn connect_in_background(address: String, namespace: String) -> Self {
        let handle = TemporalHandle {
            client: Arc::default(),
        };
        let slot = handle.client.clone();
        tokio::spawn(async move {
            let url: temporalio_client::Url = match address.parse() {
                Ok(url) => url,
                Err(err) => {
                    tracing::error!(error = %err, "TEMPORAL_ADDRESS is not a URL; Temporal paths will answer 503");
                    return;
                }
            };
            let connect = || async {
                let options = ConnectionOptions::new(url.clone())
                    .identity(format!("ventros-api@{}", std::process::id()))
                    .connect_timeout(Duration::from_secs(3))
                    .build();
                let connection = Connection::connect(options).await?;
                Ok::<_, anyhow::Error>(Client::new(
                    connection,
                    ClientOptions::new(namespace.clone()).build(),
                )?)
            };
            // Until it answers, however long: the API serves everything else meanwhile.
            let client = connect
                .retry(
                    ExponentialBuilder::default()
                        .with_min_delay(Duration::from_millis(200))
                        .with_max_delay(Duration::from_secs(5))
                        .with_jitter()
                        .without_max_times(),
                )
                .notify(|err, _| tracing::warn!(error = %err, "Temporal not reachable; retrying"))
                .await;
            if let Ok(client) = client {
                *slot.write().await = Some(client);
                tracing::info!("connected to Temporal");
            }
        });
        handle
    }

    pub fn from_client(client: Client) -> Self {
        TemporalHandle {
            client: Arc::new(RwLock::new(Some(client))),
        }
    }

    pub async fn client(&self) -> Result<Client, ApiError> {
        self.client
            .read()
            .await
            .clone()
            .ok_or_else(|| ApiError::Unavailable("Temporal is not reachable; retry shortly".into()))
    }
}

/// A workflow's own account of itself (its `state` query), when it can be asked: the campaign's
/// progress, the conversation's session. One shape for every detail view that shows one.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LiveWorkflow {
    pub available: bool,
    /// Why it is not available (no run is active, workflow not found, Temporal not reachable, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// The workflow's `state` query, as the workflow answers it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub state: Option<serde_json::Value>,
}

impl LiveWorkflow {
    pub fn unavailable(reason: &'static str) -> LiveWorkflow {
        LiveWorkflow {
            available: false,
            reason: Some(reason),
            state: None,
        }
    }

    /// Runs a workflow's query with a deadline: a missing worker or server never hangs the
    /// request, it only makes the live part unavailable.
    pub async fn ask<T: serde::Serialize>(
        deadline: Duration,
        workflow_id: &str,
        query: impl Future<Output = Result<T, temporalio_client::errors::WorkflowQueryError>>,
    ) -> LiveWorkflow {
        use temporalio_client::errors::WorkflowQueryError;
        match tokio::time::timeout(deadline, query).await {
            Ok(Ok(answer)) => match serde_json::to_value(answer) {
                Ok(state) => LiveWorkflow {
                    available: true,
                    reason: None,
                    state: Some(state),
                },
                Err(_) => LiveWorkflow::unavailable("query failed"),
            },
            Ok(Err(WorkflowQueryError::NotFound(_))) => {
                LiveWorkflow::unavailable("workflow not found")
            }
            Ok(Err(err)) => {
                tracing::warn!(error = %err, workflow.id = %workflow_id, "workflow query failed");
                LiveWorkflow::unavailable("query failed")
            }
            Err(_) => LiveWorkflow::unavailable("query deadline exceeded"),
        }
    }
}
