//! A campaign as the activities read it, and personalisation: the agent's text and best send hour
//! for one contact (also used by the API's preview).

use super::*;

/// A campaign as the workflows need it.
#[derive(Debug, Clone)]
pub struct CampaignRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub channel_id: Uuid,
    pub segment_id: Uuid,
    pub objective: String,
    pub agent_type: String,
    pub schedule: CampaignSchedule,
    pub send_window: SendWindow,
    pub time_zone: Tz,
    pub rate_limit_per_minute: Option<i32>,
    pub best_send_time: bool,
    pub attribution_window_hours: i32,
    pub status: CampaignStatus,
}

pub async fn load_campaign(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    campaign_id: Uuid,
) -> Result<Option<CampaignRow>, StoreError> {
    let row = sqlx::query!(
        r#"SELECT id, tenant_id, name, channel_id, segment_id, objective, agent_type, schedule, send_window, time_zone,
                  rate_limit_per_minute, best_send_time, attribution_window_hours, status AS "status: CampaignStatus"
             FROM campaigns WHERE id = $1 AND tenant_id = $2"#,
        campaign_id,
        tenant_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let invalid = |what: &str, e: String| {
        StoreError::Invalid(format!(
            "campaign {campaign_id}: stored {what} is invalid: {e}"
        ))
    };
    Ok(Some(CampaignRow {
        id: row.id,
        tenant_id: row.tenant_id,
        name: row.name,
        channel_id: row.channel_id,
        segment_id: row.segment_id,
        objective: row.objective,
        agent_type: row.agent_type,
        schedule: serde_json::from_value(row.schedule)
            .map_err(|e| invalid("schedule", e.to_string()))?,
        send_window: serde_json::from_value(row.send_window)
            .map_err(|e| invalid("send window", e.to_string()))?,
        time_zone: parse_time_zone(&row.time_zone).map_err(|e| invalid("time zone", e))?,
        rate_limit_per_minute: row.rate_limit_per_minute,
        best_send_time: row.best_send_time,
        attribution_window_hours: row.attribution_window_hours,
        status: row.status,
    }))
}

/// The agent's message for one contact and the hour it would send it at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Personalised {
    pub text: String,
    /// Local hour (campaign time zone) the contact is usually active, as the agent chose it.
    pub best_hour: Option<u32>,
    pub agent_type: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PersonaliseError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Agent(#[from] AgentError),
}

impl From<sqlx::Error> for PersonaliseError {
    fn from(e: sqlx::Error) -> Self {
        PersonaliseError::Store(StoreError::Database(e))
    }
}

/// Asks the campaign's agent for a message to this contact, giving it the brief and when the
/// contact usually writes (hours in the campaign's time zone); the agent's tools read the
/// contact's profile and memories themselves.
pub async fn personalise(
    conn: &mut PgConnection,
    agents: &dyn AgentApi,
    campaign: &CampaignRow,
    contact_id: Uuid,
    request_id: &str,
) -> Result<Personalised, PersonaliseError> {
    let request = personalisation_request(conn, campaign, contact_id, request_id).await?;
    ask_agent(agents, campaign, request).await
}

/// The agent request for one contact (database reads only, so a caller can give its connection
/// back before the agent call).
pub async fn personalisation_request(
    conn: &mut PgConnection,
    campaign: &CampaignRow,
    contact_id: Uuid,
    request_id: &str,
) -> Result<AgentExecutionRequest, PersonaliseError> {
    let hours: Vec<(i32, i64)> = sqlx::query!(
        r#"SELECT extract(hour FROM coalesce(provider_timestamp, created_at) AT TIME ZONE $3)::int AS "hour!", count(*) AS "n!"
             FROM messages
            WHERE tenant_id = $1 AND contact_id = $2 AND direction = 'inbound'
              AND created_at > now() - make_interval(days => $4)
            GROUP BY 1 ORDER BY 1"#,
        campaign.tenant_id,
        contact_id,
        campaign.time_zone.name(),
        ACTIVITY_LOOKBACK_DAYS,
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.hour, r.n))
    .collect();
    let (name, language) = sqlx::query!(
        "SELECT display_name, language FROM contacts WHERE id = $1 AND tenant_id = $2",
        contact_id,
        campaign.tenant_id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .map_or((None, None), |c| (c.display_name, c.language));
    let activity_hours = hours
        .iter()
        .map(|(h, n)| format!("{h}:{n}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut context = HashMap::from([
        ("mode".to_owned(), "campaign".to_owned()),
        ("campaign_name".to_owned(), campaign.name.clone()),
        ("objective".to_owned(), campaign.objective.clone()),
        ("activity_hours".to_owned(), activity_hours),
        (
            "window_start".to_owned(),
            campaign.send_window.start.format("%H:%M").to_string(),
        ),
        (
            "window_end".to_owned(),
            campaign.send_window.end.format("%H:%M").to_string(),
        ),
        ("time_zone".to_owned(), campaign.time_zone.name().to_owned()),
    ]);
    if let Some(name) = name {
        context.insert("contact_name".into(), name);
    }
    if let Some(language) = language {
        // The contact's language, for the greeting (and the whole text, with a real model).
        context.insert("language".into(), language);
    }
    Ok(AgentExecutionRequest {
        agent_type: campaign.agent_type.clone(),
        contact_id: contact_id.to_string(),
        message: campaign.objective.clone(),
        channel_id: campaign.channel_id.to_string(),
        context,
        tenant_id: campaign.tenant_id.to_string(),
        request_id: request_id.to_owned(),
        session_id: String::new(),
    })
}

/// The agent's answer to a personalisation request: its text and best hour.
pub async fn ask_agent(
    agents: &dyn AgentApi,
    campaign: &CampaignRow,
    request: AgentExecutionRequest,
) -> Result<Personalised, PersonaliseError> {
    let answer = agents.execute(request, AGENT_DEADLINE).await?;
    let text = answer.response.trim().to_owned();
    if text.is_empty() {
        return Err(AgentError::Rejected {
            code: "empty_response".into(),
            message: "the agent wrote no message".into(),
        }
        .into());
    }
    let best_hour = answer
        .metadata
        .get("best_send_hour")
        .and_then(|h| h.parse::<u32>().ok())
        .filter(|h| *h < 24);
    let agent_type = if answer.agent_type.is_empty() {
        campaign.agent_type.clone()
    } else {
        answer.agent_type
    };
    Ok(Personalised {
        text,
        best_hour,
        agent_type,
    })
}

/// When a prepared recipient should be sent: the agent's best hour inside the window when the
/// campaign uses best send times and the window covers that hour, else the window's next opening.
pub fn choose_send_time(
    campaign: &CampaignRow,
    best_hour: Option<u32>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let tz = campaign.time_zone;
    let best = if campaign.best_send_time {
        best_hour.and_then(|h| campaign.send_window.at_hour(tz, now, h))
    } else {
        None
    };
    best.or_else(|| campaign.send_window.next_open(tz, now))
}
