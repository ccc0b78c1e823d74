//! Reports: read-only analytics for the dashboard, the MCP server's `RunQuery` and integrations.
//!
//! Two ways in, both executed the same way: on the reports pool, whose login role
//! (`ventros_report`) can read the `reporting` views and nothing else (the views show one tenant's
//! rows, are security barriers, and leave out message text, phone numbers and secrets), in a
//! `READ ONLY` transaction for the caller's tenant, with a statement timeout, small `work_mem`, a
//! row cap, a response size cap and at most [`PER_TENANT`] reports of one tenant at once.
//! - **Named reports** (`POST /reports/{name}`): parameterised SQL written here; parameters are
//!   bound, never spliced.
//! - **Free-form SQL** (`POST /reports/query`): one `SELECT` over the reporting views, checked by
//!   [`crate::sql_guard`] with PostgreSQL's own parser; the text that was checked is the text that
//!   runs. Nothing is prepared under a name that outlives the report.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Principal;
use crate::db::tenant_tx;
use crate::error::{ApiError, ApiJson};
use crate::sql_guard;

mod catalog;
pub use catalog::*;

/// Rows a report returns at most.
pub const MAX_ROWS: usize = 1_000;
/// Largest report response (the rows as JSON text), so one report cannot fill the API's memory.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;
/// Reports one tenant may run at once; the reports pool is small and shared.
pub const PER_TENANT: usize = 2;
/// The reports pool's size: reports the API runs at once, all tenants together. A report's rows
/// and its serialised answer (up to [`MAX_BYTES`] each) are held while it has its place, so
/// reports take at most about `2 × MAX_BYTES × AT_ONCE` of the API's memory.
pub const AT_ONCE: u32 = 4;
/// Longest a report waits for a place.
const WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// Longest a report may run.
const STATEMENT_TIMEOUT: &str = "5s";

/// The reports pool and who is using it.
#[derive(Clone)]
pub struct ReportRunner {
    pool: sqlx::PgPool,
    running: Arc<Mutex<HashMap<Uuid, usize>>>,
    places: Arc<tokio::sync::Semaphore>,
}

/// A tenant's place among the running reports, given back on drop.
struct Slot {
    running: Arc<Mutex<HashMap<Uuid, usize>>>,
    tenant_id: Uuid,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = running.get_mut(&self.tenant_id) {
            *n -= 1;
            if *n == 0 {
                running.remove(&self.tenant_id);
            }
        }
    }
}

impl ReportRunner {
    /// `pool` must come from [`crate::db::report_pool`].
    pub fn new(pool: sqlx::PgPool) -> Self {
        // One place per connection: a report with a place never waits for the pool.
        let places = pool.options().get_max_connections() as usize;
        ReportRunner {
            pool,
            running: Arc::default(),
            places: Arc::new(tokio::sync::Semaphore::new(places)),
        }
    }

