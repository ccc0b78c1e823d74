//! Tickets and follow-up tasks: what an agent's reply commits to ("I've recorded your refund
//! request", "a colleague will get back to you") as records operators see and act on, and the
//! durable timer behind each task (the FollowUpTask workflow asks [`fire_task`] whether its task
//! is due, and announces it once).
//!
//! Outbox payloads carry ids, kinds and times only: never the subject or title, which may quote
//! the customer.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;
use ventros_domain::{EventType, TaskStatus, TicketKind, TicketStatus};
use ventros_workflows::TaskTimer;

use super::{StoreError, append_outbox};

/// The longest a follow-up may be put off (30 days), for agents and operators alike.
pub const MAX_FOLLOW_UP_MINUTES: i64 = 30 * 24 * 60;

/// A ticket to open, from an agent's run or an operator.
#[derive(Debug, Clone)]
pub struct NewTicket<'a> {
    pub tenant_id: Uuid,
    pub contact_id: Uuid,
    pub session_id: Option<Uuid>,
    pub agent_run_id: Option<Uuid>,
    pub kind: TicketKind,
    pub subject: &'a str,
    pub language: Option<&'a str>,
    pub assignee_id: Option<Uuid>,
    pub created_by: &'a str,
}

/// Opens a ticket and announces `ticket.opened`. For an agent's run, a second call with the same
/// run and kind finds the first ticket and returns it (nothing is announced twice).
pub async fn open_ticket(
    tx: &mut Transaction<'_, Postgres>,
    ticket: &NewTicket<'_>,
) -> Result<Uuid, StoreError> {
    if let Some(run) = ticket.agent_run_id {
        let existing = sqlx::query_scalar!(
            "SELECT id FROM tickets WHERE agent_run_id = $1 AND kind = $2 AND tenant_id = $3",
            run,
            ticket.kind.as_str(),
            ticket.tenant_id,
        )
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(id) = existing {
            return Ok(id);
        }
    }
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO tickets (id, tenant_id, contact_id, session_id, agent_run_id, kind, subject, language, assignee_id, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        id,
        ticket.tenant_id,
        ticket.contact_id,
        ticket.session_id,
        ticket.agent_run_id,
        ticket.kind.as_str(),
        ticket.subject,
        ticket.language,
        ticket.assignee_id,
        ticket.created_by,
    )
    .execute(&mut **tx)
    .await?;
    append_outbox(
        tx,
        ticket.tenant_id,
        EventType::TicketOpened,
        "ticket",
        id,
        json!({"ticket_id": id, "contact_id": ticket.contact_id, "session_id": ticket.session_id,
               "kind": ticket.kind, "status": TicketStatus::Open, "assignee_id": ticket.assignee_id,
               "created_by": ticket.created_by}),
    )
    .await?;
    Ok(id)
}

/// A follow-up task to create.
#[derive(Debug, Clone)]
pub struct NewTask<'a> {
    pub tenant_id: Uuid,
    pub contact_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub ticket_id: Option<Uuid>,
    pub agent_run_id: Option<Uuid>,
    pub title: &'a str,
    pub due_at: DateTime<Utc>,
    pub assignee_id: Option<Uuid>,
    pub created_by: &'a str,
}

/// Creates a task and announces `task.created`; the worker starts its timer (see
/// [`tasks_without_timer`]). Idempotent per agent run, like [`open_ticket`].
pub async fn create_task(
    tx: &mut Transaction<'_, Postgres>,
    task: &NewTask<'_>,
) -> Result<Uuid, StoreError> {
    if let Some(run) = task.agent_run_id {
        let existing = sqlx::query_scalar!(
            "SELECT id FROM tasks WHERE agent_run_id = $1 AND tenant_id = $2",
            run,
            task.tenant_id,
        )
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(id) = existing {
            return Ok(id);
        }
    }
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO tasks (id, tenant_id, contact_id, session_id, ticket_id, agent_run_id, title, due_at, assignee_id, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        id,
        task.tenant_id,
        task.contact_id,
        task.session_id,
        task.ticket_id,
        task.agent_run_id,
        task.title,
        task.due_at,
        task.assignee_id,
        task.created_by,
    )
    .execute(&mut **tx)
    .await?;
    append_outbox(
        tx,
        task.tenant_id,
        EventType::TaskCreated,
        "task",
        id,
        json!({"task_id": id, "contact_id": task.contact_id, "ticket_id": task.ticket_id,
               "due_at": task.due_at, "assignee_id": task.assignee_id, "created_by": task.created_by}),
    )
    .await?;
    Ok(id)
}

