//! Segments: saved contact filters (what campaigns target), with a preview (how many contacts and
//! a sample) that uses the same SQL the worker resolves them with.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;
use ventros_activities::segments::{SegmentFilter, preview};

use super::{optional_text, required_text};
use crate::AppState;
use crate::auth::{AsAgent, Authorized, Principal};
use crate::db::{List, execute_found, tenant_tx};
use crate::error::{ApiError, ApiJson};
use crate::ids::Id;

const SAMPLE: i64 = 10;

/// A saved contact filter.
#[derive(Debug, Serialize, ToSchema)]
pub struct Segment {
    pub id: Uuid,
    pub name: String,
    #[schema(required = true)]
    pub description: Option<String>,
    /// The filter as saved (see `CreateSegment.filter`).
    #[schema(value_type = Object)]
    pub filter: Value,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl crate::ids::Resource for Segment {
    const NAME: &'static str = "segment";
}

/// How many contacts a filter selects now, and a few of them.
#[derive(Debug, Serialize, ToSchema)]
pub struct FilterPreview {
    pub count: i64,
    #[schema(value_type = Vec<Object>)]
    pub sample: Vec<Value>,
}

/// A segment with its current count and a sample.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewedSegment {
    #[serde(flatten)]
    pub segment: Segment,
    #[serde(flatten)]
    pub preview: FilterPreview,
}

async fn fetch_segment(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<Segment, ApiError> {
    sqlx::query_as!(
        Segment,
        "SELECT id, name, description, filter, created_by, created_at, updated_at FROM segments WHERE id = $1",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("segment {id} not found")))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSegment {
    pub name: String,
    pub description: Option<String>,
    /// `tags_all`, `tags_any`, `tags_none`, `attributes` ({key: value}), `pipeline_stage_ids`,
    /// `last_activity_after`, `last_activity_before` (RFC 3339), `channel_id`, `include_opted_out`.
    #[schema(value_type = Object)]
    pub filter: SegmentFilter,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSegment {
    pub name: Option<String>,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub filter: Option<SegmentFilter>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    #[schema(value_type = Object)]
    pub filter: SegmentFilter,
}

/// Checks a filter, including that the channel and stages it names are the caller's.
async fn checked(tx: &mut sqlx::PgConnection, filter: &SegmentFilter) -> Result<(), ApiError> {
    filter.validate().map_err(ApiError::Unprocessable)?;
    if let Some(channel_id) = filter.channel_id {
        let exists = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM channels WHERE id = $1) AS "exists!""#,
            channel_id
        )
        .fetch_one(&mut *tx)
        .await?;
        if !exists {
            return Err(ApiError::Unprocessable(format!(
                "channel {channel_id} does not exist"
            )));
        }
    }
    if !filter.pipeline_stage_ids.is_empty() {
        let known = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM pipeline_stages WHERE id = ANY($1)"#,
            &filter.pipeline_stage_ids
        )
        .fetch_one(&mut *tx)
        .await?;
        if usize::try_from(known).unwrap_or(usize::MAX)
            != filter
                .pipeline_stage_ids
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len()
        {
            return Err(ApiError::Unprocessable(
                "a pipeline stage in the filter does not exist".into(),
            ));
        }
    }
    Ok(())
}

async fn with_preview(
    tx: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    segment: Segment,
) -> Result<PreviewedSegment, ApiError> {
    let filter: SegmentFilter =
        serde_json::from_value(segment.filter.clone()).map_err(|e| ApiError::Internal(e.into()))?;
    let (count, sample) = preview(tx, tenant_id, &filter, SAMPLE).await?;
    Ok(PreviewedSegment {
        segment,
        preview: FilterPreview { count, sample },
    })
}

/// Lists segments.
#[utoipa::path(get, path = "/api/v1/segments", tag = "segments", responses((status = 200, description = "Segments", body = List<Segment>)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<List<Segment>>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let items = sqlx::query_as!(
        Segment,
        "SELECT id, name, description, filter, created_by, created_at, updated_at FROM segments ORDER BY created_at"
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(Json(List { items }))
}

