//! Conversations (sessions): lists with filters, the message history, and while a session is open
//! the live state of its Conversation workflow. Takeover, hand-back and assignment are workflow
//! updates, so the caller learns the new state only once the workflow has accepted it. An
//! operator's reply goes out through its own OutboundMessage workflow, keyed by the request's
//! `Idempotency-Key`, so a retried request never sends twice.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use temporalio_client::errors::{WorkflowQueryError, WorkflowStartError, WorkflowUpdateError};
use temporalio_client::{
    WorkflowExecuteUpdateOptions, WorkflowIdConflictPolicy, WorkflowIdReusePolicy,
    WorkflowQueryOptions, WorkflowStartOptions,
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use ventros_channels::meta::{MetaPlatform, messaging_type};
use ventros_workflows::{
    Conversation, ConversationState, OutboundInput, OutboundMessage, TakeoverRequest, ids,
};

use super::required_text;
use crate::auth::{Actor, AsAgent, Authorized, Principal};
use crate::db::{Sort, execute_found, fetch_page, page_limit, tenant_tx};
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::{AppState, parse_id};

/// Columns of a conversation in lists and detail (`s` is the session, `c` its contact).
const SESSION_COLUMNS: &str = "s.id, s.channel_id, s.contact_id, s.status, s.assigned_to, s.assignee, s.workflow_id, s.opened_at,
    s.closed_at, s.close_reason, s.last_activity_at, s.handoff_reason, s.last_read_at, s.language, c.display_name AS contact_name, ch.kind AS channel_kind,
    (SELECT count(*) FROM messages m WHERE m.session_id = s.id AND m.direction = 'inbound'
        AND m.created_at > coalesce(s.last_read_at, '-infinity'::timestamptz)) AS unread_count,
    (SELECT jsonb_build_object('id', m.id, 'direction', m.direction, 'body', m.body, 'status', m.status, 'created_at', m.created_at,
                               'at', coalesce(m.provider_timestamp, m.created_at))
       FROM messages m WHERE m.session_id = s.id ORDER BY coalesce(m.provider_timestamp, m.created_at) DESC, m.created_at DESC LIMIT 1) AS last_message";

const SESSION_FROM: &str = " FROM conversation_sessions s JOIN contacts c ON c.id = s.contact_id JOIN channels ch ON ch.id = s.channel_id";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `open` or `closed`.
    pub status: Option<String>,
    /// `bot` or `human`.
    pub assigned_to: Option<String>,
    /// Assigned to this assignee (a user id, or `me`).
    pub assignee: Option<String>,
    pub channel_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    /// Only conversations with (true) or without (false) unread inbound messages.
    pub unread: Option<bool>,
    /// `last_activity_at` or `opened_at`, `-` prefix for descending (default `-last_activity_at`).
    pub sort: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
}

fn with_links(state: &AppState, mut item: Value) -> Value {
    if let Some(workflow_id) = item["workflow_id"].as_str().map(str::to_owned) {
        item["workflow"] = state.config.workflow_link(&workflow_id);
    }
    item
}

/// Lists conversations, newest activity first.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", params(ListQuery),
    responses((status = 200, description = "A page of conversations", body = Value), (status = 400, description = "Bad filter, sort or cursor")))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    if q.status
        .as_deref()
        .is_some_and(|s| !matches!(s, "open" | "closed"))
    {
        return Err(ApiError::BadRequest("status must be open or closed".into()));
    }
    if q.assigned_to
        .as_deref()
        .is_some_and(|s| !matches!(s, "bot" | "human"))
    {
        return Err(ApiError::BadRequest(
            "assigned_to must be bot or human".into(),
        ));
    }
    let assignee = match q.assignee.as_deref() {
        Some("me") => match principal.actor {
            Actor::User(id) => Some(id.to_string()),
            Actor::ApiKey(_) => {
                return Err(ApiError::BadRequest(
                    "assignee=me needs a user's access token".into(),
                ));
            }
        },
        Some(other) => Some(required_text(other, "assignee", 200)?),
        None => None,
    };
    let sort = Sort::parse(q.sort.as_deref(), &["last_activity_at", "opened_at"], true)?;
    let limit = page_limit(q.limit)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let mut page =
        fetch_page(&mut tx, sort, q.cursor.as_deref(), limit, |qb| {
            qb.push("SELECT ")
                .push(SESSION_COLUMNS)
                .push(SESSION_FROM)
                .push(" WHERE true");
            if let Some(status) = q.status {
                qb.push(" AND s.status = ").push_bind(status);
            }
            if let Some(assigned_to) = q.assigned_to {
                qb.push(" AND s.assigned_to = ").push_bind(assigned_to);
            }
            if let Some(assignee) = assignee {
                qb.push(" AND s.assignee = ").push_bind(assignee);
            }
            if let Some(channel_id) = q.channel_id {
                qb.push(" AND s.channel_id = ").push_bind(channel_id);
            }
            if let Some(contact_id) = q.contact_id {
                qb.push(" AND s.contact_id = ").push_bind(contact_id);
            }
            if let Some(unread) = q.unread {
                qb.push(if unread { " AND EXISTS" } else { " AND NOT EXISTS" }).push(
                " (SELECT 1 FROM messages m WHERE m.session_id = s.id AND m.direction = 'inbound'
                      AND m.created_at > coalesce(s.last_read_at, '-infinity'::timestamptz))",
            );
            }
        })
        .await?;
    if let Some(items) = page["items"].as_array_mut() {
        for item in items.iter_mut() {
            *item = with_links(&state, item.take());
        }
    }
    Ok(Json(page))
}