    fn slot(&self, tenant_id: Uuid) -> Result<Slot, ApiError> {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = running.entry(tenant_id).or_default();
        if *n >= PER_TENANT {
            return Err(ApiError::TooManyRequests(1));
        }
        *n += 1;
        Ok(Slot {
            running: self.running.clone(),
            tenant_id,
        })
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunReport {
    /// The report's parameters (see `GET /api/v1/reports`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Map<String, Value>,
    /// 1 to 1000 (default 1000).
    #[serde(default)]
    pub max_rows: Option<usize>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunQuery {
    /// One `SELECT` over the reporting views, e.g.
    /// `SELECT channel_id, count(*) FROM messages WHERE direction = 'inbound' GROUP BY 1`.
    pub sql: String,
    /// 1 to 1000 (default 1000).
    #[serde(default)]
    pub max_rows: Option<usize>,
}

/// A report's answer: the rows as JSON objects keyed by column, and the columns in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportResult {
    /// The columns in the query's order (a row object's keys have none).
    pub columns: Vec<String>,
    /// Each row as PostgreSQL wrote it (`row_to_json`): passed through, never parsed into a tree,
    /// which would take several times its size.
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<Box<RawValue>>,
    pub row_count: usize,
    /// More rows (or bytes) than the cap: the rest were left out.
    pub truncated: bool,
    pub elapsed_ms: u64,
    /// The named report that ran (`POST /reports/{name}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// The SQL that ran, as checked (`POST /reports/query`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

/// Which way in a report came, echoed in its answer.
enum Ran {
    Report(&'static str),
    Query(String),
}

/// One named report: its SQL and how it reads its parameters.
struct Report {
    name: &'static str,
    description: &'static str,
    /// `name: what` per parameter.
    params: &'static [(&'static str, &'static str)],
    sql: &'static str,
}

/// Parameters every report understands: a period and, where it applies, a channel.
const PERIOD: (&str, &str) = ("from, to", "RFC 3339 timestamps; default: the last 30 days");

const REPORTS: &[Report] = &[
    Report {
        name: "messages_over_time",
        description: "Messages in and out per hour, day or week.",
        params: &[PERIOD, ("bucket", "hour | day | week (default day)"), ("channel_id", "only this channel (optional)")],
        sql: "SELECT date_trunc($3, at) AS bucket,
                     count(*) FILTER (WHERE direction = 'inbound') AS inbound,
                     count(*) FILTER (WHERE direction = 'outbound') AS outbound
                FROM reporting.messages
               WHERE at >= $1 AND at < $2 AND ($4::uuid IS NULL OR channel_id = $4)
               GROUP BY 1 ORDER BY 1",
    },
    Report {
        name: "delivery_rates",
        description: "Outbound messages per channel by status, with delivery, read and failure rates.",
        params: &[PERIOD],
        sql: "SELECT c.id AS channel_id, c.kind, c.name, count(m.id) AS outbound,
                     count(m.id) FILTER (WHERE m.status IN ('delivered', 'read', 'played')) AS delivered,
                     count(m.id) FILTER (WHERE m.status IN ('read', 'played')) AS read,
                     count(m.id) FILTER (WHERE m.status IN ('failed', 'undelivered')) AS failed,
                     round(count(m.id) FILTER (WHERE m.status IN ('delivered', 'read', 'played'))::numeric / nullif(count(m.id), 0), 3) AS delivery_rate,
                     round(count(m.id) FILTER (WHERE m.status IN ('read', 'played'))::numeric / nullif(count(m.id), 0), 3) AS read_rate
                FROM reporting.channels c
                LEFT JOIN reporting.messages m ON m.channel_id = c.id AND m.direction = 'outbound' AND m.created_at >= $1 AND m.created_at < $2
               GROUP BY c.id, c.kind, c.name ORDER BY c.name",
    },
    Report {
        name: "response_times",
        description: "First-response time (first reply after the customer's first message) and resolution time (open to close) of conversations, median and 90th percentile, in seconds.",
        params: &[PERIOD, ("channel_id", "only this channel (optional)")],
        sql: "WITH firsts AS (
                SELECT s.id, s.opened_at, s.closed_at,
                       (SELECT min(m.at) FROM reporting.messages m WHERE m.conversation_id = s.id AND m.direction = 'inbound') AS first_in,
                       (SELECT min(m.at) FROM reporting.messages m WHERE m.conversation_id = s.id AND m.direction = 'outbound'
                                                                     AND m.origin IS DISTINCT FROM 'campaign') AS first_out
                  FROM reporting.conversations s
                 WHERE s.opened_at >= $1 AND s.opened_at < $2 AND ($3::uuid IS NULL OR s.channel_id = $3))
              SELECT count(*) AS conversations,
                     count(*) FILTER (WHERE first_out > first_in) AS answered,
                     percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_out - first_in)) FILTER (WHERE first_out > first_in) AS first_response_p50_s,
                     percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM first_out - first_in)) FILTER (WHERE first_out > first_in) AS first_response_p90_s,
                     count(*) FILTER (WHERE closed_at IS NOT NULL) AS resolved,
                     percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - opened_at)) FILTER (WHERE closed_at IS NOT NULL) AS resolution_p50_s,
                     percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - opened_at)) FILTER (WHERE closed_at IS NOT NULL) AS resolution_p90_s
                FROM firsts",
    },
    Report {
        name: "intents",
        description: "What customers want: agent runs by intent, with average confidence and how many the agent answered itself.",
        params: &[PERIOD],
        sql: "SELECT intent, count(*) AS runs, round(avg(confidence)::numeric, 3) AS avg_confidence,
                     count(*) FILTER (WHERE reply_planned) AS answered_by_agent
                FROM reporting.agent_runs WHERE created_at >= $1 AND created_at < $2
               GROUP BY intent ORDER BY runs DESC, intent",
    },
    Report {
        name: "handling_share",
        description: "Who answers: outbound messages by origin (agent, operator, greeting, away, campaign) and conversations held by the bot or by humans.",
        params: &[PERIOD],
        sql: "SELECT 'message' AS kind, coalesce(origin, 'unknown') AS handled_by, count(*) AS count
                FROM reporting.messages WHERE direction = 'outbound' AND created_at >= $1 AND created_at < $2 GROUP BY 2
              UNION ALL
              SELECT 'conversation', assigned_to, count(*)
                FROM reporting.conversations WHERE opened_at >= $1 AND opened_at < $2 GROUP BY 2
              ORDER BY 1, 3 DESC",
    },
    Report {
        name: "campaign_funnel",
        description: "Each campaign's funnel: targeted, skipped, sent, delivered, read, replied, failed.",
        params: &[("campaign_id", "only this campaign (optional)")],
        sql: "SELECT c.id AS campaign_id, c.name, c.status, count(r.contact_id) AS targeted,
                     count(*) FILTER (WHERE r.status = 'skipped') AS skipped,
                     count(*) FILTER (WHERE r.sent_at IS NOT NULL) AS sent,
                     count(*) FILTER (WHERE r.delivered_at IS NOT NULL OR r.read_at IS NOT NULL) AS delivered,
                     count(*) FILTER (WHERE r.read_at IS NOT NULL) AS read,
                     count(*) FILTER (WHERE r.replied_at IS NOT NULL) AS replied,
                     count(*) FILTER (WHERE r.status = 'failed') AS failed
                FROM reporting.campaigns c LEFT JOIN reporting.campaign_recipients r ON r.campaign_id = c.id
               WHERE $1::uuid IS NULL OR c.id = $1
               GROUP BY c.id, c.name, c.status, c.created_at ORDER BY c.created_at DESC",
    },
    Report {
        name: "pipeline_summary",
        description: "Deals per pipeline stage, open, won and lost.",
        params: &[("pipeline_id", "only this pipeline (optional)")],
        sql: "SELECT p.name AS pipeline, s.name AS stage, s.position,
                     count(d.id) FILTER (WHERE d.status = 'open') AS open,
                     count(d.id) FILTER (WHERE d.status = 'won') AS won,
                     count(d.id) FILTER (WHERE d.status = 'lost') AS lost
                FROM reporting.pipelines p JOIN reporting.pipeline_stages s ON s.pipeline_id = p.id
                LEFT JOIN reporting.deals d ON d.stage_id = s.id
               WHERE $1::uuid IS NULL OR p.id = $1
               GROUP BY p.name, s.name, s.position ORDER BY p.name, s.position",
    },
    Report {
        name: "top_contacts",
        description: "The contacts who wrote the most in the period.",
        params: &[PERIOD, ("limit", "1 to 100 (default 10)")],
        sql: "SELECT c.id AS contact_id, c.display_name, count(m.id) AS messages, max(m.at) AS last_message_at
                FROM reporting.messages m JOIN reporting.contacts c ON c.id = m.contact_id
               WHERE m.direction = 'inbound' AND m.at >= $1 AND m.at < $2
               GROUP BY c.id, c.display_name ORDER BY messages DESC, last_message_at DESC LIMIT $3",
    },
];

