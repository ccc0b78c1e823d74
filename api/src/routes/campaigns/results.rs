//! What a campaign did: each recipient's status and timestamps, and the metrics (counts, rates,
//! reasons, timeline) over one run or all of them.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use ventros_domain::RecipientStatus;

use super::{Campaign, load};
use crate::AppState;
use crate::auth::Principal;
use crate::db::{Page, Sort, fetch_page_as, page_limit, tenant_tx};
use crate::error::{ApiError, ApiQuery};
use crate::ids::Id;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecipientsQuery {
    /// `pending`, `scheduled`, `sending`, `sent`, `delivered`, `read`, `replied`, `skipped`, `failed`.
    #[param(value_type = Option<ventros_domain::RecipientStatus>)]
    pub status: Option<String>,
    /// The run (default: the latest).
    #[param(minimum = 1)]
    pub run_no: Option<i32>,
    /// Continue a list: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// One contact of a campaign run: how far they got, why they stopped, what they were sent.
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct Recipient {
    /// The contact's id.
    pub id: Uuid,
    #[schema(required = true)]
    pub contact_name: Option<String>,
    pub status: RecipientStatus,
    /// Why it was skipped or failed.
    #[schema(required = true)]
    pub reason: Option<String>,
    #[schema(required = true)]
    pub personalised_text: Option<String>,
    #[schema(required = true)]
    pub agent_type: Option<String>,
    /// The local hour the agent picked, if any.
    #[schema(required = true)]
    pub best_hour: Option<i16>,
    #[schema(required = true)]
    pub send_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub message_id: Option<Uuid>,
    #[schema(required = true)]
    pub session_id: Option<Uuid>,
    #[schema(required = true)]
    pub reply_message_id: Option<Uuid>,
    /// The CampaignRecipient workflow.
    pub workflow_id: String,
    pub created_at: DateTime<Utc>,
    #[schema(required = true)]
    pub scheduled_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub sent_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub delivered_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub read_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub replied_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub skipped_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub failed_at: Option<DateTime<Utc>>,
    /// Waiting for the paused campaign to resume.
    pub held: bool,
}

/// The run with this number, or the latest when no number is given (None: no run yet).
async fn run_id_of(
    tx: &mut sqlx::PgConnection,
    campaign_id: Uuid,
    run_no: Option<i32>,
) -> Result<Option<Uuid>, ApiError> {
    let Some(n) = run_no else {
        return Ok(sqlx::query_scalar!(
            "SELECT id FROM campaign_runs WHERE campaign_id = $1 ORDER BY run_no DESC LIMIT 1",
            campaign_id
        )
        .fetch_optional(&mut *tx)
        .await?);
    };
    sqlx::query_scalar!(
        "SELECT id FROM campaign_runs WHERE campaign_id = $1 AND run_no = $2",
        campaign_id,
        n
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(Some)
    .ok_or_else(|| ApiError::NotFound(format!("run {n} of campaign {campaign_id} not found")))
}

/// The recipients of a run with their status, reason, text, chosen send time and timestamps.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/recipients", tag = "campaigns", params(("id" = Uuid, Path), RecipientsQuery),
    responses((status = 200, description = "A page of recipients", body = Page<Recipient>), (status = 404, description = "No such campaign or run")))]
