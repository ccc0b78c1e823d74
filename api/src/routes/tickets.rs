//! Tickets: support problems, refund and cancellation requests, linked to the contact and the
//! conversation they came from. Agents open them when their reply says the request was recorded
//! (`open_ticket`, executed by the worker); operators open, assign and resolve them here.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{Postgres, Transaction};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use ventros_domain::{EventType, TicketKind, TicketStatus};
use ventros_store::append_outbox;
use ventros_store::tickets::{NewTicket, open_ticket};

use super::required_text;
use crate::AppState;
use crate::auth::{AsAgent, Authorized, Principal};
use crate::db::{Page, Sort, fetch_page_as, page_limit, tenant_tx};
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::ids::Id;

const KIND_WORDS: &str = "kind must be support, refund or cancellation";
const STATUS_WORDS: &str = "status must be open, in_progress, resolved or closed";

/// A ticket, with the contact's name (what the list shows).
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct Ticket {
    pub id: Uuid,
    pub kind: TicketKind,
    pub status: TicketStatus,
    pub subject: String,
    pub contact_id: Uuid,
    #[schema(required = true)]
    pub contact_name: Option<String>,
    /// The conversation session it came from.
    #[schema(required = true)]
    pub session_id: Option<Uuid>,
    /// The agent run whose reply promised it (agent tickets only).
    #[schema(required = true)]
    pub agent_run_id: Option<Uuid>,
    /// The customer's language (`pt`, `en`, `es`) when an agent opened it.
    #[schema(required = true)]
    pub language: Option<String>,
    #[schema(required = true)]
    pub assignee_id: Option<Uuid>,
    /// `agent:<type>`, `user:<id>` or `api_key:<id>`.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[schema(required = true)]
    pub resolved_at: Option<DateTime<Utc>>,
}

impl crate::ids::Resource for Ticket {
    const NAME: &'static str = "ticket";
}

async fn fetch_ticket(
    tx: &mut Transaction<'static, Postgres>,
    id: Uuid,
) -> Result<Ticket, ApiError> {
    sqlx::query_as!(
        Ticket,
        r#"SELECT t.id, t.kind AS "kind: TicketKind", t.status AS "status: TicketStatus", t.subject, t.contact_id,
                  c.display_name AS contact_name, t.session_id, t.agent_run_id, t.language, t.assignee_id,
                  t.created_by, t.created_at, t.updated_at, t.resolved_at
             FROM tickets t JOIN contacts c ON c.id = t.contact_id WHERE t.id = $1"#,
        id
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("ticket {id} not found")))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicketListQuery {
    /// `open`, `in_progress`, `resolved` or `closed`; `active` for open and in progress.
    pub status: Option<String>,
    /// `support`, `refund` or `cancellation`.
    #[param(value_type = Option<TicketKind>)]
    pub kind: Option<String>,
    pub contact_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    /// `updated_at` or `created_at`, `-` prefix for descending (default `-updated_at`).
    pub sort: Option<String>,
    pub cursor: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// Lists tickets (filter by status, kind, contact, conversation or assignee).
#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", params(TicketListQuery),
    responses((status = 200, description = "A page of tickets", body = Page<Ticket>), (status = 400, description = "A bad filter")))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<TicketListQuery>,
) -> Result<Json<Page<Ticket>>, ApiError> {
    let statuses: Option<Vec<&'static str>> = match q.status.as_deref() {
        None => None,
        Some("active") => Some(vec![
            TicketStatus::Open.as_str(),
            TicketStatus::InProgress.as_str(),
        ]),
        Some(s) => Some(vec![
            TicketStatus::parse(s)
                .ok_or_else(|| ApiError::BadRequest(format!("{STATUS_WORDS} (or active)")))?
                .as_str(),
        ]),
    };
    let kind = q
        .kind
        .as_deref()
        .map(|k| TicketKind::parse(k).ok_or_else(|| ApiError::BadRequest(KIND_WORDS.into())))
        .transpose()?;
    let sort = Sort::parse(q.sort.as_deref(), &["updated_at", "created_at"], true)?;
    let limit = page_limit(q.limit)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let page = fetch_page_as(&mut tx, sort, q.cursor.as_deref(), limit, |qb| {
        qb.push(
            "SELECT t.id, t.kind, t.status, t.subject, t.contact_id, c.display_name AS contact_name, t.session_id,
                    t.agent_run_id, t.language, t.assignee_id, t.created_by, t.created_at, t.updated_at, t.resolved_at
               FROM tickets t JOIN contacts c ON c.id = t.contact_id WHERE true",
        );
        if let Some(statuses) = statuses {
            qb.push(" AND t.status = ANY(").push_bind(statuses).push(")");
        }
        if let Some(kind) = kind {
            qb.push(" AND t.kind = ").push_bind(kind.as_str());
        }
        if let Some(contact_id) = q.contact_id {
            qb.push(" AND t.contact_id = ").push_bind(contact_id);
        }
        if let Some(session_id) = q.session_id {
            qb.push(" AND t.session_id = ").push_bind(session_id);
        }
        if let Some(assignee_id) = q.assignee_id {
            qb.push(" AND t.assignee_id = ").push_bind(assignee_id);
        }
    })
    .await?;
    Ok(Json(page))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    pub contact_id: Uuid,
    /// `support`, `refund` or `cancellation`.
    #[schema(value_type = TicketKind)]
    pub kind: String,
    /// 1 to 200 characters.
    pub subject: String,
    /// The conversation session it belongs to (one of the contact's).
    pub session_id: Option<Uuid>,
    /// A user of this tenant.
    pub assignee_id: Option<Uuid>,
}

