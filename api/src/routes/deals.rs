//! Deals: CRUD and moving them between stages. A move writes `deal.stage_changed` with the deal
//! (the web app's Kanban board and the customer's memory both follow it); reaching a `won` or
//! `lost` stage closes the deal accordingly.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{Postgres, Transaction};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use ventros_domain::{DealStatus, EventType};
use ventros_store::{append_outbox, default_pipeline};

use super::{optional_text, required_text};
use crate::AppState;
use crate::auth::{AsAgent, Authorized, Principal};
use crate::db::{Page, Sort, execute_found, fetch_page_as, page_limit, tenant_tx};
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::ids::Id;

const DEAL_COLUMNS: &str = "d.id, d.title, d.status, d.source, d.value_minor, d.currency, d.pipeline_id, d.stage_id, s.key AS stage_key, s.name AS stage_name, d.contact_id,
    c.display_name AS contact_name, d.created_by, d.created_at, d.updated_at";
const DEAL_FROM: &str = " FROM deals d JOIN pipeline_stages s ON s.id = d.stage_id JOIN contacts c ON c.id = d.contact_id";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DealListQuery {
    /// Only this pipeline's deals.
    pub pipeline_id: Option<Uuid>,
    /// Only deals in this stage.
    pub stage_id: Option<Uuid>,
    /// Only this contact's deals.
    pub contact_id: Option<Uuid>,
    /// `open`, `won` or `lost`.
    #[param(value_type = Option<ventros_domain::DealStatus>)]
    pub status: Option<String>,
    /// `created_at` or `updated_at`, `-` prefix for descending (default `-updated_at`).
    pub sort: Option<String>,
    /// Continue a list: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

const STATUS_WORDS: &str = "status must be open, won or lost";

/// A deal, with its stage's key and name and the contact's name (what the board shows).
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct Deal {
    pub id: Uuid,
    pub title: String,
    pub status: DealStatus,
    /// Where it came from (free text: `whatsapp`, `campaign`, …).
    #[schema(required = true)]
    pub source: Option<String>,
    /// What the deal is worth, in the currency's minor unit (centavos: 150000 = R$ 1.500,00); null
    /// while unknown.
    #[schema(required = true)]
    pub value_minor: Option<i64>,
    /// ISO 4217 code (`BRL` unless set).
    pub currency: String,
    pub pipeline_id: Uuid,
    pub stage_id: Uuid,
    pub stage_key: String,
    pub stage_name: String,
    pub contact_id: Uuid,
    #[schema(required = true)]
    pub contact_name: Option<String>,
    /// Who created it: a user, an API key or an agent.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

async fn fetch_deal(tx: &mut Transaction<'static, Postgres>, id: Uuid) -> Result<Deal, ApiError> {
    sqlx::query_as!(
        Deal,
        r#"SELECT d.id, d.title, d.status AS "status: DealStatus", d.source, d.value_minor, d.currency, d.pipeline_id, d.stage_id,
                  s.key AS stage_key, s.name AS stage_name, d.contact_id, c.display_name AS contact_name,
                  d.created_by, d.created_at, d.updated_at
             FROM deals d JOIN pipeline_stages s ON s.id = d.stage_id JOIN contacts c ON c.id = d.contact_id
            WHERE d.id = $1"#,
        id
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("deal {id} not found")))
}

/// Lists deals (filter by pipeline, stage, contact or status).
#[utoipa::path(get, path = "/api/v1/deals", tag = "deals", params(DealListQuery), responses((status = 200, description = "A page of deals", body = Page<Deal>)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<DealListQuery>,
) -> Result<Json<Page<Deal>>, ApiError> {
    let status = q
        .status
        .as_deref()
        .map(|s| DealStatus::parse(s).ok_or_else(|| ApiError::BadRequest(STATUS_WORDS.into())))
        .transpose()?;
    let sort = Sort::parse(q.sort.as_deref(), &["updated_at", "created_at"], true)?;
    let limit = page_limit(q.limit)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let page = fetch_page_as(&mut tx, sort, q.cursor.as_deref(), limit, |qb| {
        qb.push("SELECT ")
            .push(DEAL_COLUMNS)
            .push(DEAL_FROM)
            .push(" WHERE true");
        if let Some(pipeline_id) = q.pipeline_id {
            qb.push(" AND d.pipeline_id = ").push_bind(pipeline_id);
        }
        if let Some(stage_id) = q.stage_id {
            qb.push(" AND d.stage_id = ").push_bind(stage_id);
        }
        if let Some(contact_id) = q.contact_id {
            qb.push(" AND d.contact_id = ").push_bind(contact_id);
        }
        if let Some(status) = status {
            qb.push(" AND d.status = ").push_bind(status.as_str());
        }
    })
    .await?;
    Ok(Json(page))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDeal {
    pub contact_id: Uuid,
    pub title: String,
    /// Defaults to the tenant's default pipeline.
    pub pipeline_id: Option<Uuid>,
    /// Defaults to the pipeline's first stage.
    pub stage_id: Option<Uuid>,
    pub source: Option<String>,
    /// What it is worth, in the currency's minor unit (centavos), 0 to 10^14.
    pub value_minor: Option<i64>,
    /// ISO 4217 code, three capital letters (default `BRL`).
    pub currency: Option<String>,
}

/// Checks a value and currency as the table does, with a message that says which.
fn valid_money(value: Option<i64>, currency: Option<&str>) -> Result<Option<String>, ApiError> {
    if value.is_some_and(|v| !(0..=100_000_000_000_000).contains(&v)) {
        return Err(ApiError::Unprocessable(
            "value_minor must be 0 to 100000000000000 (in the currency's minor unit)".into(),
        ));
    }
    currency
        .map(|c| {
            if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) {
                Ok(c.to_owned())
            } else {
                Err(ApiError::Unprocessable(
                    "currency must be an ISO 4217 code such as BRL".into(),
                ))
            }
        })
        .transpose()
}