pub async fn recipients(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<Campaign>,
    ApiQuery(q): ApiQuery<RecipientsQuery>,
) -> Result<Json<Page<Recipient>>, ApiError> {
    let id = id.get();
    let status = q
        .status
        .as_deref()
        .map(|s| {
            RecipientStatus::parse(s).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "status must be one of {}",
                    RecipientStatus::choices()
                ))
            })
        })
        .transpose()?;
    let limit = page_limit(q.limit)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    load(&mut tx, principal.tenant_id, id).await?;
    let Some(run_id) = run_id_of(&mut tx, id, q.run_no).await? else {
        return Ok(Json(Page {
            items: Vec::new(),
            next_cursor: None,
        }));
    };
    let sort = Sort::parse(None, &["created_at"], false)?;
    let page = fetch_page_as(&mut tx, sort, q.cursor.as_deref(), limit, |qb| {
        qb.push(
            "SELECT r.contact_id AS id, c.display_name AS contact_name, r.status, r.reason, r.personalised_text, r.agent_type, r.best_hour,
                    r.send_at, r.message_id, r.session_id, r.reply_message_id, r.workflow_id, r.created_at, r.scheduled_at, r.sent_at,
                    r.delivered_at, r.read_at, r.replied_at, r.skipped_at, r.failed_at, r.held_at IS NOT NULL AS held
               FROM campaign_recipients r JOIN contacts c ON c.id = r.contact_id WHERE r.run_id = ",
        )
        .push_bind(run_id);
        if let Some(status) = status {
            qb.push(" AND r.status = ").push_bind(status.as_str());
        }
    })
    .await?;
    Ok(Json(page))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetricsQuery {
    /// One run (default: every run of the campaign).
    #[param(minimum = 1)]
    pub run_no: Option<i32>,
    /// Timeline bucket: `minute`, `hour` (default) or `day`.
    #[param(schema_with = bucket_words)]
    pub bucket: Option<String>,
}

fn bucket_words() -> utoipa::openapi::schema::Object {
    crate::routes::one_of_words(&["minute", "hour", "day"])
}

/// How many recipients reached each point.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientCounts {
    pub targeted: i64,
    pub skipped: i64,
    /// Not sent yet (pending, scheduled or being sent).
    pub pending: i64,
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    pub replied: i64,
    pub failed: i64,
}

/// Rates from 0 to 1 (four decimals); null when the denominator is zero.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientRates {
    /// Delivered of sent.
    #[schema(required = true)]
    pub delivery: Option<f64>,
    /// Read of sent.
    #[schema(required = true)]
    pub read: Option<f64>,
    /// Replied of sent.
    #[schema(required = true)]
    pub reply: Option<f64>,
    /// Failed of attempted (targeted minus skipped).
    #[schema(required = true)]
    pub failure: Option<f64>,
    /// Skipped of targeted.
    #[schema(required = true)]
    pub skip: Option<f64>,
}

/// What happened in one bucket of time.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelinePoint {
    pub at: DateTime<Utc>,
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    pub replied: i64,
    pub failed: i64,
}

/// A campaign's results over one run or all of them.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignMetrics {
    pub counts: RecipientCounts,
    pub rates: RecipientRates,
    /// How many recipients were skipped or failed, by reason.
    pub skip_and_failure_reasons: BTreeMap<String, i64>,
    pub timeline: Vec<TimelinePoint>,
    /// `minute`, `hour` or `day`.
    pub bucket: String,
    /// The run these metrics cover (null: every run).
    #[schema(required = true)]
    pub run_no: Option<i32>,
}

