//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use temporalio_client::errors::WorkflowInteractionError;
use temporalio_client::{UntypedWorkflow, WorkflowDescribeOptions};

use crate::AppState;

/// The process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// PostgreSQL and Temporal both answer.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let deadline = state.config.temporal_deadline;
    let database = matches!(
        tokio::time::timeout(
            deadline,
            sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.pool)
        )
        .await,
        Ok(Ok(1))
    );
    let temporal = match state.temporal.client().await {
        Ok(client) => {
            // Describing a workflow that does not exist is the cheapest round trip: NotFound
            // means the server answered.
            let handle = client.get_workflow_handle::<UntypedWorkflow>("ventros-readiness-probe");
            matches!(
                tokio::time::timeout(
                    deadline,
                    handle.describe(WorkflowDescribeOptions::default())
                )
                .await,
                Ok(Ok(_) | Err(WorkflowInteractionError::NotFound(_)))
            )
        }
        Err(_) => false,
    };
    let ready = database && temporal;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    (
        status,
        Json(
            json!({"status": word(ready), "checks": {"postgres": word(database), "temporal": word(temporal)}}),
        ),
    )
}
