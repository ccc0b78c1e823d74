//! Conversations (sessions): lists with filters, the message history, and while a session is open
//! the live state of its Conversation workflow. Takeover, hand-back and assignment are workflow
//! updates, so the caller learns the new state only once the workflow has accepted it. An
//! operator's reply goes out through its own OutboundMessage workflow, keyed by the request's
//! `Idempotency-Key`, so a retried request never sends twice.
//!
//! This module holds the conversation and message as the API returns them and the one SELECT that
//! builds a conversation (lists and detail share it); the handlers live by concern: [`views`]
//! (list, detail, messages), [`assignment`] (takeover, assign, hand back, mark read), [`notes`]
//! (private notes), [`lifecycle`] (resolve, reopen, pending, snooze), [`reply`] and [`start`] (an
//! operator starting a conversation).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json as Jsonb;
use sqlx::{Postgres, QueryBuilder};
use utoipa::ToSchema;
use uuid::Uuid;
use ventros_domain::{AssignedTo, ConversationState, Direction, MessageStatus, SessionStatus};

use crate::error::ApiError;
use crate::{AppState, TemporalLink};

pub mod assignment;
pub mod lifecycle;
pub mod notes;
pub mod reply;
pub mod start;
pub mod views;

pub use assignment::{
    __path_assign, __path_handback, __path_mark_read, __path_takeover, assign, handback, mark_read,
    takeover,
};
pub use lifecycle::{
    __path_pending, __path_reopen, __path_resolve, __path_snooze, pending, reopen, resolve, snooze,
};
pub use notes::{__path_add_note, __path_list_notes, add_note, list_notes};
pub use reply::{__path_reply, reply};
pub use start::{__path_start, start};
pub use views::{
    __path_counts, __path_list, __path_messages, __path_show, counts, list, messages, show,
};

/// The newest message of a conversation, as the inbox previews it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LastMessage {
    pub id: Uuid,
    pub direction: Direction,
    #[schema(required = true)]
    pub body: Option<String>,
    pub status: MessageStatus,
    pub created_at: DateTime<Utc>,
    /// When it was written (the provider's time when it has one).
    pub at: DateTime<Utc>,
}

/// A conversation session with its contact's name, its channel's kind, how many inbound messages
/// no operator has read, and its newest message.
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct Conversation {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub contact_id: Uuid,
    pub status: SessionStatus,
    /// For the team: `open`, `pending`, `snoozed` or `resolved`.
    pub state: ConversationState,
    /// When a snoozed conversation comes back by itself.
    #[schema(required = true)]
    pub snoozed_until: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub resolved_at: Option<DateTime<Utc>>,
    pub assigned_to: AssignedTo,
    /// The operator who took it over (a user id or free text).
    #[schema(required = true)]
    pub assignee: Option<String>,
    pub workflow_id: String,
    /// The Conversation workflow in the Temporal UI.
    #[sqlx(skip)]
    pub workflow: TemporalLink,
    pub opened_at: DateTime<Utc>,
    #[schema(required = true)]
    pub closed_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub close_reason: Option<String>,
    pub last_activity_at: DateTime<Utc>,
    /// Why the agent handed the conversation to a person.
    #[schema(required = true)]
    pub handoff_reason: Option<String>,
    #[schema(required = true)]
    pub last_read_at: Option<DateTime<Utc>>,
    /// The language the customer writes in (`pt`, `en`, `es`), once known.
    #[schema(required = true)]
    pub language: Option<String>,
    #[schema(required = true)]
    pub contact_name: Option<String>,
    /// The contact's WhatsApp number (`+5511…`), shown when the contact has no name.
    #[schema(required = true)]
    pub contact_phone: Option<String>,
    /// `waha`, `messenger` or `instagram`.
    pub channel_kind: String,
    pub unread_count: i64,
    #[schema(value_type = Option<LastMessage>, required = true)]
    pub last_message: Option<Jsonb<LastMessage>>,
}

impl crate::ids::Resource for Conversation {
    const NAME: &'static str = "conversation";
}

impl Conversation {
    fn with_link(mut self, state: &AppState) -> Conversation {
        self.workflow = state.config.temporal_link("workflows", &self.workflow_id);
        self
    }
}

