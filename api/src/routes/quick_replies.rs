//! Quick replies: the tenant's canned answers, inserted with `/shortcut` in the composer. A body
//! may use variables (`{{contact.first_name}}`, `{{contact.name}}`, `{{agent.name}}`,
//! `{{business.name}}`); an unknown one is refused when the reply is saved, and `render` fills
//! them for one conversation, so the web app, the MCP tools and any client read the same text.

use std::sync::LazyLock;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::required_text;
use crate::AppState;
use crate::auth::{Actor, AsAgent, Authorized, Principal};
use crate::db::{List, execute_found, tenant_tx};
use crate::error::{ApiError, ApiJson};
use crate::ids::Id;

/// The variables a body may use.
pub const VARIABLES: [&str; 4] = [
    "contact.first_name",
    "contact.name",
    "agent.name",
    "business.name",
];
static VARIABLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{\{\s*([a-z_.]+)\s*\}\}").expect("the variable pattern"));
static SHORTCUT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9][a-z0-9_-]{0,31}$").expect("the shortcut pattern"));

/// A quick reply.
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct QuickReply {
    pub id: Uuid,
    /// What follows `/` in the composer: lowercase letters, digits, `-` and `_`.
    pub shortcut: String,
    pub title: String,
    /// The text, with variables such as `{{contact.first_name}}`.
    pub body: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl crate::ids::Resource for QuickReply {
    const NAME: &'static str = "quick reply";
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveQuickReply {
    pub shortcut: String,
    /// 1 to 100 characters.
    pub title: String,
    /// 1 to 4096 characters; variables: `{{contact.first_name}}`, `{{contact.name}}`,
    /// `{{agent.name}}`, `{{business.name}}`.
    pub body: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateQuickReply {
    pub shortcut: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
}

fn check_shortcut(shortcut: &str) -> Result<String, ApiError> {
    let shortcut = shortcut.trim().trim_start_matches('/').to_lowercase();
    if !SHORTCUT.is_match(&shortcut) {
        return Err(ApiError::Unprocessable(
            "shortcut must be 1 to 32 lowercase letters, digits, - or _ (starting with a letter or digit)".into(),
        ));
    }
    Ok(shortcut)
}

fn check_body(body: &str) -> Result<String, ApiError> {
    let body = required_text(body, "body", 4096)?;
    let unknown: Vec<&str> = VARIABLE
        .captures_iter(&body)
        .filter_map(|c| c.get(1).map(|m| m.as_str()))
        .filter(|v| !VARIABLES.contains(v))
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::Unprocessable(format!(
            "unknown variable(s) {}: use {}",
            unknown.join(", "),
            VARIABLES.map(|v| format!("{{{{{v}}}}}")).join(", ")
        )));
    }
    Ok(body)
}

fn conflict(err: sqlx::Error, shortcut: &str) -> ApiError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            ApiError::Conflict(format!("the shortcut /{shortcut} is taken"))
        }
        _ => err.into(),
    }
}

/// The tenant's quick replies, by shortcut.
#[utoipa::path(get, path = "/api/v1/quick-replies", tag = "quick-replies",
    responses((status = 200, description = "Every quick reply", body = List<QuickReply>)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<List<QuickReply>>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let items = sqlx::query_as!(
        QuickReply,
        "SELECT id, shortcut, title, body, created_by, created_at, updated_at FROM quick_replies ORDER BY shortcut"
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(Json(List { items }))
}

/// Saves a quick reply.
#[utoipa::path(post, path = "/api/v1/quick-replies", tag = "quick-replies", request_body = SaveQuickReply,
    responses((status = 201, description = "The quick reply", body = QuickReply), (status = 409, description = "The shortcut is taken"),
              (status = 422, description = "A bad shortcut, title or body, or an unknown variable")))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    ApiJson(req): ApiJson<SaveQuickReply>,
) -> Result<(StatusCode, Json<QuickReply>), ApiError> {
    let shortcut = check_shortcut(&req.shortcut)?;
    let title = required_text(&req.title, "title", 100)?;
    let body = check_body(&req.body)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let saved = sqlx::query_as!(
        QuickReply,
        "INSERT INTO quick_replies (id, tenant_id, shortcut, title, body, created_by) VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, shortcut, title, body, created_by, created_at, updated_at",
        Uuid::now_v7(),
        principal.tenant_id,
        &shortcut,
        title,
        body,
        principal.label(),
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| conflict(e, &shortcut))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

/// Changes a quick reply's shortcut, title or body.
#[utoipa::path(patch, path = "/api/v1/quick-replies/{id}", tag = "quick-replies", params(("id" = Uuid, Path)), request_body = UpdateQuickReply,
    responses((status = 200, description = "The quick reply", body = QuickReply), (status = 404, description = "No such quick reply"),
              (status = 409, description = "The shortcut is taken"), (status = 422, description = "A bad value")))]
