//! Agent runs: the burst an agent answers, the run stored once with its reply, and the actions it
//! suggested executed once.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;
use ventros_domain::{EventType, TicketKind};
use ventros_proto::v1::ActionType;
use ventros_workflows::{AgentExecuteInput, AgentExecuteOutput, ApplyActionsOutput};

use super::pipelines::open_deal;
use super::tickets::{
    MAX_FOLLOW_UP_MINUTES, NewTask, NewTicket, create_task, open_ticket, session_assignee,
};
use super::{StoreError, append_outbox};

/// What an agent needs to answer a burst: the text of the messages (read here so workflow
/// history never carries it), who the contact is, and where the chat lives.
#[derive(Debug, Clone)]
pub struct AgentBurst {
    pub contact_id: Uuid,
    pub text: String,
    pub contact_name: Option<String>,
    /// The conversation's language so far (the session's, else the contact's).
    pub language: Option<String>,
}

pub async fn agent_burst(
    pool: &PgPool,
    tenant_id: Uuid,
    session_id: Uuid,
    message_ids: &[Uuid],
) -> Result<AgentBurst, StoreError> {
    let contact = sqlx::query!(
        "SELECT s.contact_id, c.display_name, coalesce(s.language, c.language) AS language
           FROM conversation_sessions s JOIN contacts c ON c.id = s.contact_id
          WHERE s.id = $1 AND s.tenant_id = $2",
        session_id,
        tenant_id,
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| StoreError::Invalid(format!("session {session_id} does not exist")))?;
    let (contact_id, contact_name, language) =
        (contact.contact_id, contact.display_name, contact.language);
    // A voice note's words (fetched and transcribed before the reply is decided) count as what
    // the customer said.
    let bodies = sqlx::query_scalar!(
        "SELECT concat_ws(E'\n', nullif(m.body, ''),
                (SELECT string_agg(f.transcript, ' ' ORDER BY f.position) FROM media_files f
                  WHERE f.message_id = m.id AND f.transcript IS NOT NULL))
           FROM messages m WHERE m.tenant_id = $1 AND m.session_id = $2 AND m.id = ANY($3)
          ORDER BY m.provider_timestamp, m.created_at",
        tenant_id,
        session_id,
        message_ids,
    )
    .fetch_all(pool)
    .await?;
    let text = bodies
        .into_iter()
        .flatten()
        .filter(|b| !b.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    Ok(AgentBurst {
        contact_id,
        text,
        contact_name,
        language,
    })
}

/// The stored result of an agent run, if the run already happened (a retried activity).
pub async fn agent_run(
    pool: &PgPool,
    tenant_id: Uuid,
    run_id: Uuid,
) -> Result<Option<AgentExecuteOutput>, StoreError> {
    let row = sqlx::query!(
        "SELECT agent_type, intent, confidence, reply_planned, actions FROM agent_runs WHERE id = $1 AND tenant_id = $2",
        run_id,
        tenant_id,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| AgentExecuteOutput {
        run_id,
        action_types: action_types(&r.actions),
        agent_type: r.agent_type,
        intent: r.intent,
        confidence: r.confidence,
        reply_planned: r.reply_planned,
    }))
}

