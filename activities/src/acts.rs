//! The activities: every side effect of the Conversation and OutboundMessage workflows.
//!
//! Each method implements a definition from `ventros_workflows::contract::activities` (same name,
//! same types, checked at compile time). Errors that retrying cannot fix become non-retryable
//! application failures; everything else is returned as a retryable failure.

use std::sync::Arc;

use chrono::{Duration as ChronoDuration, Utc};
use sqlx::PgPool;
use temporalio_common::error::ApplicationFailure;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use ventros_workflows::contract::{activities as defs, names, *};

use crate::store::{self, StoreError};
use crate::waha::{WahaApi, WahaError};

/// How far back a retried send looks in WAHA's chat history for a message it may already have
/// delivered before crashing.
const RECONCILE_LOOKBACK: u32 = 50;

/// Owns the clients the activities use; registered once with the worker.
pub struct ConversationActivities {
    pool: PgPool,
    waha: Arc<dyn WahaApi>,
}

impl ConversationActivities {
    pub fn new(pool: PgPool, waha: Arc<dyn WahaApi>) -> Self {
        ConversationActivities { pool, waha }
    }
}

fn store_failure(err: StoreError) -> ActivityError {
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
        ApplicationFailure::builder(reason).type_name(names::FAILURE_PERMANENT_SEND.to_owned()).non_retryable(true).build(),
    )
}

#[activities]
impl ConversationActivities {
    #[activity(definition = defs::PersistInbound)]
    pub async fn persist_inbound(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: PersistInboundInput,
    ) -> Result<PersistInboundOutput, ActivityError> {
        let out = store::persist_inbound(&self.pool, &input).await.map_err(store_failure)?;
        tracing::info!(
            tenant.id = %input.tenant_id,
            workflow.id = %input.workflow_id,
            messages.new = out.new_message_ids.len(),
            messages.duplicates = out.duplicates,
            "inbound batch persisted"
        );
        Ok(out)
    }

    #[activity(definition = defs::PlanAutoReply)]
    pub async fn plan_auto_reply(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: PlanAutoReplyInput,
    ) -> Result<PlanAutoReplyOutput, ActivityError> {
        store::plan_auto_reply(&self.pool, &input).await.map_err(store_failure)
    }

    #[activity(definition = defs::SetAssignment)]
    pub async fn set_assignment(self: Arc<Self>, _ctx: ActivityContext, input: SetAssignmentInput) -> Result<(), ActivityError> {
        store::set_assignment(&self.pool, input.tenant_id, input.session_id, input.assignment, input.assignee.as_deref())
            .await
            .map_err(store_failure)
    }

    #[activity(definition = defs::CloseSession)]
    pub async fn close_session(self: Arc<Self>, _ctx: ActivityContext, input: CloseSessionInput) -> Result<(), ActivityError> {
        store::close_session(&self.pool, input.tenant_id, input.session_id, &input.reason).await.map_err(store_failure)
    }

    /// Sends once, even across crashes: a message already carrying a provider id is not sent
    /// again, and a retry after an attempt that may have reached WAHA first looks for the message
    /// in the chat's history (WAHA has no idempotency key).
    #[activity(definition = defs::SendOutbound)]
    pub async fn send_outbound(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: SendOutboundInput,
    ) -> Result<SendOutboundOutput, ActivityError> {
        let row = store::load_outbound(&self.pool, input.tenant_id, input.message_id).await.map_err(store_failure)?;
        let settings = &row.channel.settings;
        let done = |provider_message_id: String| SendOutboundOutput {
            provider_message_id,
            ack_timeout_secs: settings.ack_timeout_secs,
            read_window_secs: settings.read_window_secs,
        };
        if let Some(provider_id) = &row.provider_message_id {
            return Ok(done(provider_id.clone()));
        }
        if row.status != DeliveryStatus::Pending.as_str() {
            return Err(permanent_send_failure(format!("message is {} and cannot be sent", row.status)));
        }
        let Some(waha) = row.channel.waha.clone() else {
            return Err(permanent_send_failure(format!("channel kind {} cannot send yet", row.channel.kind)));
        };

        if row.send_attempts > 0 {
            let since = row.last_send_attempt_at.unwrap_or_else(Utc::now) - ChronoDuration::seconds(5);
            let recent = self.waha.recent_messages(&waha, &row.chat_id, RECONCILE_LOOKBACK).await.map_err(waha_failure)?;
            let earlier = recent.into_iter().find(|m| {
                m.from_me && m.body.as_deref() == Some(row.body.as_str()) && m.timestamp.is_none_or(|t| t >= since.timestamp())
            });
            if let Some(earlier) = earlier {
                tracing::info!(message.id = %input.message_id, "send reconciled with an earlier attempt");
                store::record_sent(&self.pool, input.tenant_id, input.message_id, &earlier.id).await.map_err(store_failure)?;
                return Ok(done(earlier.id));
            }
        }

        store::mark_send_attempt(&self.pool, input.message_id).await.map_err(store_failure)?;
        let sent = self.waha.send_text(&waha, &row.chat_id, &row.body).await.map_err(waha_failure)?;
        store::record_sent(&self.pool, input.tenant_id, input.message_id, &sent.id).await.map_err(store_failure)?;
        tracing::info!(tenant.id = %input.tenant_id, message.id = %input.message_id, "message sent through WAHA");
        Ok(done(sent.id))
    }

    #[activity(definition = defs::RecordStatus)]
    pub async fn record_status(self: Arc<Self>, _ctx: ActivityContext, input: RecordStatusInput) -> Result<bool, ActivityError> {
        store::record_status(&self.pool, input.tenant_id, input.message_id, input.status, input.reason.as_deref())
            .await
            .map_err(store_failure)
    }
}

fn waha_failure(err: WahaError) -> ActivityError {
    if err.is_permanent() {
        tracing::warn!(error = %err, "WAHA refused the message");
        permanent_send_failure(err.to_string())
    } else {
        tracing::warn!(error = %err, "WAHA call failed; Temporal will retry");
        ActivityError::from(anyhow::anyhow!(err.to_string()))
    }
}
