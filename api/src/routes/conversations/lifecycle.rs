//! Where a conversation stands for the team: resolve, reopen, pending, snooze until a time. Each is
//! an update of the chat's Conversation workflow, which keeps the durable snooze timer and closes
//! the session on resolve; reopening a resolved conversation starts the chat's run for it
//! (update-with-start).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use temporalio_client::WorkflowExecuteUpdateOptions;
use temporalio_client::errors::WorkflowUpdateError;
use utoipa::ToSchema;
use uuid::Uuid;
use ventros_domain::SessionStatus;
use ventros_workflows::{
    Conversation as ConversationWorkflow, ConversationState, Lifecycle, LifecycleRequest,
    ReopenRequest,
};

use super::assignment::Assignment;
use super::reply::{with_start, with_start_answer};
use super::{Conversation, load_conversation};
use crate::AppState;
use crate::auth::{AsAgent, Authorized, Principal};
use crate::db::tenant_tx;
use crate::error::{ApiError, ApiJson};
use crate::ids::Id;

/// The longest snooze: a conversation forgotten for longer belongs in pending or resolved.
const MAX_SNOOZE_DAYS: i64 = 90;

/// Resolves the conversation: its session closes; the customer's next message opens a new one.
/// Resolving a resolved conversation changes nothing.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/resolve", tag = "conversations", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Resolved (the session closes in a moment)", body = Assignment), (status = 404, description = "No such conversation")))]
pub async fn resolve(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Conversation>,
) -> Result<Json<Assignment>, ApiError> {
    let request = LifecycleRequest {
        state: Lifecycle::Resolved,
        snoozed_until_ms: None,
        by: Some(principal.label()),
    };
    change(&state, principal, id.get(), request, true).await
}

/// Waiting on someone (usually the customer): out of the open list until the customer writes.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/pending", tag = "conversations", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Pending", body = Assignment), (status = 409, description = "The conversation is resolved")))]
pub async fn pending(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Conversation>,
) -> Result<Json<Assignment>, ApiError> {
    let request = LifecycleRequest {
        state: Lifecycle::Pending,
        snoozed_until_ms: None,
        by: Some(principal.label()),
    };
    change(&state, principal, id.get(), request, false).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnoozeBody {
    /// When the conversation comes back by itself (RFC 3339, in the future, at most 90 days
    /// ahead). It comes back earlier if the customer writes.
    pub until: DateTime<Utc>,
}

/// Snoozes the conversation until a time: a durable timer in its workflow reopens it then.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/snooze", tag = "conversations", params(("id" = Uuid, Path)), request_body = SnoozeBody,
    responses((status = 200, description = "Snoozed", body = Assignment), (status = 409, description = "The conversation is resolved"),
              (status = 422, description = "The time is not in the future, or more than 90 days ahead")))]
pub async fn snooze(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Conversation>,
    ApiJson(body): ApiJson<SnoozeBody>,
) -> Result<Json<Assignment>, ApiError> {
    let now = Utc::now();
    if body.until <= now + Duration::seconds(1) {
        return Err(ApiError::Unprocessable(
            "until must be in the future".into(),
        ));
    }
    if body.until > now + Duration::days(MAX_SNOOZE_DAYS) {
        return Err(ApiError::Unprocessable(format!(
            "until must be at most {MAX_SNOOZE_DAYS} days ahead"
        )));
    }
    let request = LifecycleRequest {
        state: Lifecycle::Snoozed,
        snoozed_until_ms: Some(body.until.timestamp_millis()),
        by: Some(principal.label()),
    };
    change(&state, principal, id.get(), request, false).await
}