/// Creates a deal (one open deal per contact and pipeline).
#[utoipa::path(post, path = "/api/v1/deals", tag = "deals", request_body = CreateDeal,
    responses((status = 201, description = "The deal", body = Deal), (status = 409, description = "The contact already has an open deal in this pipeline"),
              (status = 422, description = "Unknown contact, pipeline or stage")))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    ApiJson(req): ApiJson<CreateDeal>,
) -> Result<(StatusCode, Json<Deal>), ApiError> {
    let title = required_text(&req.title, "title", 200)?;
    let source = optional_text(req.source.as_deref(), "source", 100)?;
    let currency = valid_money(req.value_minor, req.currency.as_deref())?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    // Every referenced id is looked up under RLS: another tenant's ids are simply unknown.
    let contact: Option<Option<Uuid>> = sqlx::query_scalar!(
        "SELECT merged_into FROM contacts WHERE id = $1",
        req.contact_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    match contact {
        None => {
            return Err(ApiError::Unprocessable(format!(
                "contact {} does not exist",
                req.contact_id
            )));
        }
        Some(Some(into)) => {
            return Err(ApiError::Unprocessable(format!(
                "contact {} was merged into {into}",
                req.contact_id
            )));
        }
        Some(None) => {}
    }
    let pipeline_id = match req.pipeline_id {
        Some(id) => {
            let exists: bool = sqlx::query_scalar!(
                r#"SELECT EXISTS (SELECT 1 FROM pipelines WHERE id = $1) AS "exists!""#,
                id
            )
            .fetch_one(&mut *tx)
            .await?;
            if !exists {
                return Err(ApiError::Unprocessable(format!(
                    "pipeline {id} does not exist"
                )));
            }
            id
        }
        None => default_pipeline(&mut tx, principal.tenant_id).await?,
    };
    let stage: Option<(Uuid, String)> = match req.stage_id {
        Some(id) => sqlx::query!(
            "SELECT id, key FROM pipeline_stages WHERE id = $1 AND pipeline_id = $2",
            id,
            pipeline_id
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|s| (s.id, s.key)),
        None => sqlx::query!(
            "SELECT id, key FROM pipeline_stages WHERE pipeline_id = $1 ORDER BY position LIMIT 1",
            pipeline_id
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|s| (s.id, s.key)),
    };
    let (stage_id, stage_key) = stage.ok_or_else(|| {
        ApiError::Unprocessable("the stage does not exist in this pipeline".into())
    })?;
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO deals (id, tenant_id, pipeline_id, stage_id, contact_id, title, source, status, created_by, value_minor, currency)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11, 'BRL'))",
        id,
        principal.tenant_id,
        pipeline_id,
        stage_id,
        req.contact_id,
        &title,
        source.as_deref(),
        DealStatus::of_stage(&stage_key).as_str(),
        principal.label(),
        req.value_minor,
        currency,
    )
    .execute(&mut *tx)
    .await?;
    append_outbox(
        &mut tx,
        principal.tenant_id,
        EventType::DealCreated,
        "deal",
        id,
        json!({"deal_id": id, "contact_id": req.contact_id, "stage": stage_key}),
    )
    .await?;
    let deal = fetch_deal(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(deal)))
}