/// The user a conversation's session is assigned to, when it is one (an agent's follow-up goes to
/// them; otherwise to the whole team).
pub async fn session_assignee(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    session_id: Uuid,
) -> Result<Option<Uuid>, StoreError> {
    let assignee = sqlx::query_scalar!(
        "SELECT u.id FROM conversation_sessions s JOIN users u ON u.tenant_id = s.tenant_id AND u.id::text = s.assignee
          WHERE s.id = $1 AND s.tenant_id = $2 AND u.disabled_at IS NULL",
        session_id,
        tenant_id,
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(assignee)
}

/// Tasks whose FollowUpTask workflow has not been started (or told of a change) yet, oldest
/// first, with the row's `updated_at` as read (see [`mark_timer_started`]).
pub async fn tasks_without_timer(
    pool: &PgPool,
    limit: i64,
) -> Result<Vec<(Uuid, Uuid, DateTime<Utc>)>, StoreError> {
    let rows = sqlx::query!(
        "SELECT tenant_id, id, updated_at FROM tasks WHERE timer_started_at IS NULL ORDER BY created_at LIMIT $1",
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.tenant_id, r.id, r.updated_at))
        .collect())
}

/// Records that the task's timer exists (after Temporal accepted its workflow), unless the row
/// changed since it was read: then the next pass tells the timer again.
pub async fn mark_timer_started(
    pool: &PgPool,
    tenant_id: Uuid,
    task_id: Uuid,
    read_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE tasks SET timer_started_at = now()
          WHERE id = $1 AND tenant_id = $2 AND timer_started_at IS NULL AND updated_at = $3",
        task_id,
        tenant_id,
        read_at,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The timer fired (or the task changed): a closed task ends its timer; one due later makes it
/// wait again; an open task that is due is announced with `task.due`, once per due time.
pub async fn fire_task(
    pool: &PgPool,
    tenant_id: Uuid,
    task_id: Uuid,
) -> Result<TaskTimer, StoreError> {
    let mut tx = pool.begin().await?;
    let Some(task) = sqlx::query!(
        r#"SELECT status AS "status: TaskStatus", due_at, notified_at, contact_id, ticket_id, assignee_id,
                  (due_at <= now()) AS "due!"
             FROM tasks WHERE id = $1 AND tenant_id = $2 FOR UPDATE"#,
        task_id,
        tenant_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        // Deleted with its contact or ticket: nothing left to announce.
        return Ok(TaskTimer::Finished);
    };
    if task.status != TaskStatus::Open || task.notified_at.is_some() {
        return Ok(TaskTimer::Finished);
    }
    if !task.due {
        return Ok(TaskTimer::WaitUntil {
            due_at_ms: task.due_at.timestamp_millis(),
        });
    }
    sqlx::query!(
        "UPDATE tasks SET notified_at = now() WHERE id = $1",
        task_id
    )
    .execute(&mut *tx)
    .await?;
    append_outbox(
        &mut tx,
        tenant_id,
        EventType::TaskDue,
        "task",
        task_id,
        json!({"task_id": task_id, "contact_id": task.contact_id, "ticket_id": task.ticket_id,
               "due_at": task.due_at, "assignee_id": task.assignee_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(TaskTimer::Finished)
}