async fn load_session(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<Value, ApiError> {
    let row: Option<Value> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT to_jsonb(t) FROM (SELECT {SESSION_COLUMNS}{SESSION_FROM} WHERE s.id = $1) t"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    row.ok_or_else(|| ApiError::NotFound(format!("conversation {id} not found")))
}

/// Queries the workflow with a deadline; a missing worker or server never hangs the request.
async fn live_state(state: &AppState, workflow_id: &str) -> Value {
    let Ok(client) = state.temporal.client().await else {
        return json!({"available": false, "reason": "Temporal is not reachable"});
    };
    let handle = client.get_workflow_handle::<Conversation>(workflow_id.to_owned());
    let query = handle.query(Conversation::state, (), WorkflowQueryOptions::default());
    match tokio::time::timeout(state.config.temporal_deadline / 2, query).await {
        Ok(Ok(s)) => json!({"available": true, "state": s}),
        Ok(Err(WorkflowQueryError::NotFound(_))) => {
            json!({"available": false, "reason": "workflow not found"})
        }
        Ok(Err(err)) => {
            tracing::warn!(error = %err, workflow.id = %workflow_id, "conversation query failed");
            json!({"available": false, "reason": "query failed"})
        }
        Err(_) => json!({"available": false, "reason": "query deadline exceeded"}),
    }
}

/// Columns of a message in conversation views.
/// `at` is when the message was written (the provider's time, clamped to ours; our time for our own
/// messages until the provider stamps them): the order a conversation reads in, whatever order
/// the messages arrived in.
const MESSAGE_COLUMNS: &str = "m.id, m.direction, m.body, m.media, m.status, m.failure_reason, m.origin, m.intent, m.confidence, m.agent_type, m.customer_reaction,
    m.provider_timestamp, m.created_at, coalesce(m.provider_timestamp, m.created_at) AS at, m.handled_by_workflow AS workflow_id";

/// A conversation with its latest 100 messages and, while open, its workflow's live state.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations", params(("id" = String, Path)),
    responses((status = 200, description = "The conversation", body = Value), (status = 404, description = "No such conversation")))]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "conversation")?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let session = load_session(&mut tx, id).await?;
    let messages: Vec<Value> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT to_jsonb(t) FROM (SELECT * FROM (SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.session_id = $1
            ORDER BY m.created_at DESC LIMIT 100) r ORDER BY coalesce(r.provider_timestamp, r.created_at), r.created_at) t"
    )))
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    drop(tx);
    let live = if session["status"] == "open" {
        live_state(&state, session["workflow_id"].as_str().unwrap_or_default()).await
    } else {
        // The workflow id may already run a later session of the same chat.
        json!({"available": false, "reason": "conversation closed"})
    };
    let mut body = with_links(&state, session);
    body["messages"] = Value::Array(messages);
    body["live"] = live;
    Ok(Json(body))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// `at` (when written, oldest first; the default), `-at`, or `created_at` / `-created_at`
    /// (when Ventros stored it).
    pub sort: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
}

/// The conversation's messages, paginated.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", tag = "conversations", params(("id" = String, Path), MessagesQuery),
    responses((status = 200, description = "A page of messages", body = Value), (status = 404, description = "No such conversation")))]