fn action_types(actions: &Value) -> Vec<String> {
    actions
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["type"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Everything an agent run produced, to be stored.
pub struct AgentAnswer<'a> {
    pub requested_agent: &'a str,
    pub agent_type: &'a str,
    pub intent: &'a str,
    pub confidence: f32,
    pub response: &'a str,
    pub actions: Value,
    pub metadata: Value,
    pub latency_ms: i32,
}

/// The languages customers are answered in (the agent service's `metadata.language`).
pub const SUPPORTED_LANGUAGES: &[&str] = &["pt", "en", "es"];

/// Stores the run and, when the agent is confident enough and said something, its reply as a
/// pending outbound message (same id as the run).
pub async fn record_agent_run(
    pool: &PgPool,
    input: &AgentExecuteInput,
    contact_id: Uuid,
    answer: AgentAnswer<'_>,
) -> Result<AgentExecuteOutput, StoreError> {
    let reply_planned =
        answer.confidence >= input.confidence_threshold && !answer.response.trim().is_empty();
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query!(
        "INSERT INTO agent_runs (id, tenant_id, session_id, contact_id, requested_agent, agent_type, intent, confidence,
                                 response, actions, metadata, latency_ms, reply_planned)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING",
        input.run_id,
        input.tenant_id,
        input.session_id,
        contact_id,
        answer.requested_agent,
        answer.agent_type,
        answer.intent,
        answer.confidence,
        answer.response,
        answer.actions,
        answer.metadata,
        answer.latency_ms,
        reply_planned,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        tx.rollback().await?;
        return agent_run(pool, input.tenant_id, input.run_id)
            .await?
            .ok_or_else(|| StoreError::Invalid(format!("agent run {} vanished", input.run_id)));
    }
    // The language the agent read the customer in becomes the conversation's and the contact's.
    if let Some(language) = answer
        .metadata
        .get("language")
        .and_then(Value::as_str)
        .filter(|l| SUPPORTED_LANGUAGES.contains(l))
    {
        sqlx::query!(
            "UPDATE conversation_sessions SET language = $3 WHERE id = $1 AND tenant_id = $2",
            input.session_id,
            input.tenant_id,
            language,
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE contacts SET language = $3 WHERE id = $1 AND tenant_id = $2",
            contact_id,
            input.tenant_id,
            language,
        )
        .execute(&mut *tx)
        .await?;
    }
    if reply_planned {
        sqlx::query!(
            "INSERT INTO messages (id, tenant_id, channel_id, session_id, contact_id, identity_id, direction, body, status, status_rank,
                                   origin, handled_by_workflow, intent, confidence, agent_type)
             SELECT $1, $2, $3, s.id, s.contact_id, s.identity_id, 'outbound', $5, 'pending', 0, 'agent', $6, $7, $8, $9
             FROM conversation_sessions s WHERE s.id = $4 AND s.tenant_id = $2",
            input.run_id,
            input.tenant_id,
            input.channel_id,
            input.session_id,
            answer.response,
            // Its Conversation sends it, or hands it over to its OutboundMessage.
            &input.workflow_id,
            answer.intent,
            answer.confidence,
            answer.agent_type,
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "INSERT INTO message_status_history (tenant_id, message_id, status) VALUES ($1, $2, 'pending')",
            input.tenant_id,
            input.run_id,
        )
        .execute(&mut *tx)
        .await?;
    }
    append_outbox(
        &mut tx,
        input.tenant_id,
        EventType::AgentReplied,
        "session",
        input.session_id,
        json!({"run_id": input.run_id, "agent_type": answer.agent_type, "intent": answer.intent,
               "confidence": answer.confidence, "reply_planned": reply_planned}),
    )
    .await?;
    tx.commit().await?;
    Ok(AgentExecuteOutput {
        run_id: input.run_id,
        agent_type: answer.agent_type.to_owned(),
        intent: answer.intent.to_owned(),
        confidence: answer.confidence,
        reply_planned,
        action_types: action_types(&answer.actions),
    })
}

