//! Private notes in a conversation's thread: for the team only, never sent to the customer.
//! Each note is announced as `note.added` (internal: the live stream and the memory feed, never a
//! webhook), and the memory engine remembers it as an operator note of the contact.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;
use ventros_domain::EventType;
use ventros_store::append_outbox;

use super::Conversation;
use crate::AppState;
use crate::auth::{Actor, AsAgent, Authorized, Principal};
use crate::db::{List, tenant_tx};
use crate::error::{ApiError, ApiJson};
use crate::ids::Id;

/// A private note in a conversation.
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct Note {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub body: String,
    /// `user:<id>` or `api_key:<id>`.
    pub created_by: String,
    /// The user's name, when a user wrote it.
    #[schema(required = true)]
    pub author_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    /// 1 to 4096 characters.
    pub body: String,
}

/// The conversation's notes, oldest first.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/notes", tag = "conversations", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The notes", body = List<Note>), (status = 404, description = "No such conversation")))]
pub async fn list_notes(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<Conversation>,
) -> Result<Json<List<Note>>, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let exists: bool = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM conversation_sessions WHERE id = $1) AS "e!""#,
        id
    )
    .fetch_one(&mut *tx)
    .await?;
    if !exists {
        return Err(ApiError::NotFound(format!("conversation {id} not found")));
    }
    let items = sqlx::query_as!(
        Note,
        "SELECT id, session_id AS conversation_id, body, created_by, author_name, created_at
           FROM conversation_notes WHERE session_id = $1 ORDER BY created_at, id",
        id
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(Json(List { items }))
}

/// Adds a private note to the conversation (never sent; remembered as an operator note).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/notes", tag = "conversations", params(("id" = Uuid, Path)), request_body = NewNote,
    responses((status = 201, description = "The note", body = Note), (status = 404, description = "No such conversation"),
              (status = 422, description = "An empty or too long note")))]
pub async fn add_note(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Conversation>,
    ApiJson(req): ApiJson<NewNote>,
) -> Result<(StatusCode, Json<Note>), ApiError> {
    let id = id.get();
    let body = req.body.trim();
    if body.is_empty() || body.chars().count() > 4096 || body.contains('\0') {
        return Err(ApiError::Unprocessable(
            "body must be 1 to 4096 characters".into(),
        ));
    }
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let contact_id = sqlx::query_scalar!(
        "SELECT contact_id FROM conversation_sessions WHERE id = $1",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("conversation {id} not found")))?;
    let author_name = match principal.actor {
        Actor::User(user) => {
            sqlx::query_scalar!("SELECT name FROM users WHERE id = $1", user)
                .fetch_optional(&mut *tx)
                .await?
        }
        Actor::ApiKey(_) => None,
    };
    let note = sqlx::query_as!(
        Note,
        "INSERT INTO conversation_notes (id, tenant_id, session_id, contact_id, body, created_by, author_name)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING id, session_id AS conversation_id, body, created_by, author_name, created_at",
        Uuid::now_v7(),
        principal.tenant_id,
        id,
        contact_id,
        body,
        principal.label(),
        author_name,
    )
    .fetch_one(&mut *tx)
    .await?;
    append_outbox(
        &mut tx,
        principal.tenant_id,
        EventType::NoteAdded,
        "note",
        note.id,
        json!({"note_id": note.id, "session_id": id, "contact_id": contact_id, "created_by": note.created_by}),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(note)))
}
