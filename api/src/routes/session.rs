//! Logging in and out: e-mail and password for a 15-minute access token and a rotating refresh
//! token; `GET /api/v1/me` says who a credential belongs to.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{self, Actor, Principal, TokenPair};
use crate::error::{ApiError, ApiJson};
use crate::routes::users::Locale;

/// The cookie the web app's refresh token lives in: out of reach of scripts (`HttpOnly`), sent
/// only to the auth routes and only from our own pages.
pub const REFRESH_COOKIE: &str = "ventros_refresh";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "ana@example.com")]
    pub email: String,
    pub password: String,
    /// Which account, when the same e-mail and password open accounts in several tenants.
    #[serde(default)]
    pub tenant_id: Option<Uuid>,
    /// Browsers: put the refresh token in an `HttpOnly` cookie instead of the body.
    #[serde(default)]
    pub refresh_cookie: bool,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// Omitted by browsers, whose refresh token is in the `ventros_refresh` cookie.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// The client's address: the peer, or what a trusted proxy says in `X-Forwarded-For`.
pub struct ClientAddress(pub String);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let trusted = |ip: &IpAddr| state.config.trusted_proxies.contains(ip);
        let client = match peer {
            Some(peer) if trusted(&peer) => {
                // The right-most address that is not one of our proxies is the client.
                let forwarded = parts
                    .headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect::<Vec<_>>()
                    .join(",");
                forwarded
                    .split(',')
                    .rev()
                    .filter_map(|a| a.trim().parse::<IpAddr>().ok())
                    .find(|ip| !trusted(ip))
                    .unwrap_or(peer)
            }
            Some(peer) => peer,
            None => return Ok(ClientAddress("unknown".into())),
        };
        Ok(ClientAddress(client.to_string()))
    }
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn refresh_cookie(token: &str, max_age: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("{REFRESH_COOKIE}={token}; Path=/api/v1/auth; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}"))
        .expect("a refresh token is a valid cookie value")
}

/// What a login or a refresh answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tokens {
    /// A bearer token for `Authorization`, valid `expires_in` seconds.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    pub expires_in: u64,
    /// For `POST /auth/refresh`, once. Absent when the request asked for the `ventros_refresh`
    /// cookie instead (`refresh_cookie`), which scripts in the page cannot read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub role: auth::Role,
}

/// The token pair as JSON; with `cookie`, the refresh token goes into the cookie instead.
fn tokens_response(pair: TokenPair, cookie: bool) -> Response {
    let cookie =
        cookie.then(|| refresh_cookie(&pair.refresh_token, auth::REFRESH_TOKEN_TTL.as_secs()));
    let body = Tokens {
        access_token: pair.access_token,
        token_type: pair.token_type,
        expires_in: pair.expires_in,
        refresh_token: cookie.is_none().then_some(pair.refresh_token),
        user_id: pair.user_id,
        tenant_id: pair.tenant_id,
        role: pair.role,
    };
    let mut resp = Json(body).into_response();
    if let Some(cookie) = cookie {
        resp.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    resp
}

/// Exchanges e-mail and password for tokens.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest, security(()),
    responses((status = 200, description = "Access and refresh tokens", body = Tokens), (status = 401, description = "Wrong e-mail or password"),
              (status = 409, description = "The e-mail and password open several accounts: say which with tenant_id"),
              (status = 429, description = "Too many attempts for this e-mail or from this address")))]
pub async fn login(
    State(state): State<AppState>,
    client: ClientAddress,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    if req.email.len() > 320 || req.password.len() > 1024 {
        return Err(ApiError::Unauthorized("wrong e-mail or password".into()));
    }
    state
        .address_limiter
        .check(&format!("login-from:{}", client.0))
        .map_err(ApiError::TooManyRequests)?;
    state
        .login_limiter
        .check(&format!("login:{}", req.email.trim().to_lowercase()))
        .map_err(ApiError::TooManyRequests)?;
    let pair = auth::login(&state, req.email.trim(), &req.password, req.tenant_id).await?;
    Ok(tokens_response(pair, req.refresh_cookie))
}

/// The refresh token of a request: the body's, or the browser's cookie.
fn presented_token(headers: &HeaderMap, req: &RefreshRequest) -> Option<(String, bool)> {
    match &req.refresh_token {
        Some(token) => Some((token.clone(), false)),
        None => cookie_value(headers, REFRESH_COOKIE).map(|t| (t, true)),
    }
}

/// Trades a refresh token for a new access token and refresh token (the old one stops working).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest, security(()),
    responses((status = 200, description = "New tokens", body = Tokens), (status = 401, description = "Invalid, used or expired refresh token")))]
pub async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    let invalid =
        || ApiError::Unauthorized("the refresh token is invalid or expired; log in again".into());
    let (token, from_cookie) = presented_token(&headers, &req).ok_or_else(invalid)?;
    if token.len() > 200 {
        return Err(invalid());
    }
    state
        .login_limiter
        .check(&format!(
            "refresh:{}",
            &token.chars().take(16).collect::<String>()
        ))
        .map_err(ApiError::TooManyRequests)?;
    Ok(tokens_response(
        auth::refresh(&state, &token).await?,
        from_cookie,
    ))
}

/// Revokes the refresh token and every token rotated from the same login; the access tokens of
/// that login stop working too.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest, security(()),
    responses((status = 204, description = "Logged out")))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    if let Some((token, _)) = presented_token(&headers, &req).filter(|(t, _)| t.len() <= 200) {
        auth::logout(&state, &token).await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, refresh_cookie("", 0));
    Ok(resp)
}

/// The caller: tenant, role, and the user or API key behind the credential.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", responses((status = 200, description = "The caller", body = Me)))]
pub async fn me(State(state): State<AppState>, principal: Principal) -> Result<Json<Me>, ApiError> {
    let mut tx = crate::db::tenant_tx(&state.pool, principal.tenant_id).await?;
    let tenant = sqlx::query_as!(TenantRef, "SELECT id, name FROM tenants")
        .fetch_one(&mut *tx)
        .await?;
    let actor = match principal.actor {
        Actor::User(id) => sqlx::query!(
            r#"SELECT id, email, name, locale AS "locale: Locale" FROM users WHERE id = $1"#,
            id
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|u| Caller::User {
            id: u.id,
            email: u.email,
            name: u.name,
            locale: u.locale,
        }),
        Actor::ApiKey(id) => {
            sqlx::query!("SELECT id, name, prefix FROM api_keys WHERE id = $1", id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|k| Caller::ApiKey {
                    id: k.id,
                    name: k.name,
                    prefix: k.prefix,
                })
        }
    };
    Ok(Json(Me {
        tenant,
        role: principal.role,
        actor,
    }))
}

/// The tenant a credential belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantRef {
    pub id: Uuid,
    pub name: String,
}

/// Who is calling: a user (access token) or an API key.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Caller {
    User {
        id: Uuid,
        email: String,
        name: String,
        /// The language they chose; null follows their browser.
        #[schema(required = true)]
        locale: Option<Locale>,
    },
    ApiKey {
        id: Uuid,
        name: String,
        prefix: String,
    },
}

/// The caller: their tenant, role, and who they are.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub tenant: TenantRef,
    pub role: auth::Role,
    /// Null if the user or key was removed after the credential was issued.
    #[schema(required = true)]
    pub actor: Option<Caller>,
}