/// Opens a ticket for a contact.
#[utoipa::path(post, path = "/api/v1/tickets", tag = "tickets", request_body = CreateTicket,
    responses((status = 201, description = "The ticket", body = Ticket),
              (status = 422, description = "Unknown contact, session or assignee, or a bad kind or subject")))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    ApiJson(req): ApiJson<CreateTicket>,
) -> Result<(StatusCode, Json<Ticket>), ApiError> {
    let kind =
        TicketKind::parse(&req.kind).ok_or_else(|| ApiError::Unprocessable(KIND_WORDS.into()))?;
    let subject = required_text(&req.subject, "subject", 200)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    check_contact(&mut tx, req.contact_id).await?;
    if let Some(session_id) = req.session_id {
        let belongs: bool = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM conversation_sessions WHERE id = $1 AND contact_id = $2) AS "e!""#,
            session_id,
            req.contact_id
        )
        .fetch_one(&mut *tx)
        .await?;
        if !belongs {
            return Err(ApiError::Unprocessable(format!(
                "session {session_id} is not one of contact {}'s conversations",
                req.contact_id
            )));
        }
    }
    if let Some(user) = req.assignee_id {
        check_assignee(&mut tx, user).await?;
    }
    let created_by = principal.label();
    let ticket = NewTicket {
        tenant_id: principal.tenant_id,
        contact_id: req.contact_id,
        session_id: req.session_id,
        agent_run_id: None,
        kind,
        subject: &subject,
        language: None,
        assignee_id: req.assignee_id,
        created_by: &created_by,
    };
    let id = open_ticket(&mut tx, &ticket).await?;
    let ticket = fetch_ticket(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(ticket)))
}

/// A ticket.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "tickets", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The ticket", body = Ticket), (status = 404, description = "No such ticket")))]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<Ticket>,
) -> Result<Json<Ticket>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    Ok(Json(fetch_ticket(&mut tx, id.get()).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTicket {
    /// `open`, `in_progress`, `resolved` or `closed`.
    #[schema(value_type = Option<TicketStatus>)]
    pub status: Option<String>,
    pub subject: Option<String>,
    /// A user of this tenant; `null` unassigns.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<Uuid>)]
    pub assignee_id: Option<Option<Uuid>>,
}

/// Changes a ticket's status, subject or assignee (announced as `ticket.updated`).
#[utoipa::path(patch, path = "/api/v1/tickets/{id}", tag = "tickets", params(("id" = Uuid, Path)), request_body = UpdateTicket,
    responses((status = 200, description = "The ticket", body = Ticket), (status = 404, description = "No such ticket"),
              (status = 422, description = "A bad status or subject, or an unknown assignee")))]
pub async fn update(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Ticket>,
    ApiJson(req): ApiJson<UpdateTicket>,
) -> Result<Json<Ticket>, ApiError> {
    let id = id.get();
    let status = req
        .status
        .as_deref()
        .map(|s| TicketStatus::parse(s).ok_or_else(|| ApiError::Unprocessable(STATUS_WORDS.into())))
        .transpose()?;
    let subject = req
        .subject
        .as_deref()
        .map(|s| required_text(s, "subject", 200))
        .transpose()?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let before = fetch_ticket(&mut tx, id).await?;
    if let Some(Some(user)) = req.assignee_id {
        check_assignee(&mut tx, user).await?;
    }
    let assignee = req.assignee_id.unwrap_or(before.assignee_id);
    let status = status.unwrap_or(before.status);
    sqlx::query!(
        "UPDATE tickets SET status = $2, subject = coalesce($3, subject), assignee_id = $4,
                resolved_at = CASE WHEN $5 THEN coalesce(resolved_at, now()) ELSE NULL END
          WHERE id = $1",
        id,
        status.as_str(),
        subject,
        assignee,
        !status.is_active(),
    )
    .execute(&mut *tx)
    .await?;
    append_outbox(
        &mut tx,
        principal.tenant_id,
        EventType::TicketUpdated,
        "ticket",
        id,
        json!({"ticket_id": id, "contact_id": before.contact_id, "kind": before.kind, "status": status,
               "from_status": before.status, "assignee_id": assignee, "updated_by": principal.label()}),
    )
    .await?;
    let ticket = fetch_ticket(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(ticket))
}

/// The contact exists under this tenant and was not merged away.
pub(crate) async fn check_contact(
    tx: &mut Transaction<'static, Postgres>,
    contact_id: Uuid,
) -> Result<(), ApiError> {
    let merged: Option<Option<Uuid>> =
        sqlx::query_scalar!("SELECT merged_into FROM contacts WHERE id = $1", contact_id)
            .fetch_optional(&mut **tx)
            .await?;
    match merged {
        None => Err(ApiError::Unprocessable(format!(
            "contact {contact_id} does not exist"
        ))),
        Some(Some(into)) => Err(ApiError::Unprocessable(format!(
            "contact {contact_id} was merged into {into}"
        ))),
        Some(None) => Ok(()),
    }
}

/// The user exists under this tenant and is enabled.
pub(crate) async fn check_assignee(
    tx: &mut Transaction<'static, Postgres>,
    user_id: Uuid,
) -> Result<(), ApiError> {
    let enabled: Option<bool> = sqlx::query_scalar!(
        r#"SELECT disabled_at IS NULL AS "enabled!" FROM users WHERE id = $1"#,
        user_id
    )
    .fetch_optional(&mut **tx)
    .await?;
    match enabled {
        Some(true) => Ok(()),
        Some(false) => Err(ApiError::Unprocessable(format!(
            "user {user_id} is disabled"
        ))),
        None => Err(ApiError::Unprocessable(format!(
            "user {user_id} does not exist"
        ))),
    }
}
