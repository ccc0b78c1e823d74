//! Who is calling, and what they may do.
//!
//! Two kinds of credentials, both as `Authorization: Bearer …`:
//! - API keys, `vtr_<prefix>_<secret>`, for integrations ([`keys`]): stored as SHA-256, found by
//!   the public prefix, compared in constant time, revocable, with a role and a last-used time.
//! - Access tokens for users (the web app, [`tokens`]): HS256 JWTs valid for 15 minutes, issued
//!   by `POST /api/v1/auth/login` (Argon2id password check, [`passwords`]) and renewed with a
//!   rotating refresh token ([`sessions`]).
//!
//! Either way the result is a [`Principal`]: one tenant and one role. Every request is also
//! counted against the principal's rate limit ([`limits`]).

pub mod keys;
pub mod limits;
pub mod passwords;
pub mod sessions;
pub mod tokens;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use uuid::Uuid;

pub use keys::{
    KeyUsage, NewApiKey, create_api_key, create_tenant, insert_api_key, random_alnum, sha256,
};
pub use limits::RateLimiter;
pub use passwords::{hash_password, insert_user, validate_password, verify_password};
pub use sessions::{
    REFRESH_TOKEN_TTL, SESSION_CHECK_TTL, SessionCache, TokenPair, login, logout, refresh,
};
pub use tokens::{ACCESS_TOKEN_TTL, TokenKeys};

use crate::{AppState, error::ApiError};

/// Roles, weakest first: a viewer reads; an agent also works conversations, contacts and deals; an
/// admin also manages channels, pipelines, users, API keys and webhooks.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    sqlx::Type,
)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Agent,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Agent => "agent",
            Role::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        match value {
            "viewer" => Some(Role::Viewer),
            "agent" => Some(Role::Agent),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    ApiKey(Uuid),
    User(Uuid),
}

/// The authenticated caller. Every database access it makes runs with its tenant set for RLS.
#[derive(Debug, Clone, Copy)]
pub struct Principal {
    pub tenant_id: Uuid,
    pub role: Role,
    pub actor: Actor,
}

impl Principal {
    /// 403 unless the caller's role is at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the {} role; yours is {}",
                role.as_str(),
                self.role.as_str()
            )))
        }
    }

    /// How the caller is named in records (`user:<id>` or `api_key:<id>`).
    pub fn label(&self) -> String {
        match self.actor {
            Actor::ApiKey(id) => format!("api_key:{id}"),
            Actor::User(id) => format!("user:{id}"),
        }
    }

    fn limiter_key(&self) -> Uuid {
        match self.actor {
            Actor::ApiKey(id) | Actor::User(id) => id,
        }
    }
}

/// Authenticates a bearer credential (API key or access token).
pub async fn authenticate(state: &AppState, credential: &str) -> Result<Principal, ApiError> {
    let unauthorized = || {
        ApiError::Unauthorized(
            "a valid API key or access token is required: Authorization: Bearer …".into(),
        )
    };
    let principal = if let Some(rest) = credential.strip_prefix("vtr_") {
        let (prefix, _) = rest.split_once('_').ok_or_else(unauthorized)?;
        // A SECURITY DEFINER lookup (the key's tenant is not known yet); its columns are the
        // table's NOT NULL ones, hence the `!`.
        let row = sqlx::query!(
            r#"SELECT id AS "id!", tenant_id AS "tenant_id!", key_sha256 AS "key_sha256!", role AS "role!", revoked_at
                 FROM ventros_api_key_by_prefix($1)"#,
            prefix,
        )
        .fetch_optional(&state.pool)
        .await?;
        let Some(key) = row else {
            return Err(unauthorized());
        };
        if key.revoked_at.is_some() || !bool::from(key.key_sha256.ct_eq(&sha256(credential))) {
            return Err(unauthorized());
        }
        let principal = Principal {
            tenant_id: key.tenant_id,
            role: Role::parse(&key.role).ok_or_else(unauthorized)?,
            actor: Actor::ApiKey(key.id),
        };
        state.key_usage.touch(&state.pool, principal).await;
        principal
    } else {
        let (principal, session_id) = state
            .config
            .tokens
            .verify(credential)
            .ok_or_else(unauthorized)?;
        // The signature says who the user was; the session says whether they still are: logged
        // out, disabled, demoted or with a new password, the token stops working.
        let Actor::User(user_id) = principal.actor else {
            return Err(unauthorized());
        };
        let role = state
            .sessions
            .role(&state.pool, principal.tenant_id, user_id, session_id)
            .await?
            .ok_or_else(unauthorized)?;
        Principal { role, ..principal }
    };
    tracing::Span::current().record("tenant.id", tracing::field::display(principal.tenant_id));
    state
        .limiter
        .check(&principal.limiter_key().to_string())
        .map_err(ApiError::TooManyRequests)?;
    Ok(principal)
}

/// A principal with at least the role `MIN` (see [`AsAgent`], [`AsAdmin`]). As an extractor it
/// runs before the body is read, so an unprivileged caller gets 403 whatever it sent.
#[derive(Debug, Clone, Copy)]
pub struct Authorized<const MIN: u8>(pub Principal);

/// Works conversations, contacts and deals.
pub type AsAgent = Authorized<1>;
/// Administers the tenant.
pub type AsAdmin = Authorized<2>;

impl<const MIN: u8> FromRequestParts<AppState> for Authorized<MIN> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        principal.require(if MIN >= 2 { Role::Admin } else { Role::Agent })?;
        Ok(Authorized(principal))
    }
}

/// The bearer credential of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let credential = bearer(parts).ok_or_else(|| {
            ApiError::Unauthorized(
                "a valid API key or access token is required: Authorization: Bearer …".into(),
            )
        })?;
        authenticate(state, credential).await
    }
}