/// Reopens the conversation: a resolved one gets its session back (or, when the customer has
/// written since, the newer conversation stays the open one); a pending or snoozed one is open.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/reopen", tag = "conversations", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Open again", body = Assignment), (status = 404, description = "No such conversation")))]
pub async fn reopen(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Conversation>,
) -> Result<Json<Assignment>, ApiError> {
    let id = id.get();
    let conversation = conversation(&state, &principal, id).await?;
    let client = state.temporal.client().await?;
    let (input, options) = with_start(
        &state,
        principal.tenant_id,
        conversation.channel_id,
        &conversation.workflow_id,
    );
    let request = ReopenRequest {
        session_id: id,
        by: Some(principal.label()),
    };
    let result = tokio::time::timeout(
        state.config.temporal_deadline,
        client.execute_update_with_start_workflow(
            ConversationWorkflow::run,
            input,
            ConversationWorkflow::reopen,
            request,
            options,
        ),
    )
    .await;
    let accepted = with_start_answer(result, &conversation.workflow_id)?;
    Ok(answer(&state, id, &conversation.workflow_id, accepted))
}

async fn conversation(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<Conversation, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    load_conversation(&mut tx, state, id).await
}

fn answer(state: &AppState, id: Uuid, workflow_id: &str, s: ConversationState) -> Json<Assignment> {
    Json(Assignment {
        id,
        state: serde_json::json!(s),
        workflow: state.config.temporal_link("workflows", workflow_id),
    })
}

/// Closes a session no workflow holds, as the Conversation would (with its event).
async fn resolve_without_run(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<(), ApiError> {
    let by = principal.label();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let closed = sqlx::query!(
        "UPDATE conversation_sessions SET status = 'closed', closed_at = now(), close_reason = 'resolved',
                state = 'resolved', snoozed_until = NULL, resolved_at = now(), resolved_by = $2
          WHERE id = $1 AND status = 'open'",
        id,
        by,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if closed > 0 {
        ventros_store::append_outbox(
            &mut tx,
            principal.tenant_id,
            ventros_domain::EventType::SessionClosed,
            "session",
            id,
            serde_json::json!({"session_id": id, "reason": "resolved", "resolved_by": by}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Sends the change to the open session's workflow. A resolved conversation refuses every change
/// but another resolve, which it already is.
async fn change(
    state: &AppState,
    principal: Principal,
    id: Uuid,
    request: LifecycleRequest,
    resolving: bool,
) -> Result<Json<Assignment>, ApiError> {
    let conversation = conversation(state, &principal, id).await?;
    let workflow_id = conversation.workflow_id.clone();
    if conversation.status != SessionStatus::Open {
        if resolving {
            let resolved = serde_json::json!({"lifecycle": "resolved", "session_id": null});
            return Ok(Json(Assignment {
                id,
                state: resolved,
                workflow: state.config.temporal_link("workflows", &workflow_id),
            }));
        }
        return Err(ApiError::Conflict(format!(
            "conversation {id} is resolved; reopen it first"
        )));
    }
    let client = state.temporal.client().await?;
    let handle = client.get_workflow_handle::<ConversationWorkflow>(workflow_id.clone());
    let result = tokio::time::timeout(
        state.config.temporal_deadline,
        handle.execute_update(
            ConversationWorkflow::set_lifecycle,
            request,
            WorkflowExecuteUpdateOptions::default(),
        ),
    )
    .await;
    match result {
        Ok(Ok(s)) => Ok(answer(state, id, &workflow_id, s)),
        // No run holds the session (one a campaign opened and nobody answered): resolving it
        // needs no workflow; anything else needs the chat's run, which a reopen starts.
        Ok(Err(WorkflowUpdateError::NotFound(_))) if resolving => {
            resolve_without_run(state, &principal, id).await?;
            let resolved = serde_json::json!({"lifecycle": "resolved", "session_id": null});
            Ok(Json(Assignment {
                id,
                state: resolved,
                workflow: state.config.temporal_link("workflows", &workflow_id),
            }))
        }
        Ok(Err(WorkflowUpdateError::NotFound(_))) => Err(ApiError::Conflict(format!(
            "conversation {id} has no running workflow; reopen it first"
        ))),
        Ok(Err(err)) => {
            tracing::error!(error = %err, workflow.id = %workflow_id, "lifecycle update failed");
            Err(ApiError::Unavailable(
                "the conversation did not accept the change; retry".into(),
            ))
        }
        Err(_) => Err(ApiError::Unavailable(
            "the conversation did not answer in time; retry".into(),
        )),
    }
}
