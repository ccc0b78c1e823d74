//! Follow-up tasks: something to do for a contact by a time ("call back tomorrow at 10", "answer
//! the refund request within 4 hours"). Each has a durable timer (the FollowUpTask workflow,
//! started by the worker) that announces `task.due` to the assignee, or the whole team, when an
//! open task reaches its due time. Agents create them with `schedule_follow_up`; operators here.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{Postgres, Transaction};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use ventros_domain::{EventType, TaskStatus};
use ventros_store::append_outbox;
use ventros_store::tickets::{MAX_FOLLOW_UP_MINUTES, NewTask, create_task};

use super::required_text;
use super::tickets::{check_assignee, check_contact};
use crate::AppState;
use crate::auth::{AsAgent, Authorized, Principal};
use crate::db::{Page, Sort, fetch_page_as, page_limit, tenant_tx};
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::ids::Id;

const STATUS_WORDS: &str = "status must be open, done or cancelled";

/// A follow-up task.
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct Task {
    pub id: Uuid,
    pub title: String,
    pub status: TaskStatus,
    pub due_at: DateTime<Utc>,
    #[schema(required = true)]
    pub contact_id: Option<Uuid>,
    #[schema(required = true)]
    pub contact_name: Option<String>,
    #[schema(required = true)]
    pub session_id: Option<Uuid>,
    /// The ticket it follows up.
    #[schema(required = true)]
    pub ticket_id: Option<Uuid>,
    /// Who is told when it is due; `null`: the whole team.
    #[schema(required = true)]
    pub assignee_id: Option<Uuid>,
    /// When the timer announced it (`task.due`); `null` until then.
    #[schema(required = true)]
    pub notified_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub completed_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl crate::ids::Resource for Task {
    const NAME: &'static str = "task";
}

async fn fetch_task(tx: &mut Transaction<'static, Postgres>, id: Uuid) -> Result<Task, ApiError> {
    sqlx::query_as!(
        Task,
        r#"SELECT t.id, t.title, t.status AS "status: TaskStatus", t.due_at, t.contact_id, c.display_name AS "contact_name?",
                  t.session_id, t.ticket_id, t.assignee_id, t.notified_at, t.completed_at, t.created_by,
                  t.created_at, t.updated_at
             FROM tasks t LEFT JOIN contacts c ON c.id = t.contact_id WHERE t.id = $1"#,
        id
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("task {id} not found")))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskListQuery {
    /// `open`, `done` or `cancelled`.
    #[param(value_type = Option<TaskStatus>)]
    pub status: Option<String>,
    pub contact_id: Option<Uuid>,
    pub ticket_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    /// Only tasks due at or before this time (with `status=open`: what is overdue by then).
    pub due_before: Option<DateTime<Utc>>,
    /// `due_at`, `created_at` or `updated_at`, `-` prefix for descending (default `due_at`, soonest first).
    pub sort: Option<String>,
    pub cursor: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// Lists follow-up tasks.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", params(TaskListQuery),
    responses((status = 200, description = "A page of tasks", body = Page<Task>), (status = 400, description = "A bad filter")))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<TaskListQuery>,
) -> Result<Json<Page<Task>>, ApiError> {
    let status = q
        .status
        .as_deref()
        .map(|s| TaskStatus::parse(s).ok_or_else(|| ApiError::BadRequest(STATUS_WORDS.into())))
        .transpose()?;
    let sort = Sort::parse(
        q.sort.as_deref(),
        &["due_at", "created_at", "updated_at"],
        false,
    )?;
    let limit = page_limit(q.limit)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let page = fetch_page_as(&mut tx, sort, q.cursor.as_deref(), limit, |qb| {
        qb.push(
            "SELECT t.id, t.title, t.status, t.due_at, t.contact_id, c.display_name AS contact_name, t.session_id,
                    t.ticket_id, t.assignee_id, t.notified_at, t.completed_at, t.created_by, t.created_at, t.updated_at
               FROM tasks t LEFT JOIN contacts c ON c.id = t.contact_id WHERE true",
        );
        if let Some(status) = status {
            qb.push(" AND t.status = ").push_bind(status.as_str());
        }
        if let Some(contact_id) = q.contact_id {
            qb.push(" AND t.contact_id = ").push_bind(contact_id);
        }
        if let Some(ticket_id) = q.ticket_id {
            qb.push(" AND t.ticket_id = ").push_bind(ticket_id);
        }
        if let Some(assignee_id) = q.assignee_id {
            qb.push(" AND t.assignee_id = ").push_bind(assignee_id);
        }
        if let Some(due_before) = q.due_before {
            qb.push(" AND t.due_at <= ").push_bind(due_before);
        }
    })
    .await?;
    Ok(Json(page))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    /// 1 to 200 characters.
    pub title: String,
    /// When it is due: from now to 30 days ahead.
    pub due_at: DateTime<Utc>,
    pub contact_id: Option<Uuid>,
    /// A ticket of this tenant (its contact becomes the task's when none is given).
    pub ticket_id: Option<Uuid>,
    /// A user of this tenant; none: the whole team is told.
    pub assignee_id: Option<Uuid>,
}

