//! Reading conversations: the inbox list with its filters, one conversation with its latest
//! messages and its workflow's live state, and the full history page by page.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use sqlx::QueryBuilder;
use temporalio_client::WorkflowQueryOptions;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use ventros_domain::{AssignedTo, SessionStatus};
use ventros_workflows::Conversation as ConversationWorkflow;

use super::{
    Conversation, ConversationMessage, MESSAGE_COLUMNS, load_conversation, select_conversations,
};
use crate::AppState;
use crate::auth::{Actor, Principal};
use crate::db::{Page, Sort, fetch_page_as, page_limit, tenant_tx};
use crate::error::{ApiError, ApiQuery};
use crate::ids::Id;
use crate::routes::required_text;
use crate::temporal::LiveWorkflow;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `open` or `closed`.
    #[param(value_type = Option<ventros_domain::SessionStatus>)]
    pub status: Option<String>,
    /// `bot` or `human`.
    #[param(value_type = Option<ventros_domain::AssignedTo>)]
    pub assigned_to: Option<String>,
    /// Assigned to this assignee (a user id, or `me`).
    pub assignee: Option<String>,
    /// Only this channel's conversations.
    pub channel_id: Option<Uuid>,
    /// Only this contact's conversations.
    pub contact_id: Option<Uuid>,
    /// Only conversations with (true) or without (false) unread inbound messages.
    pub unread: Option<bool>,
    /// `last_activity_at` or `opened_at`, `-` prefix for descending (default `-last_activity_at`).
    pub sort: Option<String>,
    /// Continue a list: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// The list's filters, checked.
struct Filters {
    status: Option<SessionStatus>,
    assigned_to: Option<AssignedTo>,
    assignee: Option<String>,
}

impl Filters {
    fn parse(q: &ListQuery, principal: &Principal) -> Result<Filters, ApiError> {
        let status = q
            .status
            .as_deref()
            .map(|s| {
                SessionStatus::parse(s)
                    .ok_or_else(|| ApiError::BadRequest("status must be open or closed".into()))
            })
            .transpose()?;
        let assigned_to = q
            .assigned_to
            .as_deref()
            .map(|s| {
                AssignedTo::parse(s)
                    .ok_or_else(|| ApiError::BadRequest("assigned_to must be bot or human".into()))
            })
            .transpose()?;
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
        Ok(Filters {
            status,
            assigned_to,
            assignee,
        })
    }
}

/// Lists conversations, newest activity first.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", params(ListQuery),
    responses((status = 200, description = "A page of conversations", body = Page<Conversation>), (status = 400, description = "Bad filter, sort or cursor")))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<Conversation>>, ApiError> {
    let filters = Filters::parse(&q, &principal)?;
    let sort = Sort::parse(q.sort.as_deref(), &["last_activity_at", "opened_at"], true)?;
    let limit = page_limit(q.limit)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let page: Page<Conversation> =
        fetch_page_as(&mut tx, sort, q.cursor.as_deref(), limit, |qb| {
            select_conversations(qb);
            if let Some(status) = filters.status {
                qb.push(" AND s.status = ").push_bind(status.as_str());
            }
            if let Some(assigned_to) = filters.assigned_to {
                qb.push(" AND s.assigned_to = ")
                    .push_bind(assigned_to.as_str());
            }
            if let Some(assignee) = filters.assignee {
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
    Ok(Json(Page {
        items: page
            .items
            .into_iter()
            .map(|c| c.with_link(&state))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Queries the workflow with a deadline; a missing worker or server never hangs the request.
async fn live_state(state: &AppState, workflow_id: &str) -> LiveWorkflow {
    let Ok(client) = state.temporal.client().await else {
        return LiveWorkflow::unavailable("Temporal is not reachable");
    };
    let handle = client.get_workflow_handle::<ConversationWorkflow>(workflow_id.to_owned());
    let query = handle.query(
        ConversationWorkflow::state,
        (),
        WorkflowQueryOptions::default(),
    );
    LiveWorkflow::ask(state.config.temporal_deadline / 2, workflow_id, query).await
}

/// A conversation with its latest messages (oldest first) and, while open, its workflow's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationDetail {
    #[serde(flatten)]
    pub conversation: Conversation,
    pub messages: Vec<ConversationMessage>,
    /// The Conversation workflow's `state` query: who answers, the pending buffer, the language.
    pub live: LiveWorkflow,
}

/// A conversation with its latest 100 messages and, while open, its workflow's live state.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The conversation", body = ConversationDetail), (status = 404, description = "No such conversation")))]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<Conversation>,
) -> Result<Json<ConversationDetail>, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let conversation = load_conversation(&mut tx, &state, id).await?;
    let mut qb = QueryBuilder::new("SELECT * FROM (SELECT ");
    qb.push(MESSAGE_COLUMNS)
        .push(" FROM messages m WHERE m.session_id = ")
        .push_bind(id)
        .push(" ORDER BY m.created_at DESC LIMIT 100) r ORDER BY r.at, r.created_at");
    let messages = qb.build_query_as().fetch_all(&mut *tx).await?;
    drop(tx);
    let live = if conversation.status == SessionStatus::Open {
        live_state(&state, &conversation.workflow_id).await
    } else {
        // The workflow id may already run a later session of the same chat.
        LiveWorkflow::unavailable("conversation closed")
    };
    Ok(Json(ConversationDetail {
        conversation,
        messages,
        live,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// `at` (when written, oldest first; the default), `-at`, or `created_at` / `-created_at`
    /// (when Ventros stored it).
    pub sort: Option<String>,
    /// Continue a list: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// The conversation's messages, paginated.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", tag = "conversations", params(("id" = Uuid, Path), MessagesQuery),
    responses((status = 200, description = "A page of messages", body = Page<ConversationMessage>), (status = 404, description = "No such conversation")))]
pub async fn messages(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<Conversation>,
    ApiQuery(q): ApiQuery<MessagesQuery>,
) -> Result<Json<Page<ConversationMessage>>, ApiError> {
    let id = id.get();
    let sort = Sort::parse(q.sort.as_deref(), &["at", "created_at"], false)?;
    let limit = page_limit(q.limit)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    load_conversation(&mut tx, &state, id).await?;
    let page = fetch_page_as(&mut tx, sort, q.cursor.as_deref(), limit, |qb| {
        qb.push("SELECT ")
            .push(MESSAGE_COLUMNS)
            .push(" FROM messages m WHERE m.session_id = ")
            .push_bind(id);
    })
    .await?;
    Ok(Json(page))
}
