//! Logging in and out: e-mail and password for a 15-minute access token and a rotating refresh
//! token; `GET /api/v1/me` says who a credential belongs to.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{self, Actor, Principal};
use crate::error::{ApiError, ApiJson};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "ana@example.com")]
    pub email: String,
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Exchanges e-mail and password for tokens.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest, security(()),
    responses((status = 200, description = "Access and refresh tokens", body = Value), (status = 401, description = "Wrong e-mail or password"),
              (status = 429, description = "Too many attempts for this e-mail")))]
pub async fn login(State(state): State<AppState>, ApiJson(req): ApiJson<LoginRequest>) -> Result<Json<Value>, ApiError> {
    if req.email.len() > 320 || req.password.len() > 1024 {
        return Err(ApiError::Unauthorized("wrong e-mail or password".into()));
    }
    state.login_limiter.check(&format!("login:{}", req.email.trim().to_lowercase())).map_err(ApiError::TooManyRequests)?;
    let pair = auth::login(&state, req.email.trim(), &req.password).await?;
    Ok(Json(json!(pair)))
}

/// Trades a refresh token for a new access token and refresh token (the old one stops working).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest, security(()),
    responses((status = 200, description = "New tokens", body = Value), (status = 401, description = "Invalid, used or expired refresh token")))]
pub async fn refresh(State(state): State<AppState>, ApiJson(req): ApiJson<RefreshRequest>) -> Result<Json<Value>, ApiError> {
    if req.refresh_token.len() > 200 {
        return Err(ApiError::Unauthorized("the refresh token is invalid or expired; log in again".into()));
    }
    state.login_limiter.check(&format!("refresh:{}", &req.refresh_token.chars().take(16).collect::<String>())).map_err(ApiError::TooManyRequests)?;
    Ok(Json(json!(auth::refresh(&state, &req.refresh_token).await?)))
}

/// Revokes the refresh token and every token rotated from the same login.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest, security(()),
    responses((status = 204, description = "Logged out")))]
pub async fn logout(State(state): State<AppState>, ApiJson(req): ApiJson<RefreshRequest>) -> Result<StatusCode, ApiError> {
    if req.refresh_token.len() <= 200 {
        auth::logout(&state, &req.refresh_token).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The caller: tenant, role, and the user or API key behind the credential.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", responses((status = 200, description = "The caller", body = Value)))]
pub async fn me(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    let mut tx = crate::db::tenant_tx(&state.pool, principal.tenant_id).await?;
    let tenant: Value = sqlx::query_scalar("SELECT jsonb_build_object('id', id, 'name', name) FROM tenants").fetch_one(&mut *tx).await?;
    let who: Option<Value> = match principal.actor {
        Actor::User(id) => sqlx::query_scalar("SELECT jsonb_build_object('kind', 'user', 'id', id, 'email', email, 'name', name) FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?,
        Actor::ApiKey(id) => sqlx::query_scalar("SELECT jsonb_build_object('kind', 'api_key', 'id', id, 'name', name, 'prefix', prefix) FROM api_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?,
    };
    Ok(Json(json!({"tenant": tenant, "role": principal.role, "actor": who})))
}
