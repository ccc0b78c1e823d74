//! Pipelines and their ordered stages. Everyone reads; admins shape them. A pipeline or stage that
//! still holds deals cannot be deleted (the deals would lose their place).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Transaction};
use utoipa::ToSchema;
use uuid::Uuid;

use super::required_text;
use crate::AppState;
use crate::auth::{AsAdmin, Authorized, Principal};
use crate::db::{List, tenant_tx};
use crate::error::{ApiError, ApiJson};
use crate::ids::{Id, IdPair};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageInput {
    /// Stable machine name (`qualified`); `won` and `lost` close the deals that reach them.
    pub key: String,
    pub name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePipeline {
    pub name: String,
    /// In order. Defaults to new, qualified, proposal, won, lost.
    #[serde(default)]
    pub stages: Vec<StageInput>,
    #[serde(default)]
    pub is_default: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePipeline {
    pub name: Option<String>,
    /// Make this the tenant's default pipeline (where agents create leads).
    pub is_default: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStage {
    pub name: Option<String>,
    /// New 0-based position; the other stages shift.
    pub position: Option<i32>,
}

fn valid_key(key: &str) -> Result<String, ApiError> {
    let key = key.trim();
    if key.is_empty()
        || key.len() > 40
        || !key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(ApiError::Unprocessable(
            "stage key must be 1 to 40 of a-z, 0-9 and _".into(),
        ));
    }
    Ok(key.to_owned())
}

/// A pipeline and its stages in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pipeline {
    pub id: Uuid,
    pub name: String,
    /// Where agents create leads; one per tenant.
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub stages: Vec<Stage>,
}

/// A stage of a pipeline, with the number of open deals in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stage {
    pub id: Uuid,
    pub key: String,
    pub name: String,
    /// 0-based.
    pub position: i32,
    pub open_deals: i64,
}

struct PipelineRow {
    id: Uuid,
    name: String,
    is_default: bool,
    created_at: DateTime<Utc>,
}

/// The pipelines with these ids (all of the tenant's when `ids` is None), default first, each with
/// its stages.
async fn fetch_pipelines(
    tx: &mut Transaction<'static, Postgres>,
    ids: Option<&[Uuid]>,
) -> Result<Vec<Pipeline>, ApiError> {
    let rows = sqlx::query_as!(
        PipelineRow,
        "SELECT id, name, is_default, created_at FROM pipelines
          WHERE $1::uuid[] IS NULL OR id = ANY($1)
          ORDER BY is_default DESC, created_at",
        ids as Option<&[Uuid]>
    )
    .fetch_all(&mut **tx)
    .await?;
    let pipeline_ids: Vec<Uuid> = rows.iter().map(|p| p.id).collect();
    let stages = sqlx::query!(
        r#"SELECT s.pipeline_id, s.id, s.key, s.name, s.position,
                  (SELECT count(*) FROM deals d WHERE d.stage_id = s.id AND d.status = 'open') AS "open_deals!"
             FROM pipeline_stages s WHERE s.pipeline_id = ANY($1) ORDER BY s.position"#,
        &pipeline_ids
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|p| Pipeline {
            stages: stages
                .iter()
                .filter(|s| s.pipeline_id == p.id)
                .map(|s| Stage {
                    id: s.id,
                    key: s.key.clone(),
                    name: s.name.clone(),
                    position: s.position,
                    open_deals: s.open_deals,
                })
                .collect(),
            id: p.id,
            name: p.name,
            is_default: p.is_default,
            created_at: p.created_at,
        })
        .collect())
}

async fn fetch_pipeline(
    tx: &mut Transaction<'static, Postgres>,
    id: Uuid,
) -> Result<Pipeline, ApiError> {
    fetch_pipelines(tx, Some(&[id]))
        .await?
        .pop()
        .ok_or_else(|| ApiError::NotFound(format!("pipeline {id} not found")))
}

/// Lists pipelines with their stages.
#[utoipa::path(get, path = "/api/v1/pipelines", tag = "pipelines", responses((status = 200, description = "Pipelines", body = List<Pipeline>)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<List<Pipeline>>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let items = fetch_pipelines(&mut tx, None).await?;
    Ok(Json(List { items }))
}