pub async fn messages(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<MessagesQuery>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "conversation")?;
    let sort = Sort::parse(q.sort.as_deref(), &["at", "created_at"], false)?;
    let limit = page_limit(q.limit)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    load_session(&mut tx, id).await?;
    let page = fetch_page(&mut tx, sort, q.cursor.as_deref(), limit, |qb| {
        qb.push("SELECT ")
            .push(MESSAGE_COLUMNS)
            .push(" FROM messages m WHERE m.session_id = ")
            .push_bind(id);
    })
    .await?;
    Ok(Json(page))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TakeoverBody {
    /// Who takes over (free text or a user id); defaults to the calling user.
    #[serde(default)]
    pub assignee: Option<String>,
}

/// A human takes the conversation from the bot.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/takeover", tag = "conversations", params(("id" = String, Path)),
    request_body(content = Option<TakeoverBody>, description = "Optional"),
    responses((status = 200, description = "The new state", body = Value), (status = 409, description = "The conversation is closed")))]
pub async fn takeover(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
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
    change_assignment(&state, principal, &id, Some(TakeoverRequest { assignee })).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// A user of the tenant.
    pub user_id: Uuid,
}

/// Assigns the conversation to a user (a takeover in that user's name).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/assign", tag = "conversations", params(("id" = String, Path)), request_body = AssignBody,
    responses((status = 200, description = "The new state", body = Value), (status = 422, description = "No such user")))]
pub async fn assign(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AssignBody>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let active: Option<bool> =
        sqlx::query_scalar("SELECT disabled_at IS NULL FROM users WHERE id = $1")
            .bind(req.user_id)
            .fetch_optional(&mut *tx)
            .await?;
    if active != Some(true) {
        return Err(ApiError::Unprocessable(format!(
            "user {} does not exist or is disabled",
            req.user_id
        )));
    }
    drop(tx);
    change_assignment(
        &state,
        principal,
        &id,
        Some(TakeoverRequest {
            assignee: Some(req.user_id.to_string()),
        }),
    )
    .await
}

/// The bot takes the conversation back.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/handback", tag = "conversations", params(("id" = String, Path)),
    responses((status = 200, description = "The new state", body = Value), (status = 409, description = "The conversation is closed")))]
pub async fn handback(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    change_assignment(&state, principal, &id, None).await
}

async fn open_session_workflow(
    state: &AppState,
    principal: Principal,
    id: Uuid,
) -> Result<String, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let session = load_session(&mut tx, id).await?;
    if session["status"] != "open" {
        return Err(ApiError::Conflict(format!("conversation {id} is closed")));
    }
    Ok(session["workflow_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

async fn change_assignment(
    state: &AppState,
    principal: Principal,
    id: &str,
    takeover: Option<TakeoverRequest>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(id, "conversation")?;
    let workflow_id = open_session_workflow(state, principal, id).await?;
    let client = state.temporal.client().await?;
    let handle = client.get_workflow_handle::<Conversation>(workflow_id.clone());
    let options = WorkflowExecuteUpdateOptions::default();
    let result: Result<Result<ConversationState, WorkflowUpdateError>, _> = match takeover {
        Some(req) => {
            tokio::time::timeout(
                state.config.temporal_deadline,
                handle.execute_update(Conversation::takeover, req, options),
            )
            .await
        }
        None => {
            tokio::time::timeout(
                state.config.temporal_deadline,
                handle.execute_update(Conversation::handback, (), options),
            )
            .await
        }
    };
    match result {
        Ok(Ok(s)) => Ok(Json(
            json!({"id": id, "state": s, "workflow": state.config.workflow_link(&workflow_id)}),
        )),
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
#[utoipa::path(post, path = "/api/v1/conversations/{id}/read", tag = "conversations", params(("id" = String, Path)),
    responses((status = 204, description = "Marked read"), (status = 404, description = "No such conversation")))]
pub async fn mark_read(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "conversation")?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    execute_found(
        &mut tx,
        sqlx::query("UPDATE conversation_sessions SET last_read_at = now() WHERE id = $1").bind(id),
        || format!("conversation {id}"),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// The text to send (1 to 4096 characters).
    pub text: String,
}

/// Sends an operator's reply through an OutboundMessage workflow. Send an `Idempotency-Key`
/// header: a retry with the same key and text returns the same message and sends nothing again;
/// the same key with a different text is refused.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", tag = "conversations", params(("id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 200 characters; makes retries safe")),
    request_body = ReplyBody,
    responses((status = 202, description = "Accepted for sending", body = Value), (status = 409, description = "The conversation is closed"),
              (status = 422, description = "Empty text, an Idempotency-Key reused with another request, or outside Meta's messaging window")))]
