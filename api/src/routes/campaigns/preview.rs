//! Before a campaign starts: who it would reach, and what the agent would write to one contact and
//! when. Nothing is stored or sent.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;
use ventros_activities::agents::AgentError;
use ventros_activities::campaigns::{PersonaliseError, choose_send_time, personalise};

use super::{Campaign, load, reachable, store_error};
use crate::AppState;
use crate::auth::Principal;
use crate::db::tenant_tx;
use crate::error::{ApiError, ApiJson};
use crate::ids::Id;

/// Who a campaign would reach now.
#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentPreview {
    /// How many contacts the segment selects.
    pub segment_count: i64,
    /// How many of them have an identity on the campaign's channel and have not opted out.
    pub reachable_count: i64,
    /// A few reachable contacts.
    #[schema(value_type = Vec<Object>)]
    pub sample: Vec<Value>,
}

/// Who the campaign would reach now: the segment's count, how many of them have an identity on
/// the channel and have not opted out, and a sample.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/preview", tag = "campaigns", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Counts and a sample", body = SegmentPreview), (status = 404, description = "No such campaign")))]
pub async fn preview_segment(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<Campaign>,
) -> Result<Json<SegmentPreview>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let campaign = load(&mut tx, principal.tenant_id, id.get()).await?;
    let reach = reachable(
        &mut tx,
        principal.tenant_id,
        campaign.segment_id,
        campaign.channel_id,
    )
    .await?;
    Ok(Json(SegmentPreview {
        segment_count: reach.total,
        reachable_count: reach.count,
        sample: reach.sample,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewMessage {
    pub contact_id: Uuid,
}

/// What the agent would write to one contact, and when.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePreview {
    pub contact_id: Uuid,
    pub text: String,
    pub agent_type: String,
    /// The local hour the agent picked from the contact's history, if any.
    #[schema(required = true)]
    pub best_hour: Option<u32>,
    /// When it would be sent (null: the send window never opens).
    #[schema(required = true)]
    pub send_at: Option<DateTime<Utc>>,
    pub time_zone: String,
    /// `opted_out` or `no_identity_on_channel` when the campaign would skip this contact.
    #[schema(required = true)]
    pub would_skip: Option<&'static str>,
}

/// What the agent would write to one contact, and when it would be sent. Nothing is stored or sent.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/preview-message", tag = "campaigns", params(("id" = Uuid, Path)), request_body = PreviewMessage,
    responses((status = 200, description = "The personalised message and send time", body = MessagePreview), (status = 404, description = "No such campaign or contact"),
              (status = 503, description = "The agent service is not answering")))]
pub async fn preview_message(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<Campaign>,
    ApiJson(req): ApiJson<PreviewMessage>,
) -> Result<Json<MessagePreview>, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let campaign = load(&mut tx, principal.tenant_id, id).await?;
    let contact = sqlx::query!(
        r#"SELECT c.opted_out_at,
                  EXISTS (SELECT 1 FROM contact_identities i WHERE i.contact_id = c.id AND i.channel_id = $2) AS "has_identity!"
             FROM contacts c WHERE c.id = $1 AND c.merged_into IS NULL"#,
        req.contact_id,
        campaign.channel_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("contact {} not found", req.contact_id)))?;
    let would_skip = if contact.opted_out_at.is_some() {
        Some("opted_out")
    } else if !contact.has_identity {
        Some("no_identity_on_channel")
    } else {
        None
    };
    let agents = state
        .agents
        .client()
        .ok_or_else(|| ApiError::Unavailable("no agent service is configured".into()))?;
    let request_id = format!("preview:{id}:{}", req.contact_id);
    let personalised = match personalise(
        &mut tx,
        agents.as_ref(),
        &campaign,
        req.contact_id,
        &request_id,
    )
    .await
    {
        Ok(p) => p,
        Err(PersonaliseError::Store(e)) => return Err(store_error(e)),
        Err(PersonaliseError::Agent(AgentError::Rejected { message, .. })) => {
            return Err(ApiError::Unprocessable(format!(
                "the agent refused: {message}"
            )));
        }
        Err(PersonaliseError::Agent(err)) => {
            tracing::warn!(error = %err, "campaign preview: agent unavailable");
            return Err(ApiError::Unavailable(
                "the agent service is not answering; retry shortly".into(),
            ));
        }
    };
    let send_at = choose_send_time(&campaign, personalised.best_hour, Utc::now());
    Ok(Json(MessagePreview {
        contact_id: req.contact_id,
        text: personalised.text,
        agent_type: personalised.agent_type,
        best_hour: personalised.best_hour,
        send_at,
        time_zone: campaign.time_zone.name().to_owned(),
        would_skip,
    }))
}