/// Creates a pipeline (admin).
#[utoipa::path(post, path = "/api/v1/pipelines", tag = "pipelines", request_body = CreatePipeline,
    responses((status = 201, description = "The pipeline", body = Pipeline), (status = 409, description = "The name is taken")))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    ApiJson(req): ApiJson<CreatePipeline>,
) -> Result<(StatusCode, Json<Pipeline>), ApiError> {
    let name = required_text(&req.name, "name", 200)?;
    let stages: Vec<(String, String)> = if req.stages.is_empty() {
        [
            ("new", "New"),
            ("qualified", "Qualified"),
            ("proposal", "Proposal"),
            ("won", "Won"),
            ("lost", "Lost"),
        ]
        .iter()
        .map(|(k, n)| (k.to_string(), n.to_string()))
        .collect()
    } else {
        req.stages
            .iter()
            .map(|s| {
                Ok((
                    valid_key(&s.key)?,
                    required_text(&s.name, "stage name", 200)?,
                ))
            })
            .collect::<Result<_, ApiError>>()?
    };
    if stages.len() > 30 {
        return Err(ApiError::Unprocessable("at most 30 stages".into()));
    }
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let id = Uuid::now_v7();
    if req.is_default {
        sqlx::query!("UPDATE pipelines SET is_default = false WHERE is_default")
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query!(
        "INSERT INTO pipelines (id, tenant_id, name, is_default) VALUES ($1, $2, $3, $4)",
        id,
        principal.tenant_id,
        &name,
        req.is_default
    )
    .execute(&mut *tx)
    .await?;
    for (position, (key, stage_name)) in stages.iter().enumerate() {
        sqlx::query!("INSERT INTO pipeline_stages (id, tenant_id, pipeline_id, key, name, position) VALUES ($1, $2, $3, $4, $5, $6)", Uuid::now_v7(), principal.tenant_id, id, key, stage_name, position as i32)
            .execute(&mut *tx)
            .await?;
    }
    let pipeline = fetch_pipeline(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(pipeline)))
}

/// A pipeline with its stages.
#[utoipa::path(get, path = "/api/v1/pipelines/{id}", tag = "pipelines", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The pipeline", body = Pipeline), (status = 404, description = "No such pipeline")))]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<Pipeline>,
) -> Result<Json<Pipeline>, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    Ok(Json(fetch_pipeline(&mut tx, id).await?))
}

/// Renames a pipeline or makes it the default (admin).
#[utoipa::path(patch, path = "/api/v1/pipelines/{id}", tag = "pipelines", params(("id" = Uuid, Path)), request_body = UpdatePipeline,
    responses((status = 200, description = "The pipeline", body = Pipeline), (status = 404, description = "No such pipeline")))]
pub async fn update(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    id: Id<Pipeline>,
    ApiJson(req): ApiJson<UpdatePipeline>,
) -> Result<Json<Pipeline>, ApiError> {
    let id = id.get();
    let name = req
        .name
        .as_deref()
        .map(|n| required_text(n, "name", 200))
        .transpose()?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    fetch_pipeline(&mut tx, id).await?;
    if req.is_default == Some(true) {
        sqlx::query!(
            "UPDATE pipelines SET is_default = false WHERE is_default AND id <> $1",
            id
        )
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query!("UPDATE pipelines SET name = coalesce($2, name), is_default = coalesce($3, is_default) WHERE id = $1", id, name, req.is_default)
        .execute(&mut *tx)
        .await?;
    let pipeline = fetch_pipeline(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(pipeline))
}

/// Deletes a pipeline without deals (admin).
#[utoipa::path(delete, path = "/api/v1/pipelines/{id}", tag = "pipelines", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such pipeline"), (status = 409, description = "The pipeline has deals")))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    id: Id<Pipeline>,
) -> Result<StatusCode, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    fetch_pipeline(&mut tx, id).await?;
    let has_deals: bool = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM deals WHERE pipeline_id = $1) AS "exists!""#,
        id
    )
    .fetch_one(&mut *tx)
    .await?;
    if has_deals {
        return Err(ApiError::Conflict(
            "the pipeline has deals; move or delete them first".into(),
        ));
    }
    sqlx::query!("DELETE FROM pipelines WHERE id = $1", id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds a stage at the end of a pipeline (admin).
#[utoipa::path(post, path = "/api/v1/pipelines/{id}/stages", tag = "pipelines", params(("id" = Uuid, Path)), request_body = StageInput,
    responses((status = 201, description = "The pipeline", body = Pipeline), (status = 409, description = "The key is taken")))]