/// The one SELECT a conversation is read with (lists wrap it with their filters and page).
fn select_conversations(qb: &mut QueryBuilder<Postgres>) {
    qb.push(
        "SELECT s.id, s.channel_id, s.contact_id, s.status, s.state, s.snoozed_until, s.resolved_at, s.assigned_to,
                s.assignee, s.workflow_id, s.opened_at,
                s.closed_at, s.close_reason, s.last_activity_at, s.handoff_reason, s.last_read_at, s.language,
                c.display_name AS contact_name, ch.kind AS channel_kind,
                (SELECT '+' || split_part(i.external_id, '@', 1) FROM contact_identities i
                  WHERE i.contact_id = s.contact_id AND i.kind = 'wa_user' ORDER BY i.created_at LIMIT 1) AS contact_phone,
                (SELECT count(*) FROM messages m WHERE m.session_id = s.id AND m.direction = 'inbound'
                    AND m.created_at > coalesce(s.last_read_at, '-infinity'::timestamptz)) AS unread_count,
                (SELECT jsonb_build_object('id', m.id, 'direction', m.direction, 'body', m.body, 'status', m.status,
                                           'created_at', m.created_at, 'at', coalesce(m.provider_timestamp, m.created_at))
                   FROM messages m WHERE m.session_id = s.id
                  ORDER BY coalesce(m.provider_timestamp, m.created_at) DESC, m.created_at DESC LIMIT 1) AS last_message
           FROM conversation_sessions s JOIN contacts c ON c.id = s.contact_id JOIN channels ch ON ch.id = s.channel_id
          WHERE true",
    );
}

/// One conversation, or 404.
async fn load_conversation(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    id: Uuid,
) -> Result<Conversation, ApiError> {
    let mut qb = QueryBuilder::new("");
    select_conversations(&mut qb);
    qb.push(" AND s.id = ").push_bind(id);
    let conversation: Option<Conversation> = qb.build_query_as().fetch_optional(&mut *tx).await?;
    conversation
        .map(|c| c.with_link(state))
        .ok_or_else(|| ApiError::NotFound(format!("conversation {id} not found")))
}

/// A message as the conversation view shows it.
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct ConversationMessage {
    pub id: Uuid,
    pub direction: Direction,
    #[schema(required = true)]
    pub body: Option<String>,
    /// The provider's own description of the message's media, as it arrived (see
    /// `attachments` for the stored files).
    #[schema(value_type = Option<Object>, required = true)]
    pub media: Option<Value>,
    /// Files, locations and contact cards, in order, with short-lived links to the files.
    #[sqlx(skip)]
    pub attachments: Vec<crate::routes::media::MediaFile>,
    pub status: MessageStatus,
    #[schema(required = true)]
    pub failure_reason: Option<String>,
    /// Why an outbound message was written: `greeting`, `away`, `operator`, `agent`, `campaign`.
    #[schema(required = true)]
    pub origin: Option<String>,
    /// The intent the agent read in an inbound message, and how sure it was (0 to 1).
    #[schema(required = true)]
    pub intent: Option<String>,
    #[schema(required = true)]
    pub confidence: Option<f32>,
    #[schema(required = true)]
    pub agent_type: Option<String>,
    /// The emoji the customer reacted with (Instagram, Messenger).
    #[schema(required = true)]
    pub customer_reaction: Option<String>,
    #[schema(required = true)]
    pub provider_timestamp: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// When the message was written (the provider's time, clamped to ours; our time for our own
    /// messages until the provider stamps them): the order a conversation reads in, whatever
    /// order the messages arrived in.
    pub at: DateTime<Utc>,
    /// The workflow that handled it.
    pub workflow_id: String,
    /// An agent's answer from the business's knowledge base: the passages it stands on, for the
    /// operator to check (null for every other message).
    #[schema(value_type = Option<Vec<KnowledgeSource>>, required = true)]
    pub knowledge_sources: Option<Jsonb<Vec<KnowledgeSource>>>,
}

/// A knowledge-base passage an agent's answer quoted.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KnowledgeSource {
    pub id: String,
    pub document_id: String,
    pub document_title: String,
    pub heading: String,
    pub content: String,
}

/// The columns of [`ConversationMessage`] (`m` is the message). An agent run shares its reply's
/// id; its metadata keeps the quoted passages as a JSON text.
const MESSAGE_COLUMNS: &str = "m.id, m.direction, m.body, m.media, m.status, m.failure_reason, m.origin, m.intent, m.confidence, m.agent_type, m.customer_reaction,
    m.provider_timestamp, m.created_at, coalesce(m.provider_timestamp, m.created_at) AS at, m.handled_by_workflow AS workflow_id,
    (SELECT (r.metadata->>'knowledge_passages')::jsonb FROM agent_runs r WHERE r.id = m.id) AS knowledge_sources";

/// Fills in the messages' attachments (one query for all of them).
pub(crate) async fn with_attachments(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    tenant_id: Uuid,
    messages: &mut [ConversationMessage],
) -> Result<(), ApiError> {
    let ids: Vec<Uuid> = messages.iter().map(|m| m.id).collect();
    let mut files = crate::routes::media::attachments_of(tx, state, tenant_id, &ids).await?;
    for message in messages.iter_mut() {
        message.attachments = files.remove(&message.id).unwrap_or_default();
    }
    Ok(())
}