/// Creates a follow-up task; its timer announces `task.due` when it is due.
#[utoipa::path(post, path = "/api/v1/tasks", tag = "tasks", request_body = CreateTask,
    responses((status = 201, description = "The task", body = Task),
              (status = 422, description = "A due time in the past or too far ahead, or an unknown contact, ticket or assignee")))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    ApiJson(req): ApiJson<CreateTask>,
) -> Result<(StatusCode, Json<Task>), ApiError> {
    let title = required_text(&req.title, "title", 200)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    check_due(&mut tx, req.due_at).await?;
    let mut contact_id = req.contact_id;
    let mut session_id = None;
    if let Some(ticket_id) = req.ticket_id {
        let ticket = sqlx::query!(
            "SELECT contact_id, session_id FROM tickets WHERE id = $1",
            ticket_id
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| ApiError::Unprocessable(format!("ticket {ticket_id} does not exist")))?;
        if contact_id.is_some_and(|c| c != ticket.contact_id) {
            return Err(ApiError::Unprocessable(format!(
                "ticket {ticket_id} belongs to another contact"
            )));
        }
        contact_id = Some(ticket.contact_id);
        session_id = ticket.session_id;
    }
    if let Some(contact_id) = req.contact_id {
        check_contact(&mut tx, contact_id).await?;
    }
    if let Some(user) = req.assignee_id {
        check_assignee(&mut tx, user).await?;
    }
    let created_by = principal.label();
    let task = NewTask {
        tenant_id: principal.tenant_id,
        contact_id,
        session_id,
        ticket_id: req.ticket_id,
        agent_run_id: None,
        title: &title,
        due_at: req.due_at,
        assignee_id: req.assignee_id,
        created_by: &created_by,
    };
    let id = create_task(&mut tx, &task).await?;
    let task = fetch_task(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(task)))
}

/// A task.
#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The task", body = Task), (status = 404, description = "No such task")))]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<Task>,
) -> Result<Json<Task>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    Ok(Json(fetch_task(&mut tx, id.get()).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTask {
    /// `open`, `done` or `cancelled`.
    #[schema(value_type = Option<TaskStatus>)]
    pub status: Option<String>,
    pub title: Option<String>,
    /// A new due time (from now to 30 days ahead): the timer waits for it, and an open task is
    /// announced again when it comes.
    pub due_at: Option<DateTime<Utc>>,
    /// A user of this tenant; `null`: the whole team.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<Uuid>)]
    pub assignee_id: Option<Option<Uuid>>,
}

/// Completes, cancels, reopens, renames, reassigns or moves a task (announced as `task.updated`).
#[utoipa::path(patch, path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = Uuid, Path)), request_body = UpdateTask,
    responses((status = 200, description = "The task", body = Task), (status = 404, description = "No such task"),
              (status = 422, description = "A bad status, title or due time, or an unknown assignee")))]
pub async fn update(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Task>,
    ApiJson(req): ApiJson<UpdateTask>,
) -> Result<Json<Task>, ApiError> {
    let id = id.get();
    let status = req
        .status
        .as_deref()
        .map(|s| TaskStatus::parse(s).ok_or_else(|| ApiError::Unprocessable(STATUS_WORDS.into())))
        .transpose()?;
    let title = req
        .title
        .as_deref()
        .map(|t| required_text(t, "title", 200))
        .transpose()?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let before = fetch_task(&mut tx, id).await?;
    if let Some(due_at) = req.due_at {
        check_due(&mut tx, due_at).await?;
    }
    if let Some(Some(user)) = req.assignee_id {
        check_assignee(&mut tx, user).await?;
    }
    let status = status.unwrap_or(before.status);
    let due_at = req.due_at.unwrap_or(before.due_at);
    let assignee = req.assignee_id.unwrap_or(before.assignee_id);
    let rearm = due_at != before.due_at
        || (status == TaskStatus::Open && before.status != TaskStatus::Open);
    // A moved or reopened task is timed again: the worker tells (or restarts) its timer.
    sqlx::query!(
        "UPDATE tasks SET status = $2, title = coalesce($3, title), due_at = $4, assignee_id = $5,
                completed_at = CASE WHEN $2 = 'open' THEN NULL ELSE coalesce(completed_at, now()) END,
                notified_at = CASE WHEN $6 THEN NULL ELSE notified_at END,
                timer_started_at = CASE WHEN $6 THEN NULL ELSE timer_started_at END
          WHERE id = $1",
        id,
        status.as_str(),
        title,
        due_at,
        assignee,
        rearm,
    )
    .execute(&mut *tx)
    .await?;
    append_outbox(
        &mut tx,
        principal.tenant_id,
        EventType::TaskUpdated,
        "task",
        id,
        json!({"task_id": id, "contact_id": before.contact_id, "ticket_id": before.ticket_id, "status": status,
               "due_at": due_at, "assignee_id": assignee, "updated_by": principal.label()}),
    )
    .await?;
    let task = fetch_task(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(task))
}

/// A due time from now (the database's clock) to 30 days ahead.
async fn check_due(
    tx: &mut Transaction<'static, Postgres>,
    due_at: DateTime<Utc>,
) -> Result<(), ApiError> {
    let now: DateTime<Utc> = sqlx::query_scalar!(r#"SELECT now() AS "now!""#)
        .fetch_one(&mut **tx)
        .await?;
    // A minute of grace for the caller's clock and the request's travel.
    if due_at < now - Duration::minutes(1) {
        return Err(ApiError::Unprocessable("due_at is in the past".into()));
    }
    if due_at > now + Duration::minutes(MAX_FOLLOW_UP_MINUTES) {
        return Err(ApiError::Unprocessable(
            "due_at must be at most 30 days ahead".into(),
        ));
    }
    Ok(())
}