pub async fn update(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<QuickReply>,
    ApiJson(req): ApiJson<UpdateQuickReply>,
) -> Result<Json<QuickReply>, ApiError> {
    let id = id.get();
    let shortcut = req.shortcut.as_deref().map(check_shortcut).transpose()?;
    let title = req
        .title
        .as_deref()
        .map(|t| required_text(t, "title", 100))
        .transpose()?;
    let body = req.body.as_deref().map(check_body).transpose()?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let saved = sqlx::query_as!(
        QuickReply,
        "UPDATE quick_replies SET shortcut = coalesce($2, shortcut), title = coalesce($3, title), body = coalesce($4, body)
          WHERE id = $1 RETURNING id, shortcut, title, body, created_by, created_at, updated_at",
        id,
        shortcut,
        title,
        body,
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| conflict(e, shortcut.as_deref().unwrap_or_default()))?
    .ok_or_else(|| ApiError::NotFound(format!("quick reply {id} not found")))?;
    tx.commit().await?;
    Ok(Json(saved))
}

/// Deletes a quick reply.
#[utoipa::path(delete, path = "/api/v1/quick-replies/{id}", tag = "quick-replies", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such quick reply")))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<QuickReply>,
) -> Result<StatusCode, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    execute_found(
        &mut tx,
        sqlx::query!("DELETE FROM quick_replies WHERE id = $1", id),
        || format!("quick reply {id}"),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderRequest {
    /// The conversation whose contact fills the variables.
    pub conversation_id: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Rendered {
    pub text: String,
}

/// The quick reply's text for one conversation, its variables filled (an empty value where the
/// contact has no name). Nothing is sent.
#[utoipa::path(post, path = "/api/v1/quick-replies/{id}/render", tag = "quick-replies", params(("id" = Uuid, Path)), request_body = RenderRequest,
    responses((status = 200, description = "The text", body = Rendered), (status = 404, description = "No such quick reply"),
              (status = 422, description = "No such conversation")))]
pub async fn render(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<QuickReply>,
    ApiJson(req): ApiJson<RenderRequest>,
) -> Result<Json<Rendered>, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let body = sqlx::query_scalar!("SELECT body FROM quick_replies WHERE id = $1", id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("quick reply {id} not found")))?;
    let names = sqlx::query!(
        r#"SELECT c.display_name, t.name AS "business!" FROM conversation_sessions s
             JOIN contacts c ON c.id = s.contact_id JOIN tenants t ON t.id = s.tenant_id WHERE s.id = $1"#,
        req.conversation_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| {
        ApiError::Unprocessable(format!("conversation {} does not exist", req.conversation_id))
    })?;
    let agent = match principal.actor {
        Actor::User(user) => sqlx::query_scalar!("SELECT name FROM users WHERE id = $1", user)
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or_default(),
        Actor::ApiKey(_) => String::new(),
    };
    let name = names.display_name.unwrap_or_default();
    let first = name
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    let text = VARIABLE.replace_all(&body, |c: &regex::Captures<'_>| match &c[1] {
        "contact.first_name" => first.clone(),
        "contact.name" => name.clone(),
        "agent.name" => agent.clone(),
        "business.name" => names.business.clone(),
        _ => c[0].to_owned(),
    });
    Ok(Json(Rendered {
        text: text.into_owned(),
    }))
}
