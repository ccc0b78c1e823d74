//! Reading conversations: the inbox list with its filters, one conversation with its latest
//! messages and its workflow's live state, and the full history page by page.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use sqlx::QueryBuilder;
use temporalio_client::WorkflowQueryOptions;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use ventros_domain::{AssignedTo, ConversationState, SessionStatus};
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
    /// For the team: `open`, `pending`, `snoozed` or `resolved`.
    #[param(value_type = Option<ventros_domain::ConversationState>)]
    pub state: Option<String>,
    /// Search: the contact's name, phone number, or words of the messages (Portuguese-aware: accents
    /// and word endings do not matter). 2 to 200 characters.
    pub q: Option<String>,
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
    state: Option<ConversationState>,
    search: Option<Search>,
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
        let state = q
            .state
            .as_deref()
            .map(|s| {
                ConversationState::parse(s).ok_or_else(|| {
                    ApiError::BadRequest(format!("state must be {}", ConversationState::choices()))
                })
            })
            .transpose()?;
        let search = q.q.as_deref().map(Search::parse).transpose()?.flatten();
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
            state,
            search,
            assigned_to,
            assignee,
        })
    }
}

/// A search over conversations: words for the messages, a pattern for the name, digits for the
/// phone number.
struct Search {
    words: String,
    name_pattern: String,
    digits: Option<String>,
}

impl Search {
    /// None for a blank search (no filter).
    fn parse(raw: &str) -> Result<Option<Search>, ApiError> {
        let words = raw.trim();
        if words.is_empty() {
            return Ok(None);
        }
        if words.chars().count() < 2 || words.chars().count() > 200 || words.contains('\0') {
            return Err(ApiError::BadRequest("q must be 2 to 200 characters".into()));
        }
        let escaped: String = words
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let digits: String = words.chars().filter(char::is_ascii_digit).collect();
        let phone_like = words
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
        Ok(Some(Search {
            words: words.to_owned(),
            name_pattern: format!("%{escaped}%"),
            digits: (phone_like && digits.len() >= 4).then_some(digits),
        }))
    }

    fn push(&self, qb: &mut QueryBuilder<sqlx::Postgres>) {
        qb.push(" AND (unaccent(coalesce(c.display_name, '')) ILIKE unaccent(")
            .push_bind(self.name_pattern.clone())
            .push(")");
        if let Some(digits) = &self.digits {
            qb.push(
                " OR EXISTS (SELECT 1 FROM contact_identities i WHERE i.contact_id = s.contact_id AND i.external_id LIKE ",
            )
            .push_bind(format!("%{digits}%"))
            .push(")");
        }
        qb.push(
            " OR EXISTS (SELECT 1 FROM messages m WHERE m.session_id = s.id
                 AND to_tsvector('ventros_pt'::regconfig, coalesce(m.body, '')) @@ websearch_to_tsquery('ventros_pt'::regconfig, ",
        )
        .push_bind(self.words.clone())
        .push(")))");
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
            if let Some(state) = filters.state {
                qb.push(" AND s.state = ").push_bind(state.as_str());
            }
            if let Some(search) = &filters.search {
                search.push(qb);
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

/// How many conversations are in each state, for the inbox's tabs.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationCounts {
    pub open: i64,
    pub pending: i64,
    pub snoozed: i64,
    pub resolved: i64,
    /// Open, pending or snoozed, assigned to the calling user (0 for an API key).
    pub mine: i64,
    /// Open and held by a human with nobody assigned: the queue.
    pub unassigned: i64,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CountsQuery {
    /// Only this channel's conversations.
    pub channel_id: Option<Uuid>,
}

/// Counts of conversations by state (and the caller's own, and the unassigned queue).
#[utoipa::path(get, path = "/api/v1/conversations/counts", tag = "conversations", params(CountsQuery),
    responses((status = 200, description = "The counts", body = ConversationCounts)))]
pub async fn counts(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<CountsQuery>,
) -> Result<Json<ConversationCounts>, ApiError> {
    let me = match principal.actor {
        Actor::User(id) => Some(id.to_string()),
        Actor::ApiKey(_) => None,
    };
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let row = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE state = 'open') AS "open!",
                  count(*) FILTER (WHERE state = 'pending') AS "pending!",
                  count(*) FILTER (WHERE state = 'snoozed') AS "snoozed!",
                  count(*) FILTER (WHERE state = 'resolved') AS "resolved!",
                  count(*) FILTER (WHERE state <> 'resolved' AND assignee = $2) AS "mine!",
                  count(*) FILTER (WHERE state = 'open' AND assigned_to = 'human' AND assignee IS NULL) AS "unassigned!"
             FROM conversation_sessions WHERE ($1::uuid IS NULL OR channel_id = $1)"#,
        q.channel_id,
        me,
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(Json(ConversationCounts {
        open: row.open,
        pending: row.pending,
        snoozed: row.snoozed,
        resolved: row.resolved,
        mine: row.mine,
        unassigned: row.unassigned,
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
    let mut messages: Vec<ConversationMessage> = qb.build_query_as().fetch_all(&mut *tx).await?;
    super::with_attachments(&mut tx, &state, principal.tenant_id, &mut messages).await?;
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
    let mut page: Page<ConversationMessage> =
        fetch_page_as(&mut tx, sort, q.cursor.as_deref(), limit, |qb| {
            qb.push("SELECT ")
                .push(MESSAGE_COLUMNS)
                .push(" FROM messages m WHERE m.session_id = ")
                .push_bind(id);
        })
        .await?;
    super::with_attachments(&mut tx, &state, principal.tenant_id, &mut page.items).await?;
    Ok(Json(page))
}