fn period(params: &Map<String, Value>) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let at = |key: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
        match params.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| {
                    ApiError::Unprocessable(format!("params.{key} must be an RFC 3339 timestamp"))
                }),
            Some(_) => Err(ApiError::Unprocessable(format!(
                "params.{key} must be an RFC 3339 timestamp"
            ))),
        }
    };
    let to = at("to")?.unwrap_or_else(Utc::now);
    let from = at("from")?.unwrap_or(to - ChronoDuration::days(30));
    if from >= to {
        return Err(ApiError::Unprocessable(
            "params.from must be before params.to".into(),
        ));
    }
    Ok((from, to))
}

fn optional_id(params: &Map<String, Value>, key: &str) -> Result<Option<Uuid>, ApiError> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Uuid::parse_str(s)
            .map(Some)
            .map_err(|_| ApiError::Unprocessable(format!("params.{key} must be an id"))),
        Some(_) => Err(ApiError::Unprocessable(format!(
            "params.{key} must be an id"
        ))),
    }
}

fn row_cap(max_rows: Option<usize>) -> Result<usize, ApiError> {
    match max_rows {
        None => Ok(MAX_ROWS),
        Some(n) if (1..=MAX_ROWS).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::Unprocessable(format!(
            "max_rows must be 1 to {MAX_ROWS}"
        ))),
    }
}

