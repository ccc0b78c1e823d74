//! The activities: every side effect of the Conversation and OutboundMessage workflows.
//!
//! Each method implements a definition from `ventros_workflows::contract::activities` (same name,
//! same types, checked at compile time). Errors that retrying cannot fix become non-retryable
//! application failures; everything else is returned as a retryable failure.

use std::sync::Arc;

use chrono::Utc;
use sqlx::PgPool;
use temporalio_common::error::ApplicationFailure;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use ventros_workflows::contract::{activities as defs, names, *};

use std::time::{Duration, Instant};

use crate::agents::{AgentApi, AgentError};
use ventros_channels::channel::CampaignPacing;
use ventros_channels::provider::{Channels, Outgoing, ProviderError};
use ventros_store::{self as store, AgentAnswer, StoreError};

/// How long one agent call may take; Temporal retries it a few times on top.
const AGENT_DEADLINE: Duration = Duration::from_secs(8);

/// Owns the clients the activities use; registered once with the worker.
pub struct ConversationActivities {
    pool: PgPool,
    channels: Channels,
    agents: Option<Arc<dyn AgentApi>>,
    media: Option<Arc<crate::media::OutboundMedia>>,
}

impl ConversationActivities {
    pub fn new(pool: PgPool, channels: Channels, agents: Option<Arc<dyn AgentApi>>) -> Self {
        ConversationActivities {
            pool,
            channels,
            agents,
            media: None,
        }
    }

    /// Operators' files can be sent (without it, a message with a file fails with the reason).
    pub fn with_media(mut self, media: crate::media::OutboundMedia) -> Self {
        self.media = Some(Arc::new(media));
        self
    }
}

pub(crate) fn store_failure(err: StoreError) -> ActivityError {
    match err {
        StoreError::Database(e) => {
            tracing::warn!(error.kind = "database", error = %e, "activity attempt failed; Temporal will retry");
            ActivityError::from(anyhow::Error::new(e))
        }
        StoreError::Invalid(reason) => {
            tracing::error!(error.kind = "invalid", %reason, "activity failed permanently");
            ActivityError::application(ApplicationFailure::non_retryable(reason))
        }
    }
}

fn permanent_send_failure(reason: String) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(reason)
            .type_name(names::FAILURE_PERMANENT_SEND.to_owned())
            .non_retryable(true)
            .build(),
    )
}

/// Retryable, so that a run that may send it never gives up on it; a Conversation, which tries
/// once, then goes on to the hand-over it had started. (No workflow id in the text: a
/// Conversation's carries the chat's address.)
fn handed_over() -> ActivityError {
    ActivityError::from(anyhow::anyhow!(
        "the message was handed over to its OutboundMessage, which alone sends it"
    ))
}