/// Executes the suggested actions stored with an agent run, once.
pub async fn apply_agent_actions(
    pool: &PgPool,
    tenant_id: Uuid,
    run_id: Uuid,
) -> Result<ApplyActionsOutput, StoreError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        "SELECT contact_id, session_id, agent_type, metadata->>'language' AS language, actions, actions_applied_at
           FROM agent_runs WHERE id = $1 AND tenant_id = $2 FOR UPDATE",
        run_id,
        tenant_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| StoreError::Invalid(format!("agent run {run_id} does not exist")))?;
    let (contact_id, actions, already) = (row.contact_id, row.actions, row.actions_applied_at);
    let created_by = format!("agent:{}", row.agent_type);
    let language = row
        .language
        .filter(|l| SUPPORTED_LANGUAGES.contains(&l.as_str()));
    // The ticket this answer opened, which its follow-up task belongs to.
    let mut ticket_id = None;
    let types = action_types(&actions);
    let handoff = types
        .iter()
        .any(|t| ActionType::from_name(t) == Some(ActionType::HandoffToHuman));
    if already.is_some() {
        return Ok(ApplyActionsOutput {
            applied: types,
            handoff,
        });
    }
    let mut applied = Vec::new();
    for action in actions.as_array().into_iter().flatten() {
        let kind = action["type"].as_str().unwrap_or_default();
        let param = |name: &str| action["params"][name].as_str().map(str::to_owned);
        let Some(action_type) = ActionType::from_name(kind) else {
            continue;
        };
        match action_type {
            ActionType::CreateLead => {
                let interest = param("interest").filter(|s| !s.is_empty());
                let title = interest.map_or_else(
                    || "New lead".into(),
                    |i| format!("Interested in {}", i.chars().take(80).collect::<String>()),
                );
                open_deal(
                    &mut tx,
                    tenant_id,
                    contact_id,
                    &title,
                    &param("source").unwrap_or_else(|| "conversation".into()),
                )
                .await?;
            }
            ActionType::UpdatePipeline => {
                let Some(stage) = param("stage") else {
                    continue;
                };
                let (deal, _) =
                    open_deal(&mut tx, tenant_id, contact_id, "New lead", "conversation").await?;
                // Only forward: an agent never drags a deal back to an earlier stage.
                let moved = sqlx::query_scalar!(
                    "UPDATE deals d SET stage_id = target.id FROM pipeline_stages target, pipeline_stages current
                     WHERE d.id = $1 AND target.pipeline_id = d.pipeline_id AND target.key = $2
                       AND current.id = d.stage_id AND target.position > current.position
                     RETURNING target.key",
                    deal,
                    stage,
                )
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(stage) = moved {
                    append_outbox(
                        &mut tx,
                        tenant_id,
                        EventType::DealStageChanged,
                        "deal",
                        deal,
                        json!({"deal_id": deal, "stage": stage}),
                    )
                    .await?;
                }
            }
            ActionType::TagContact => {
                let Some(tag) = param("tag").filter(|t| !t.is_empty() && t.len() <= 64) else {
                    continue;
                };
                let tagged = sqlx::query!(
                    "UPDATE contacts SET tags = array_append(tags, $3) WHERE id = $1 AND tenant_id = $2 AND NOT ($3 = ANY(tags))",
                    contact_id,
                    tenant_id,
                    tag,
                )
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if tagged > 0 {
                    append_outbox(
                        &mut tx,
                        tenant_id,
                        EventType::ContactTagged,
                        "contact",
                        contact_id,
                        json!({"contact_id": contact_id, "tag": tag}),
                    )
                    .await?;
                }
            }
            ActionType::OpenTicket => {
                let Some(kind) = param("kind").and_then(|k| TicketKind::parse(&k)) else {
                    continue;
                };
                let subject = param("subject")
                    .map(|s| s.trim().chars().take(200).collect::<String>())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| default_subject(kind).to_owned());
                let ticket = NewTicket {
                    tenant_id,
                    contact_id,
                    session_id: Some(row.session_id),
                    agent_run_id: Some(run_id),
                    kind,
                    subject: &subject,
                    language: language.as_deref(),
                    assignee_id: session_assignee(&mut tx, tenant_id, row.session_id).await?,
                    created_by: &created_by,
                };
                ticket_id = Some(open_ticket(&mut tx, &ticket).await?);
            }
            ActionType::ScheduleFollowUp => {
                let Some(minutes) = param("due_in_minutes")
                    .and_then(|m| m.trim().parse::<i64>().ok())
                    .filter(|m| (1..=MAX_FOLLOW_UP_MINUTES).contains(m))
                else {
                    continue;
                };
                let title = param("title")
                    .map(|s| s.trim().chars().take(200).collect::<String>())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "Follow up with the customer".to_owned());
                let now: DateTime<Utc> = sqlx::query_scalar!(r#"SELECT now() AS "now!""#)
                    .fetch_one(&mut *tx)
                    .await?;
                let task = NewTask {
                    tenant_id,
                    contact_id: Some(contact_id),
                    session_id: Some(row.session_id),
                    ticket_id,
                    agent_run_id: Some(run_id),
                    title: &title,
                    due_at: now + chrono::Duration::minutes(minutes),
                    assignee_id: session_assignee(&mut tx, tenant_id, row.session_id).await?,
                    created_by: &created_by,
                };
                create_task(&mut tx, &task).await?;
            }
            ActionType::HandoffToHuman => {}
            ActionType::Unspecified => continue,
        }
        applied.push(kind.to_owned());
    }
    sqlx::query!(
        "UPDATE agent_runs SET actions_applied_at = now() WHERE id = $1",
        run_id
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ApplyActionsOutput { applied, handoff })
}

/// A ticket's subject when the agent gave none (operators read it in the ticket list).
fn default_subject(kind: TicketKind) -> &'static str {
    match kind {
        TicketKind::Support => "Technical problem",
        TicketKind::Refund => "Refund request",
        TicketKind::Cancellation => "Cancellation request",
    }
}