/// A deal.
#[utoipa::path(get, path = "/api/v1/deals/{id}", tag = "deals", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The deal", body = Deal), (status = 404, description = "No such deal")))]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<Deal>,
) -> Result<Json<Deal>, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    Ok(Json(fetch_deal(&mut tx, id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDeal {
    pub title: Option<String>,
    /// `open`, `won` or `lost`.
    #[schema(value_type = Option<ventros_domain::DealStatus>)]
    pub status: Option<String>,
    /// What it is worth, in the currency's minor unit (centavos).
    pub value_minor: Option<i64>,
    /// ISO 4217 code.
    pub currency: Option<String>,
}

/// Renames a deal, sets its status or its value.
#[utoipa::path(patch, path = "/api/v1/deals/{id}", tag = "deals", params(("id" = Uuid, Path)), request_body = UpdateDeal,
    responses((status = 200, description = "The deal", body = Deal), (status = 404, description = "No such deal")))]
pub async fn update(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Deal>,
    ApiJson(req): ApiJson<UpdateDeal>,
) -> Result<Json<Deal>, ApiError> {
    let id = id.get();
    let title = req
        .title
        .as_deref()
        .map(|t| required_text(t, "title", 200))
        .transpose()?;
    let status = req
        .status
        .as_deref()
        .map(|s| DealStatus::parse(s).ok_or_else(|| ApiError::Unprocessable(STATUS_WORDS.into())))
        .transpose()?;
    let currency = valid_money(req.value_minor, req.currency.as_deref())?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let change = sqlx::query!(
        "UPDATE deals SET title = coalesce($2, title), status = coalesce($3, status),
                value_minor = coalesce($4, value_minor), currency = coalesce($5, currency) WHERE id = $1",
        id,
        title,
        status.map(DealStatus::as_str),
        req.value_minor,
        currency,
    );
    execute_found(&mut tx, change, || format!("deal {id}")).await?;
    if let Some(status) = status {
        append_outbox(
            &mut tx,
            principal.tenant_id,
            EventType::DealStatusChanged,
            "deal",
            id,
            json!({"deal_id": id, "status": status}),
        )
        .await?;
    }
    let deal = fetch_deal(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(deal))
}

/// Deletes a deal.
#[utoipa::path(delete, path = "/api/v1/deals/{id}", tag = "deals", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such deal")))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Deal>,
) -> Result<StatusCode, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    execute_found(
        &mut tx,
        sqlx::query!("DELETE FROM deals WHERE id = $1", id),
        || format!("deal {id}"),
    )
    .await?;
    append_outbox(
        &mut tx,
        principal.tenant_id,
        EventType::DealDeleted,
        "deal",
        id,
        json!({"deal_id": id}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveDeal {
    /// A stage of the deal's pipeline.
    pub stage_id: Uuid,
}

/// Moves a deal to another stage of its pipeline (any direction: operators correct mistakes).
#[utoipa::path(post, path = "/api/v1/deals/{id}/move", tag = "deals", params(("id" = Uuid, Path)), request_body = MoveDeal,
    responses((status = 200, description = "The deal", body = Deal), (status = 404, description = "No such deal"),
              (status = 422, description = "The stage is not in the deal's pipeline")))]
pub async fn move_stage(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Deal>,
    ApiJson(req): ApiJson<MoveDeal>,
) -> Result<Json<Deal>, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let current = sqlx::query!(
        "SELECT d.pipeline_id, d.stage_id, s.key FROM deals d JOIN pipeline_stages s ON s.id = d.stage_id
          WHERE d.id = $1 FOR UPDATE OF d",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("deal {id} not found")))?;
    let (pipeline_id, from_stage, from_key) = (current.pipeline_id, current.stage_id, current.key);
    let key = sqlx::query_scalar!(
        "SELECT key FROM pipeline_stages WHERE id = $1 AND pipeline_id = $2",
        req.stage_id,
        pipeline_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let key = key.ok_or_else(|| {
        ApiError::Unprocessable(format!(
            "stage {} is not in this deal's pipeline",
            req.stage_id
        ))
    })?;
    if from_stage != req.stage_id {
        sqlx::query!(
            "UPDATE deals SET stage_id = $2, status = $3 WHERE id = $1",
            id,
            req.stage_id,
            DealStatus::of_stage(&key).as_str(),
        )
        .execute(&mut *tx)
        .await?;
        append_outbox(
            &mut tx,
            principal.tenant_id,
            EventType::DealStageChanged,
            "deal",
            id,
            json!({"deal_id": id, "stage": key, "from_stage": from_key, "stage_id": req.stage_id, "moved_by": principal.label()}),
        )
        .await?;
    }
    let deal = fetch_deal(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(deal))
}

impl crate::ids::Resource for Deal {
    const NAME: &'static str = "deal";
}