/// Runs a named report.
#[utoipa::path(post, path = "/api/v1/reports/{name}", tag = "reports", params(("name" = String, Path)), request_body = RunReport,
    responses((status = 200, description = "Columns and rows", body = ReportResult), (status = 404, description = "No such report"),
              (status = 422, description = "Invalid parameters"),
              (status = 503, description = "The reports are busy: retry shortly")))]
pub async fn run(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<RunReport>,
) -> Result<Response, ApiError> {
    let report = REPORTS.iter().find(|r| r.name == name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no report {name:?}; GET /api/v1/reports lists them"
        ))
    })?;
    let known: HashSet<&str> = report
        .params
        .iter()
        .flat_map(|(k, _)| k.split(", "))
        .collect();
    if let Some(unknown) = req.params.keys().find(|k| !known.contains(k.as_str())) {
        return Err(ApiError::Unprocessable(format!(
            "report {name} has no parameter {unknown:?}"
        )));
    }
    let cap = row_cap(req.max_rows)?;
    let p = &req.params;
    let sql = format!(
        "SELECT row_to_json(q)::text FROM ({}) q LIMIT {}",
        report.sql,
        cap + 1
    );
    let query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
    let query = match report.name {
        "messages_over_time" => {
            let (from, to) = period(p)?;
            let bucket = match p.get("bucket").and_then(Value::as_str).unwrap_or("day") {
                b @ ("hour" | "day" | "week") => b.to_owned(),
                _ => {
                    return Err(ApiError::Unprocessable(
                        "params.bucket must be hour, day or week".into(),
                    ));
                }
            };
            query
                .bind(from)
                .bind(to)
                .bind(bucket)
                .bind(optional_id(p, "channel_id")?)
        }
        "delivery_rates" | "intents" | "handling_share" => {
            let (from, to) = period(p)?;
            query.bind(from).bind(to)
        }
        "response_times" => {
            let (from, to) = period(p)?;
            query
                .bind(from)
                .bind(to)
                .bind(optional_id(p, "channel_id")?)
        }
        "campaign_funnel" => query.bind(optional_id(p, "campaign_id")?),
        "pipeline_summary" => query.bind(optional_id(p, "pipeline_id")?),
        "top_contacts" => {
            let (from, to) = period(p)?;
            let limit = match p.get("limit") {
                None | Some(Value::Null) => 10,
                Some(v) => v
                    .as_i64()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| {
                        ApiError::Unprocessable("params.limit must be 1 to 100".into())
                    })?,
            };
            query.bind(from).bind(to).bind(limit)
        }
        other => {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "report {other} has no parameter binding"
            )));
        }
    };
    execute(
        &state,
        principal.tenant_id,
        report.sql,
        query,
        cap,
        Ran::Report(report.name),
    )
    .await
}

/// Runs one read-only `SELECT` over the reporting views.
#[utoipa::path(post, path = "/api/v1/reports/query", tag = "reports", request_body = RunQuery,
    responses((status = 200, description = "Columns and rows", body = ReportResult),
              (status = 422, description = "Not a single SELECT over the reporting views, a function that is not allowed, or an error while running"),
              (status = 429, description = "Too many reports of this account are running"),
              (status = 503, description = "The reports are busy: retry shortly")))]