#[activities]
impl ConversationActivities {
    #[activity(definition = defs::PersistInbound)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn persist_inbound(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: PersistInboundInput,
    ) -> Result<PersistInboundOutput, ActivityError> {
        crate::traces::activity_span(&_ctx, input.trace, async move {
            let out = store::persist_inbound(&self.pool, &input)
                .await
                .map_err(store_failure)?;
            tracing::info!(
                tenant.id = %input.tenant_id,
                workflow.id = %input.workflow_id,
                messages.new = out.new_message_ids.len(),
                messages.duplicates = out.duplicates,
                "inbound batch persisted"
            );
            Ok(out)
        })
        .await
    }

    #[activity(definition = defs::PlanAutoReply)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn plan_auto_reply(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: PlanAutoReplyInput,
    ) -> Result<PlanAutoReplyOutput, ActivityError> {
        store::plan_auto_reply(&self.pool, &input)
            .await
            .map_err(store_failure)
    }

    #[activity(definition = defs::SetAssignment)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn set_assignment(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: SetAssignmentInput,
    ) -> Result<(), ActivityError> {
        store::set_assignment(
            &self.pool,
            input.tenant_id,
            input.session_id,
            input.assignment,
            input.assignee.as_deref(),
            input.reason.as_deref(),
        )
        .await
        .map_err(store_failure)?;
        // Only hand-overs carry a reason (an operator's takeover and reassignments do not).
        if let Some(reason) = input.reason.as_deref() {
            crate::metrics::handoff(reason);
        }
        Ok(())
    }

    /// Seen ticks and the typing indicator, where the channel has them.
    #[activity(definition = defs::AgentPresence)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn agent_presence(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: AgentPresenceInput,
    ) -> Result<(), ActivityError> {
        let (channel, chat_id, provider_ids) = store::session_chat(
            &self.pool,
            input.tenant_id,
            input.session_id,
            &input.seen_message_ids,
        )
        .await
        .map_err(store_failure)?;
        let adapter = self.channels.adapter(&channel.provider);
        let capabilities = adapter.capabilities();
        if capabilities.seen && !provider_ids.is_empty() {
            adapter
                .mark_seen(&chat_id, &provider_ids)
                .await
                .map_err(provider_failure)?;
        }
        if capabilities.typing {
            adapter
                .typing(&chat_id, input.typing)
                .await
                .map_err(provider_failure)?;
        }
        Ok(())
    }

    /// Asks the agent service to answer the burst and stores the answer. A retry after the answer
    /// was stored returns it without asking again.
    #[activity(definition = defs::AgentExecute)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn agent_execute(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: AgentExecuteInput,
    ) -> Result<AgentExecuteOutput, ActivityError> {
        crate::traces::activity_span(&_ctx, input.trace, async move {
            if let Some(done) = store::agent_run(&self.pool, input.tenant_id, input.run_id)
                .await
                .map_err(store_failure)?
            {
                return Ok(done);
            }
            let Some(agents) = self.agents.clone() else {
                return Err(agent_rejected(
                    "no agent service is configured (AGENTS_ADDRESS)".into(),
                ));
            };
            let burst = store::agent_burst(
                &self.pool,
                input.tenant_id,
                input.session_id,
                &input.message_ids,
            )
            .await
            .map_err(store_failure)?;
            if burst.text.is_empty() {
                return Err(agent_rejected(
                    "the messages carry no text for an agent to read".into(),
                ));
            }
            let mut context = std::collections::HashMap::new();
            if let Some(name) = burst.contact_name {
                context.insert("contact_name".to_owned(), name);
            }
            if let Some(language) = burst.language {
                // Decides messages too short to tell ("ok", "oi").
                context.insert("language".to_owned(), language);
            }
            let request = ventros_proto::v1::AgentExecutionRequest {
                agent_type: input.agent_type.clone(),
                contact_id: burst.contact_id.to_string(),
                message: burst.text,
                channel_id: input.channel_id.to_string(),
                context,
                tenant_id: input.tenant_id.to_string(),
                request_id: input.run_id.to_string(),
                session_id: input.session_id.to_string(),
            };
            let started = Instant::now();
            let response = agents.execute(request, AGENT_DEADLINE).await.map_err(|err| match err {
                AgentError::Rejected { .. } => agent_rejected(err.to_string()),
                AgentError::Unavailable { .. } => {
                    tracing::warn!(tenant.id = %input.tenant_id, error = %err, "agent call failed; Temporal will retry");
                    ActivityError::from(anyhow::anyhow!(err.to_string()))
                }
            })?;
            let actions: Vec<serde_json::Value> = response
                .actions
                .iter()
                .filter_map(crate::agents::action_json)
                .collect();
            let answer = AgentAnswer {
                requested_agent: &input.agent_type,
                agent_type: if response.agent_type.is_empty() {
                    &input.agent_type
                } else {
                    &response.agent_type
                },
                intent: &response.intent,
                confidence: response.confidence,
                response: &response.response,
                actions: serde_json::Value::Array(actions),
                metadata: serde_json::to_value(&response.metadata).unwrap_or_default(),
                latency_ms: started.elapsed().as_millis() as i32,
            };
            let out = store::record_agent_run(&self.pool, &input, burst.contact_id, answer)
                .await
                .map_err(store_failure)?;
            tracing::info!(
                tenant.id = %input.tenant_id, workflow.id = %input.workflow_id, agent.type = %out.agent_type,
                agent.intent = %out.intent, agent.confidence = out.confidence, reply_planned = out.reply_planned,
                "agent answered"
            );
            Ok(out)
        })
        .await
    }

    #[activity(definition = defs::AgentApplyActions)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn agent_apply_actions(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ApplyActionsInput,
    ) -> Result<ApplyActionsOutput, ActivityError> {
        store::apply_agent_actions(&self.pool, input.tenant_id, input.run_id)
            .await
            .map_err(store_failure)
    }

    #[activity(definition = defs::CloseSession)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn close_session(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: CloseSessionInput,
    ) -> Result<(), ActivityError> {
        store::close_session(
            &self.pool,
            input.tenant_id,
            input.session_id,
            &input.reason,
            input.by.as_deref(),
        )
        .await
        .map_err(store_failure)
    }

    #[activity(definition = defs::SetLifecycle)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn set_lifecycle(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: SetLifecycleInput,
    ) -> Result<(), ActivityError> {
        store::set_lifecycle(&self.pool, &input)
            .await
            .map_err(store_failure)
    }

    #[activity(definition = defs::AttachOperatorReply)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn attach_operator_reply(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: AttachReplyInput,
    ) -> Result<AttachReplyOutput, ActivityError> {
        store::attach_operator_reply(&self.pool, &input)
            .await
            .map_err(store_failure)
    }

    /// Sends once, even across crashes: a message already carrying a provider id is not sent
    /// again, and a retry after an attempt that may have reached the provider asks the channel
    /// adapter to recognise it first (neither WAHA nor Meta has an idempotency key).
    #[activity(definition = defs::SendOutbound)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn send_outbound(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: SendOutboundInput,
    ) -> Result<SendOutboundOutput, ActivityError> {
        // The message's own OutboundMessage may always send it; the workflow that wrote it only
        // until it hands it over (see `outbound::send_or_hand_over`). Empty: no holder to check.
        let caller = crate::telemetry::workflow_of(&_ctx);
        let holder = if caller
            == ventros_workflows::ids::outbound_workflow_id(input.tenant_id, input.message_id)
        {
            String::new()
        } else {
            caller.to_owned()
        };
        crate::traces::activity_span(&_ctx, input.trace, async move {
            let row = store::load_outbound(&self.pool, input.tenant_id, input.message_id)
                .await
                .map_err(store_failure)?;
            let settings = &row.channel.settings;
            let origin = row.origin.as_deref().unwrap_or_default();
            let adapter = self.channels.adapter(&row.channel.provider);
            let done =
                |provider_message_id: String, held_receipts: Vec<DeliveryStatus>| SendOutboundOutput {
                    provider_message_id,
                    ack_timeout_secs: settings.ack_timeout_secs,
                    read_window_secs: settings.read_window_secs,
                    delivery_receipts: adapter.capabilities().delivery_receipts,
                    held_receipts,
                };
            if let Some(provider_id) = &row.provider_message_id {
                return Ok(done(provider_id.clone(), Vec::new()));
            }
            // A message handed over is its OutboundMessage's alone to send (or to reconcile): a
            // replayed first attempt must not race it.
            if !holder.is_empty() && row.handled_by_workflow != holder {
                return Err(handed_over());
            }
            if row.status != DeliveryStatus::Pending.as_str() {
                return Err(permanent_send_failure(format!(
                    "message is {} and cannot be sent",
                    row.status
                )));
            }
            let file = match (&row.attachment, &self.media) {
                (None, _) => None,
                (Some(_), None) => {
                    return Err(permanent_send_failure(
                        "this worker cannot send files (no media store)".into(),
                    ));
                }
                (Some(file), Some(media)) => {
                    let (bytes, url) = media
                        .prepare(input.tenant_id, file)
                        .await
                        .map_err(|e| ActivityError::from(anyhow::anyhow!("reading the file: {e}")))?;
                    Some((file, bytes, url))
                }
            };
            let outgoing = Outgoing {
                message_id: input.message_id,
                chat_id: &row.chat_id,
                text: &row.body,
                file: file.as_ref().map(|(file, bytes, url)| {
                    ventros_channels::provider::OutgoingFile {
                        kind: &file.kind,
                        content_type: &file.content_type,
                        filename: file.filename.as_deref(),
                        bytes,
                        url,
                    }
                }),
                origin: row.origin.as_deref(),
                last_inbound_at: row.last_inbound_at,
                previous_attempt_at: row.last_send_attempt_at,
                now: Utc::now(),
            };
            let candidates = match outgoing.previous_attempt_at {
                Some(_) => adapter
                    .find_earlier_send(&outgoing)
                    .await
                    .map_err(provider_failure)?,
                None => Vec::new(),
            };
            if let Some(earlier) = store::first_unrecorded(&self.pool, row.channel.id, &candidates)
                .await
                .map_err(store_failure)?
            {
                tracing::info!(message.id = %input.message_id, "send reconciled with an earlier attempt");
                let held = store::record_sent(&self.pool, input.tenant_id, input.message_id, &earlier)
                    .await
                    .map_err(store_failure)?;
                crate::metrics::message_sent(&row.channel.kind, origin, "reconciled");
                return Ok(done(earlier, held));
            }
            let types_first = outgoing.origin == Some("campaign")
                && outgoing.previous_attempt_at.is_none()
                && adapter.capabilities().typing
                && settings
                    .campaign_pacing_for(&row.channel.kind)
                    .is_some_and(|p| p.typing);
            if types_first {
                // A person types before they send; a number that never does looks like a bulk sender.
                // Best effort: a failed indicator never holds the message back.
                let _ = adapter.typing(&row.chat_id, true).await;
                tokio::time::sleep(CampaignPacing::typing_duration(&row.body)).await;
                let _ = adapter.typing(&row.chat_id, false).await;
            }
            let receipts = if input.receipts_in_database {
                store::ReceiptsTo::Webhook {
                    ack_timeout_secs: adapter
                        .capabilities()
                        .delivery_receipts
                        .then_some(settings.ack_timeout_secs),
                }
            } else {
                store::ReceiptsTo::Workflow
            };
            let ours = store::mark_send_attempt(
                &self.pool,
                input.tenant_id,
                input.message_id,
                receipts,
                &holder,
            )
            .await
            .map_err(store_failure)?;
            if !ours {
                return Err(handed_over());
            }
            let provider_id = match adapter.send_text(&outgoing).await {
                Ok(id) => id,
                Err(err) => {
                    if matches!(
                        err,
                        ProviderError::Retry {
                            unknown_outcome: false,
                            ..
                        }
                    ) {
                        // The provider answered that it did not take the message: nothing to reconcile.
                        store::clear_send_attempt(&self.pool, input.message_id)
                            .await
                            .map_err(store_failure)?;
                    }
                    crate::metrics::message_sent(&row.channel.kind, origin, "failed");
                    return Err(provider_failure(err));
                }
            };
            let held = store::record_sent(&self.pool, input.tenant_id, input.message_id, &provider_id)
                .await
                .map_err(store_failure)?;
            crate::metrics::message_sent(&row.channel.kind, origin, "sent");
            // Automatic replies only: an operator's or a campaign's message answers no one's wait.
            if matches!(origin, "agent" | "greeting" | "away")
                && let Some(received) = row.last_inbound_stored_at
                && let Ok(took) = (Utc::now() - received).to_std()
            {
                crate::metrics::reply_latency(origin, took);
            }
            tracing::info!(tenant.id = %input.tenant_id, message.id = %input.message_id, channel.kind = %row.channel.kind, "message sent");
            Ok(done(provider_id, held))
        })
        .await
    }

    #[activity(definition = defs::ComposeOperatorMessage)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn compose_operator_message(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ComposeOperatorInput,
    ) -> Result<(), ActivityError> {
        store::compose_operator_message(&self.pool, input.tenant_id, input.message_id)
            .await
            .map_err(store_failure)
    }

    #[activity(definition = defs::HandOverSend)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn hand_over_send(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: HandOverInput,
    ) -> Result<(), ActivityError> {
        let to = ventros_workflows::ids::outbound_workflow_id(input.tenant_id, input.message_id);
        store::hand_over_send(
            &self.pool,
            input.tenant_id,
            input.message_id,
            &input.from_workflow_id,
            &to,
        )
        .await
        .map_err(store_failure)
    }

    #[activity(definition = defs::RecordStatus)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn record_status(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: RecordStatusInput,
    ) -> Result<bool, ActivityError> {
        store::record_status(
            &self.pool,
            input.tenant_id,
            input.message_id,
            input.status,
            input.reason.as_deref(),
        )
        .await
        .map_err(store_failure)
    }
}

fn agent_rejected(reason: String) -> ActivityError {
    tracing::warn!(%reason, "agent request rejected");
    ActivityError::application(
        ApplicationFailure::builder(reason)
            .type_name(names::FAILURE_AGENT_REJECTED.to_owned())
            .non_retryable(true)
            .build(),
    )
}

fn provider_failure(err: ProviderError) -> ActivityError {
    match err {
        ProviderError::Permanent(reason) => {
            tracing::warn!(%reason, "the provider refused the message");
            permanent_send_failure(reason)
        }
        ProviderError::Retry { reason, after, .. } => {
            tracing::warn!(%reason, "provider call failed; Temporal will retry");
            ActivityError::application(
                ApplicationFailure::builder(reason)
                    .maybe_next_retry_delay(after)
                    .build(),
            )
        }
    }
}
