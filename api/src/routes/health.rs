//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use temporalio_client::errors::WorkflowInteractionError;
use temporalio_client::{UntypedWorkflow, WorkflowDescribeOptions};

use crate::AppState;

/// `ok` or `unavailable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Ok,
    Unavailable,
}

impl From<bool> for Check {
    fn from(ok: bool) -> Self {
        if ok { Check::Ok } else { Check::Unavailable }
    }
}

#[derive(Debug, Serialize)]
pub struct Health {
    pub status: Check,
}

#[derive(Debug, Serialize)]
pub struct Checks {
    pub postgres: Check,
    pub temporal: Check,
}

#[derive(Debug, Serialize)]
pub struct Readiness {
    pub status: Check,
    pub checks: Checks,
}

/// The process is up.
pub async fn healthz() -> Json<Health> {
    Json(Health { status: Check::Ok })
}

/// PostgreSQL and Temporal both answer.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let deadline = state.config.temporal_deadline;
    let database = matches!(
        tokio::time::timeout(
            deadline,
            sqlx::query_scalar!(r#"SELECT 1 AS "one!""#).fetch_one(&state.pool)
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
    (
        status,
        Json(Readiness {
            status: ready.into(),
            checks: Checks {
                postgres: database.into(),
                temporal: temporal.into(),
            },
        }),
    )
}