pub async fn reply(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ReplyBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id, "conversation")?;
    let text = req.text.trim();
    if text.is_empty() || text.chars().count() > 4096 || text.contains('\0') {
        return Err(ApiError::Unprocessable(
            "text must be 1 to 4096 characters".into(),
        ));
    }
    let key = match headers.get("idempotency-key") {
        Some(value) => {
            let key = value
                .to_str()
                .map_err(|_| ApiError::BadRequest("Idempotency-Key must be visible ASCII".into()))?
                .trim()
                .to_owned();
            if key.is_empty() || key.len() > 200 {
                return Err(ApiError::BadRequest(
                    "Idempotency-Key must be 1 to 200 characters".into(),
                ));
            }
            key
        }
        None => Uuid::new_v4().to_string(),
    };
    let mut hasher = Sha256::new();
    hasher.update(id.as_bytes());
    hasher.update(text.as_bytes());
    let request_sha256 = hasher.finalize().to_vec();

    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let session = load_session(&mut tx, id).await?;
    let channel_id: Uuid = serde_json::from_value(session["channel_id"].clone())
        .map_err(|e| ApiError::Internal(e.into()))?;
    let existing: Option<(Uuid, Vec<u8>)> = sqlx::query_as(
        "SELECT id, request_sha256 FROM outbound_requests WHERE idempotency_key = $1",
    )
    .bind(&key)
    .fetch_optional(&mut *tx)
    .await?;
    let message_id = match existing {
        Some((message_id, hash)) if hash == request_sha256 => message_id,
        Some(_) => {
            return Err(ApiError::Unprocessable(
                "this Idempotency-Key was used for a different request".into(),
            ));
        }
        None => {
            if session["status"] != "open" {
                return Err(ApiError::Conflict(format!("conversation {id} is closed")));
            }
            // Meta's window, checked up front so the operator learns why at once (the send
            // activity enforces it again at send time).
            let (kind, last_inbound): (String, Option<chrono::DateTime<chrono::Utc>>) = sqlx::query_as(
                "SELECT c.kind, (SELECT max(m.provider_timestamp) FROM messages m WHERE m.identity_id = s.identity_id AND m.direction = 'inbound')
                   FROM conversation_sessions s JOIN channels c ON c.id = s.channel_id WHERE s.id = $1",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            if MetaPlatform::from_kind(&kind).is_some() {
                messaging_type(Some("operator"), last_inbound, chrono::Utc::now())
                    .map_err(ApiError::Unprocessable)?;
            }
            let message_id = Uuid::now_v7();
            sqlx::query(
                "INSERT INTO outbound_requests (id, tenant_id, session_id, body, author, idempotency_key, request_sha256) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(message_id)
            .bind(principal.tenant_id)
            .bind(id)
            .bind(text)
            .bind(principal.label())
            .bind(&key)
            .bind(&request_sha256)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            message_id
        }
    };
    let workflow_id = ids::outbound_workflow_id(principal.tenant_id, message_id);
    let client = state.temporal.client().await?;
    let options = WorkflowStartOptions::new(state.config.task_queue.clone(), workflow_id.clone())
        .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
        // A finished send is never started again by a late retry.
        .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
        .build();
    let input = OutboundInput {
        tenant_id: principal.tenant_id,
        channel_id,
        message_id,
        compose: true,
    };
    match tokio::time::timeout(
        state.config.temporal_deadline,
        client.start_workflow(OutboundMessage::run, input, options),
    )
    .await
    {
        Ok(Ok(_) | Err(WorkflowStartError::AlreadyStarted { .. })) => {}
        Ok(Err(err)) => {
            tracing::error!(error = %err, "starting the operator reply failed");
            // The request row stays: a retry with the same key starts the same workflow.
            return Err(ApiError::Unavailable(
                "could not hand the reply to Temporal; retry with the same Idempotency-Key".into(),
            ));
        }
        Err(_) => {
            return Err(ApiError::Unavailable(
                "Temporal did not answer in time; retry with the same Idempotency-Key".into(),
            ));
        }
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({"message_id": message_id, "conversation_id": id, "idempotency_key": key, "workflow": state.config.workflow_link(&workflow_id)}),
        ),
    ))
}