/// Previews a filter without saving it: how many contacts it selects, and a sample.
#[utoipa::path(post, path = "/api/v1/segments/preview", tag = "segments", request_body = PreviewRequest,
    responses((status = 200, description = "Count and sample", body = FilterPreview), (status = 422, description = "Invalid filter")))]
pub async fn preview_filter(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<PreviewRequest>,
) -> Result<Json<FilterPreview>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    checked(&mut tx, &req.filter).await?;
    let (count, sample) = preview(&mut tx, principal.tenant_id, &req.filter, SAMPLE).await?;
    Ok(Json(FilterPreview { count, sample }))
}

/// Saves a segment.
#[utoipa::path(post, path = "/api/v1/segments", tag = "segments", request_body = CreateSegment,
    responses((status = 201, description = "The segment with its count and a sample", body = PreviewedSegment), (status = 409, description = "The name is taken"),
              (status = 422, description = "Invalid filter")))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    ApiJson(req): ApiJson<CreateSegment>,
) -> Result<(StatusCode, Json<PreviewedSegment>), ApiError> {
    let name = required_text(&req.name, "name", 200)?;
    let description = optional_text(req.description.as_deref(), "description", 1000)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    checked(&mut tx, &req.filter).await?;
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO segments (id, tenant_id, name, description, filter, created_by) VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        principal.tenant_id,
        name,
        description,
        serde_json::to_value(&req.filter).map_err(|e| ApiError::Internal(e.into()))?,
        principal.label(),
    )
    .execute(&mut *tx)
    .await?;
    let segment = fetch_segment(&mut tx, id).await?;
    let segment = with_preview(&mut tx, principal.tenant_id, segment).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(segment)))
}

/// A segment with its current count and a sample.
#[utoipa::path(get, path = "/api/v1/segments/{id}", tag = "segments", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The segment", body = PreviewedSegment), (status = 404, description = "No such segment")))]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<Segment>,
) -> Result<Json<PreviewedSegment>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let segment = fetch_segment(&mut tx, id.get()).await?;
    Ok(Json(
        with_preview(&mut tx, principal.tenant_id, segment).await?,
    ))
}

/// Renames a segment or changes its filter.
#[utoipa::path(patch, path = "/api/v1/segments/{id}", tag = "segments", params(("id" = Uuid, Path)), request_body = UpdateSegment,
    responses((status = 200, description = "The segment", body = PreviewedSegment), (status = 404, description = "No such segment")))]
pub async fn update(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Segment>,
    ApiJson(req): ApiJson<UpdateSegment>,
) -> Result<Json<PreviewedSegment>, ApiError> {
    let id = id.get();
    let name = optional_text(req.name.as_deref(), "name", 200)?;
    let description = optional_text(req.description.as_deref(), "description", 1000)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    if let Some(filter) = &req.filter {
        checked(&mut tx, filter).await?;
    }
    let filter = req
        .filter
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| ApiError::Internal(e.into()))?;
    let change = sqlx::query!(
        "UPDATE segments SET name = coalesce($2, name), description = coalesce($3, description), filter = coalesce($4, filter) WHERE id = $1",
        id,
        name,
        description,
        filter,
    );
    execute_found(&mut tx, change, || format!("segment {id}")).await?;
    let segment = fetch_segment(&mut tx, id).await?;
    let segment = with_preview(&mut tx, principal.tenant_id, segment).await?;
    tx.commit().await?;
    Ok(Json(segment))
}

/// Deletes a segment.
#[utoipa::path(delete, path = "/api/v1/segments/{id}", tag = "segments", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such segment")))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Segment>,
) -> Result<StatusCode, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    execute_found(
        &mut tx,
        sqlx::query!("DELETE FROM segments WHERE id = $1", id),
        || format!("segment {id}"),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