fn rate(part: i64, whole: i64) -> Option<f64> {
    // Counts are far below 2^52: exact as f64.
    #[allow(clippy::cast_precision_loss)]
    (whole > 0).then(|| (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
}

pub(super) async fn metrics_of(
    tx: &mut sqlx::PgConnection,
    campaign_id: Uuid,
    run_id: Option<Uuid>,
    bucket: &str,
) -> Result<CampaignMetrics, ApiError> {
    let counts = sqlx::query_as!(
        RecipientCounts,
        r#"SELECT count(*) AS "targeted!",
                  count(*) FILTER (WHERE status = 'skipped') AS "skipped!",
                  count(*) FILTER (WHERE status IN ('pending', 'scheduled', 'sending')) AS "pending!",
                  count(sent_at) AS "sent!", count(delivered_at) AS "delivered!", count(read_at) AS "read!",
                  count(replied_at) AS "replied!", count(*) FILTER (WHERE status = 'failed') AS "failed!"
             FROM campaign_recipients WHERE campaign_id = $1 AND ($2::uuid IS NULL OR run_id = $2)"#,
        campaign_id,
        run_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    let skip_and_failure_reasons = sqlx::query!(
        r#"SELECT coalesce(reason, 'unknown') AS "reason!", count(*) AS "n!" FROM campaign_recipients
            WHERE campaign_id = $1 AND ($2::uuid IS NULL OR run_id = $2) AND status IN ('skipped', 'failed') GROUP BY 1"#,
        campaign_id,
        run_id,
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| (r.reason, r.n))
    .collect();
    let timeline = sqlx::query_as!(
        TimelinePoint,
        r#"SELECT at AS "at!", sum(sent)::bigint AS "sent!", sum(delivered)::bigint AS "delivered!", sum(read)::bigint AS "read!",
                  sum(replied)::bigint AS "replied!", sum(failed)::bigint AS "failed!"
           FROM (
             SELECT date_trunc($3, sent_at) AS at, 1 AS sent, 0 AS delivered, 0 AS read, 0 AS replied, 0 AS failed FROM campaign_recipients
              WHERE campaign_id = $1 AND ($2::uuid IS NULL OR run_id = $2) AND sent_at IS NOT NULL
             UNION ALL SELECT date_trunc($3, delivered_at), 0, 1, 0, 0, 0 FROM campaign_recipients
              WHERE campaign_id = $1 AND ($2::uuid IS NULL OR run_id = $2) AND delivered_at IS NOT NULL
             UNION ALL SELECT date_trunc($3, read_at), 0, 0, 1, 0, 0 FROM campaign_recipients
              WHERE campaign_id = $1 AND ($2::uuid IS NULL OR run_id = $2) AND read_at IS NOT NULL
             UNION ALL SELECT date_trunc($3, replied_at), 0, 0, 0, 1, 0 FROM campaign_recipients
              WHERE campaign_id = $1 AND ($2::uuid IS NULL OR run_id = $2) AND replied_at IS NOT NULL
             UNION ALL SELECT date_trunc($3, failed_at), 0, 0, 0, 0, 1 FROM campaign_recipients
              WHERE campaign_id = $1 AND ($2::uuid IS NULL OR run_id = $2) AND failed_at IS NOT NULL
           ) e GROUP BY at ORDER BY at"#,
        campaign_id,
        run_id,
        bucket,
    )
    .fetch_all(&mut *tx)
    .await?;
    let attempted = counts.targeted - counts.skipped;
    let rates = RecipientRates {
        delivery: rate(counts.delivered, counts.sent),
        read: rate(counts.read, counts.sent),
        reply: rate(counts.replied, counts.sent),
        failure: rate(counts.failed, attempted),
        skip: rate(counts.skipped, counts.targeted),
    };
    Ok(CampaignMetrics {
        counts,
        rates,
        skip_and_failure_reasons,
        timeline,
        bucket: bucket.to_owned(),
        run_no: None,
    })
}

/// Targeted, skipped, sent, delivered, read, replied and failed counts, the rates, why recipients
/// were skipped or failed, and a timeline.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/metrics", tag = "campaigns", params(("id" = Uuid, Path), MetricsQuery),
    responses((status = 200, description = "Metrics", body = CampaignMetrics), (status = 404, description = "No such campaign or run")))]
pub async fn metrics(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<Campaign>,
    ApiQuery(q): ApiQuery<MetricsQuery>,
) -> Result<Json<CampaignMetrics>, ApiError> {
    let id = id.get();
    let bucket = q.bucket.as_deref().unwrap_or("hour");
    if !matches!(bucket, "minute" | "hour" | "day") {
        return Err(ApiError::BadRequest(
            "bucket must be minute, hour or day".into(),
        ));
    }
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    load(&mut tx, principal.tenant_id, id).await?;
    let run_id = match q.run_no {
        Some(_) => run_id_of(&mut tx, id, q.run_no).await?,
        None => None,
    };
    let mut body = metrics_of(&mut tx, id, run_id, bucket).await?;
    body.run_no = q.run_no;
    Ok(Json(body))
}