pub async fn add_stage(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    id: Id<Pipeline>,
    ApiJson(req): ApiJson<StageInput>,
) -> Result<(StatusCode, Json<Pipeline>), ApiError> {
    let id = id.get();
    let (key, name) = (valid_key(&req.key)?, required_text(&req.name, "name", 200)?);
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    fetch_pipeline(&mut tx, id).await?;
    // Locks the pipeline: concurrent stage changes take their positions one after the other.
    sqlx::query_scalar!("SELECT id FROM pipelines WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut *tx)
        .await?;
    sqlx::query!("INSERT INTO pipeline_stages (id, tenant_id, pipeline_id, key, name, position)
         SELECT $1, $2, $3, $4, $5, coalesce(max(position) + 1, 0) FROM pipeline_stages WHERE pipeline_id = $3", Uuid::now_v7(), principal.tenant_id, id, &key, &name)
    .execute(&mut *tx)
    .await?;
    let pipeline = fetch_pipeline(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(pipeline)))
}

/// Renames or moves a stage (admin).
#[utoipa::path(patch, path = "/api/v1/pipelines/{id}/stages/{stage_id}", tag = "pipelines", params(("id" = Uuid, Path), ("stage_id" = Uuid, Path)),
    request_body = UpdateStage, responses((status = 200, description = "The pipeline", body = Pipeline), (status = 404, description = "No such stage")))]
pub async fn update_stage(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    ids: IdPair<Pipeline, Stage>,
    ApiJson(req): ApiJson<UpdateStage>,
) -> Result<Json<Pipeline>, ApiError> {
    let (id, stage_id) = ids.get();
    let name = req
        .name
        .as_deref()
        .map(|n| required_text(n, "name", 200))
        .transpose()?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    // Locks the pipeline: concurrent stage changes take their positions one after the other.
    sqlx::query_scalar!("SELECT id FROM pipelines WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut *tx)
        .await?;
    let mut order: Vec<Uuid> = sqlx::query_scalar!(
        "SELECT id FROM pipeline_stages WHERE pipeline_id = $1 ORDER BY position",
        id
    )
    .fetch_all(&mut *tx)
    .await?;
    let at = order.iter().position(|s| *s == stage_id).ok_or_else(|| {
        ApiError::NotFound(format!("stage {stage_id} not found in pipeline {id}"))
    })?;
    if let Some(name) = name {
        sqlx::query!(
            "UPDATE pipeline_stages SET name = $2 WHERE id = $1",
            stage_id,
            name
        )
        .execute(&mut *tx)
        .await?;
    }
    if let Some(position) = req.position {
        if position < 0 || position as usize >= order.len() {
            return Err(ApiError::Unprocessable(format!(
                "position must be 0 to {}",
                order.len() - 1
            )));
        }
        order.remove(at);
        order.insert(position as usize, stage_id);
        // Two passes: positions are unique per pipeline at every moment.
        sqlx::query!(
            "UPDATE pipeline_stages SET position = -position - 1 WHERE pipeline_id = $1",
            id
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!("UPDATE pipeline_stages s SET position = o.ordinality - 1 FROM unnest($2::uuid[]) WITH ORDINALITY o(id, ordinality) WHERE s.id = o.id AND s.pipeline_id = $1", id, &order)
            .execute(&mut *tx)
            .await?;
    }
    let pipeline = fetch_pipeline(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(pipeline))
}

/// Deletes a stage without deals (admin).
#[utoipa::path(delete, path = "/api/v1/pipelines/{id}/stages/{stage_id}", tag = "pipelines", params(("id" = Uuid, Path), ("stage_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such stage"), (status = 409, description = "The stage has deals")))]
pub async fn delete_stage(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    ids: IdPair<Pipeline, Stage>,
) -> Result<StatusCode, ApiError> {
    let (id, stage_id) = ids.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let has_deals: Option<bool> = sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM deals d WHERE d.stage_id = s.id) AS "exists!" FROM pipeline_stages s WHERE s.id = $1 AND s.pipeline_id = $2"#, stage_id, id)
        .fetch_optional(&mut *tx)
        .await?;
    match has_deals {
        None => {
            return Err(ApiError::NotFound(format!(
                "stage {stage_id} not found in pipeline {id}"
            )));
        }
        Some(true) => {
            return Err(ApiError::Conflict(
                "the stage has deals; move them first".into(),
            ));
        }
        Some(false) => {}
    }
    sqlx::query!("DELETE FROM pipeline_stages WHERE id = $1", stage_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

impl crate::ids::Resource for Pipeline {
    const NAME: &'static str = "pipeline";
}

impl crate::ids::Resource for Stage {
    const NAME: &'static str = "stage";
}
