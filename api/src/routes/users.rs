//! The tenant's users: everyone may list them (assignment needs names); admins manage them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Transaction};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{optional_text, required_text};
use crate::AppState;
use crate::auth::{self, Actor, AsAdmin, Authorized, Principal, Role};
use crate::db::{List, execute_found, tenant_tx};
use crate::error::{ApiError, ApiJson};
use crate::ids::Id;

/// The languages the web app speaks. A user without one gets their browser's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text")]
pub enum Locale {
    #[serde(rename = "pt-BR")]
    #[sqlx(rename = "pt-BR")]
    PtBr,
    #[serde(rename = "en")]
    #[sqlx(rename = "en")]
    En,
}

impl Locale {
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::PtBr => "pt-BR",
            Locale::En => "en",
        }
    }
}

/// A user of the tenant (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// The language they chose; null follows their browser.
    #[schema(required = true)]
    pub locale: Option<Locale>,
    /// A disabled user cannot log in; their sessions ended when they were disabled.
    pub disabled: bool,
    #[schema(required = true)]
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The users with these ids, or all of the tenant's (oldest first).
async fn fetch_users(
    tx: &mut Transaction<'static, Postgres>,
    ids: Option<&[Uuid]>,
) -> Result<Vec<User>, ApiError> {
    Ok(sqlx::query_as!(
        User,
        r#"SELECT id, email, name, role AS "role: Role", locale AS "locale: Locale", disabled_at IS NOT NULL AS "disabled!",
                  last_login_at, created_at, updated_at
             FROM users WHERE $1::uuid[] IS NULL OR id = ANY($1) ORDER BY created_at"#,
        ids as Option<&[Uuid]>
    )
    .fetch_all(&mut **tx)
    .await?)
}

async fn fetch_user(tx: &mut Transaction<'static, Postgres>, id: Uuid) -> Result<User, ApiError> {
    fetch_users(tx, Some(&[id]))
        .await?
        .pop()
        .ok_or_else(|| ApiError::NotFound(format!("user {id} not found")))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    /// At least 10 characters.
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub name: Option<String>,
    pub role: Option<Role>,
    /// The language the web app speaks to them (anyone may choose their own).
    pub locale: Option<Locale>,
    pub password: Option<String>,
    /// Required to change your own password (a stolen session must not be enough).
    pub current_password: Option<String>,
    pub disabled: Option<bool>,
}

pub(crate) fn valid_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim();
    let ok = email.len() <= 320
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(ApiError::Unprocessable(
            "email must be an e-mail address".into(),
        ));
    }
    Ok(email.to_owned())
}

/// Lists the tenant's users.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", responses((status = 200, description = "Users", body = List<User>)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<List<User>>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let items = fetch_users(&mut tx, None).await?;
    Ok(Json(List { items }))
}

/// Creates a user (admin).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser,
    responses((status = 201, description = "The user", body = User), (status = 409, description = "The e-mail is taken"), (status = 403, description = "Admins only")))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    ApiJson(req): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let email = valid_email(&req.email)?;
    let name = required_text(&req.name, "name", 200)?;
    auth::validate_password(&req.password)?;
    let hash = auth::hash_password(req.password).await?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let id = auth::insert_user(
        &mut *tx,
        principal.tenant_id,
        &email,
        &name,
        req.role,
        &hash,
    )
    .await?;
    let user = fetch_user(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Changes a user's name, role, language, password or disabled state (admin; anyone may change
/// their own name, language and password).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UpdateUser, params(("id" = Uuid, Path)),
    responses((status = 200, description = "The user", body = User), (status = 404, description = "No such user")))]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<User>,
    ApiJson(req): ApiJson<UpdateUser>,
) -> Result<Json<User>, ApiError> {
    let id = id.get();
    let own = principal.actor == Actor::User(id);
    if !own || req.role.is_some() || req.disabled.is_some() {
        principal.require(Role::Admin)?;
    }
    let name = optional_text(req.name.as_deref(), "name", 200)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    if own && req.password.is_some() {
        let current = req.current_password.clone().ok_or_else(|| {
            ApiError::Unprocessable("current_password is required to change your password".into())
        })?;
        let stored = sqlx::query_scalar!("SELECT password_hash FROM users WHERE id = $1", id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("user {id} not found")))?;
        if !auth::verify_password(current, stored).await? {
            return Err(ApiError::Forbidden("current_password is wrong".into()));
        }
    }
    let hash = match req.password {
        Some(password) => {
            auth::validate_password(&password)?;
            Some(auth::hash_password(password).await?)
        }
        None => None,
    };
    let change = sqlx::query!(
        "UPDATE users SET name = coalesce($2, name), role = coalesce($3, role), password_hash = coalesce($4, password_hash),
                disabled_at = CASE WHEN $5::boolean IS NULL THEN disabled_at WHEN $5 THEN coalesce(disabled_at, now()) ELSE NULL END,
                locale = coalesce($6, locale)
          WHERE id = $1",
        id,
        name,
        req.role.map(Role::as_str),
        hash.as_deref(),
        req.disabled,
        req.locale.map(Locale::as_str),
    );
    execute_found(&mut tx, change, || format!("user {id}")).await?;
    if hash.is_some() || req.disabled == Some(true) || req.role.is_some() {
        // A new password, a disabled account or a new role ends every session.
        sqlx::query!(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
            id
        )
        .execute(&mut *tx)
        .await?;
    }
    let user = fetch_user(&mut tx, id).await?;
    tx.commit().await?;
    state.sessions.forget_all();
    Ok(Json(user))
}

/// Deletes a user (admin). Conversations they handled keep the name they were assigned under.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such user")))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    id: Id<User>,
) -> Result<StatusCode, ApiError> {
    let id = id.get();
    if principal.actor == Actor::User(id) {
        return Err(ApiError::Conflict("you cannot delete yourself".into()));
    }
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    execute_found(
        &mut tx,
        sqlx::query!("DELETE FROM users WHERE id = $1", id),
        || format!("user {id}"),
    )
    .await?;
    tx.commit().await?;
    state.sessions.forget_all();
    Ok(StatusCode::NO_CONTENT)
}

impl crate::ids::Resource for User {
    const NAME: &'static str = "user";
}
