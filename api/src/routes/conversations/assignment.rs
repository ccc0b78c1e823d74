//! Who answers a conversation: a person takes it over (themselves or a named user), the bot takes
//! it back. Each is an update of the Conversation workflow, so the answer is the state the
//! workflow accepted. Also marking a conversation read.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use temporalio_client::WorkflowExecuteUpdateOptions;
use temporalio_client::errors::WorkflowUpdateError;
use utoipa::ToSchema;
use uuid::Uuid;
use ventros_domain::SessionStatus;
use ventros_workflows::{Conversation as ConversationWorkflow, ConversationState, TakeoverRequest};

use super::{Conversation, load_conversation};
use crate::auth::{Actor, AsAgent, Authorized, Principal};
use crate::db::{execute_found, tenant_tx};
use crate::error::{ApiError, ApiJson};
use crate::ids::Id;
use crate::routes::required_text;
use crate::{AppState, TemporalLink};

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TakeoverBody {
    /// Who takes over (free text or a user id); defaults to the calling user.
    #[serde(default)]
    pub assignee: Option<String>,
}

/// The conversation's state after the workflow accepted the change.
#[derive(Debug, Serialize, ToSchema)]
pub struct Assignment {
    pub id: Uuid,
    /// The Conversation workflow's state: who answers now, and the rest of its state.
    #[schema(value_type = Object)]
    pub state: Value,
    pub workflow: TemporalLink,
}

/// A human takes the conversation from the bot.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/takeover", tag = "conversations", params(("id" = Uuid, Path)),
    request_body(content = Option<TakeoverBody>, description = "Optional"),
    responses((status = 200, description = "The new state", body = Assignment), (status = 409, description = "The conversation is closed")))]
pub async fn takeover(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Conversation>,
    body: axum::body::Bytes,
) -> Result<Json<Assignment>, ApiError> {
    // The body is optional: an empty one means "take over as myself".
    let assignee = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<TakeoverBody>(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?
            .assignee
    };
    let assignee =
        match assignee {
            Some(a) => Some(required_text(&a, "assignee", 200).map_err(|_| {
                ApiError::Unprocessable("assignee must be 1 to 200 characters".into())
            })?),
            None => match principal.actor {
                Actor::User(id) => Some(id.to_string()),
                Actor::ApiKey(_) => None,
            },
        };
    change_assignment(
        &state,
        principal,
        id.get(),
        Some(TakeoverRequest { assignee }),
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// A user of the tenant.
    pub user_id: Uuid,
}

/// Assigns the conversation to a user (a takeover in that user's name).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/assign", tag = "conversations", params(("id" = Uuid, Path)), request_body = AssignBody,
    responses((status = 200, description = "The new state", body = Assignment), (status = 422, description = "No such user")))]
pub async fn assign(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Conversation>,
    ApiJson(req): ApiJson<AssignBody>,
) -> Result<Json<Assignment>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let active = sqlx::query_scalar!(
        r#"SELECT disabled_at IS NULL AS "active!" FROM users WHERE id = $1"#,
        req.user_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    if active != Some(true) {
        return Err(ApiError::Unprocessable(format!(
            "user {} does not exist or is disabled",
            req.user_id
        )));
    }
    drop(tx);
    let takeover = TakeoverRequest {
        assignee: Some(req.user_id.to_string()),
    };
    change_assignment(&state, principal, id.get(), Some(takeover)).await
}

/// The bot takes the conversation back.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/handback", tag = "conversations", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The new state", body = Assignment), (status = 409, description = "The conversation is closed")))]
pub async fn handback(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Conversation>,
) -> Result<Json<Assignment>, ApiError> {
    change_assignment(&state, principal, id.get(), None).await
}

/// The workflow of an open conversation (a closed one refuses every change).
async fn open_session_workflow(
    state: &AppState,
    principal: Principal,
    id: Uuid,
) -> Result<String, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let conversation = load_conversation(&mut tx, state, id).await?;
    if conversation.status != SessionStatus::Open {
        return Err(ApiError::Conflict(format!("conversation {id} is closed")));
    }
    Ok(conversation.workflow_id)
}

async fn change_assignment(
    state: &AppState,
    principal: Principal,
    id: Uuid,
    takeover: Option<TakeoverRequest>,
) -> Result<Json<Assignment>, ApiError> {
    let workflow_id = open_session_workflow(state, principal, id).await?;
    let client = state.temporal.client().await?;
    let handle = client.get_workflow_handle::<ConversationWorkflow>(workflow_id.clone());
    let options = WorkflowExecuteUpdateOptions::default();
    let result: Result<Result<ConversationState, WorkflowUpdateError>, _> = match takeover {
        Some(req) => {
            tokio::time::timeout(
                state.config.temporal_deadline,
                handle.execute_update(ConversationWorkflow::takeover, req, options),
            )
            .await
        }
        None => {
            tokio::time::timeout(
                state.config.temporal_deadline,
                handle.execute_update(ConversationWorkflow::handback, (), options),
            )
            .await
        }
    };
    match result {
        Ok(Ok(s)) => Ok(Json(Assignment {
            id,
            state: serde_json::json!(s),
            workflow: state.config.temporal_link("workflows", &workflow_id),
        })),
        Ok(Err(WorkflowUpdateError::NotFound(_))) => Err(ApiError::Conflict(format!(
            "conversation {id} is no longer running"
        ))),
        Ok(Err(err)) => {
            tracing::error!(error = %err, workflow.id = %workflow_id, "assignment update failed");
            Err(ApiError::Unavailable(
                "the conversation did not accept the change; retry".into(),
            ))
        }
        Err(_) => Err(ApiError::Unavailable(
            "the conversation did not answer in time; retry".into(),
        )),
    }
}

/// Marks every inbound message so far as read by operators.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/read", tag = "conversations", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Marked read"), (status = 404, description = "No such conversation")))]
pub async fn mark_read(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Conversation>,
) -> Result<StatusCode, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    execute_found(
        &mut tx,
        sqlx::query!(
            "UPDATE conversation_sessions SET last_read_at = now() WHERE id = $1",
            id
        ),
        || format!("conversation {id}"),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