pub async fn query(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<RunQuery>,
) -> Result<Response, ApiError> {
    let cap = row_cap(req.max_rows)?;
    let checked = sql_guard::check(&req.sql, cap + 1).map_err(ApiError::Unprocessable)?;
    let query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(checked.wrapped.clone()));
    execute(
        &state,
        principal.tenant_id,
        &checked.sql,
        query,
        cap,
        Ran::Query(checked.sql.clone()),
    )
    .await
}

/// A failure of the report's own SQL (not of the connection): the caller's to fix. Errors about
/// values (SQLSTATE class 22: bad casts, division by zero, …) quote the offending value, which may
/// come from a row; they are reported by kind only.
fn query_failure(e: sqlx::Error) -> ApiError {
    match e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("57014") => {
            ApiError::Unprocessable(format!(
                "the query ran longer than {STATEMENT_TIMEOUT} and was cancelled"
            ))
        }
        sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("22")) => {
            ApiError::Unprocessable(format!(
                "the query failed on a value (SQLSTATE {}: a cast, a division by zero or an out-of-range value)",
                db.code().unwrap_or_default()
            ))
        }
        sqlx::Error::Database(db)
            if matches!(db.code().as_deref(), Some("53100" | "53200" | "54000")) =>
        {
            ApiError::Unprocessable(
                "the query needs more memory or disk than a report may use".into(),
            )
        }
        sqlx::Error::Database(db) => {
            ApiError::Unprocessable(format!("the query failed: {}", db.message()))
        }
        other => ApiError::from(other),
    }
}

async fn execute<'q>(
    state: &AppState,
    tenant_id: Uuid,
    inner_sql: &str,
    query: sqlx::query::QueryScalar<'q, sqlx::Postgres, String, sqlx::postgres::PgArguments>,
    cap: usize,
    ran: Ran,
) -> Result<Response, ApiError> {
    use futures::TryStreamExt;
    let _slot = state.reports.slot(tenant_id)?;
    // Held until the answer is serialised (the rows and the answer are the memory a report takes).
    let _place = tokio::time::timeout(WAIT, state.reports.places.clone().acquire_owned())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| ApiError::Unavailable("the reports are busy; retry shortly".into()))?;
    let mut tx = tenant_tx(&state.reports.pool, tenant_id).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'; SET LOCAL work_mem = '4MB';
         SET LOCAL standard_conforming_strings = on; SET LOCAL search_path = reporting, pg_catalog, pg_temp"
    )))
    .execute(&mut *tx)
    .await?;
    let started = Instant::now();
    // The columns in the query's order (the rows are JSON objects, whose keys have none).
    let described = sqlx::Executor::describe(
        &mut *tx,
        sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(inner_sql.to_owned())),
    )
    .await
    .map_err(query_failure)?;
    let columns: Vec<String> = described
        .columns()
        .iter()
        .map(|c| sqlx::Column::name(c).to_owned())
        .collect();
    let mut rows = Vec::new();
    let mut bytes = 0;
    let mut truncated = false;
    {
        let mut stream = query.persistent(false).fetch(&mut *tx);
        while let Some(row) = stream.try_next().await.map_err(query_failure)? {
            bytes += row.len();
            if rows.len() == cap || bytes > MAX_BYTES {
                truncated = true;
                break;
            }
            rows.push(RawValue::from_string(row).map_err(|e| ApiError::Internal(e.into()))?);
        }
    }
    tx.rollback().await?;
    if rows.is_empty() && bytes > MAX_BYTES {
        return Err(ApiError::Unprocessable(format!(
            "one row of the result is larger than {MAX_BYTES} bytes"
        )));
    }
    let (report, sql) = match ran {
        Ran::Report(name) => (Some(name.to_owned()), None),
        Ran::Query(sql) => (None, Some(sql)),
    };
    Ok(Json(ReportResult {
        columns,
        row_count: rows.len(),
        rows,
        truncated,
        elapsed_ms: started.elapsed().as_millis() as u64,
        report,
        sql,
    })
    .into_response())
}
