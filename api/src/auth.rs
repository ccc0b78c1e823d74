//! Who is calling, and what they may do.
//!
//! Two kinds of credentials, both as `Authorization: Bearer …`:
//! - API keys, `vtr_<prefix>_<secret>`, for integrations: stored as SHA-256, found by the public
//!   prefix, compared in constant time, revocable, with a role and a last-used time.
//! - Access tokens for users (the web app): HS256 JWTs valid for 15 minutes, issued by
//!   `POST /api/v1/auth/login` (Argon2id password check) and renewed with a rotating refresh token.
//!
//! Either way the result is a [`Principal`]: one tenant and one role. Every request is also
//! counted against the principal's rate limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hmac::{Hmac, Mac};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::{AppState, error::ApiError};

/// How long an access token is valid.
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
/// How long a refresh token is valid (each use replaces it).
pub const REFRESH_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Roles, weakest first: a viewer reads; an agent also works conversations, contacts and deals; an
/// admin also manages channels, pipelines, users, API keys and webhooks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
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

// ------------------------------------------------------------------------------------------------
// API keys and tenants
// ------------------------------------------------------------------------------------------------

/// A freshly minted key. `secret` is shown once and never stored.
pub struct NewApiKey {
    pub id: Uuid,
    pub prefix: String,
    pub secret: String,
}

pub fn random_alnum(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

pub fn sha256(value: &str) -> Vec<u8> {
    Sha256::digest(value.as_bytes()).to_vec()
}

/// Creates an API key. `executor` is either the owner pool (admin CLI) or a tenant transaction.
pub async fn insert_api_key<'e, E>(
    executor: E,
    tenant_id: Uuid,
    name: &str,
    role: Role,
) -> Result<NewApiKey, sqlx::Error>
where
    E: sqlx::PgExecutor<'e>,
{
    let id = Uuid::now_v7();
    let prefix = random_alnum(12).to_lowercase();
    let secret = format!("vtr_{prefix}_{}", random_alnum(40));
    sqlx::query("INSERT INTO api_keys (id, tenant_id, name, prefix, key_sha256, role) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(tenant_id)
        .bind(name)
        .bind(&prefix)
        .bind(sha256(&secret))
        .bind(role.as_str())
        .execute(executor)
        .await?;
    Ok(NewApiKey { id, prefix, secret })
}

/// Creates an admin API key for a tenant (the admin CLI and tests).
pub async fn create_api_key(
    pool: &PgPool,
    tenant_id: Uuid,
    name: &str,
) -> Result<NewApiKey, sqlx::Error> {
    insert_api_key(pool, tenant_id, name, Role::Admin).await
}

/// Creates a tenant with its first (admin) API key.
pub async fn create_tenant(pool: &PgPool, name: &str) -> Result<(Uuid, NewApiKey), sqlx::Error> {
    let tenant_id = Uuid::now_v7();
    sqlx::query("INSERT INTO tenants (id, name) VALUES ($1, $2)")
        .bind(tenant_id)
        .bind(name)
        .execute(pool)
        .await?;
    let key = create_api_key(pool, tenant_id, "default").await?;
    Ok((tenant_id, key))
}

// ------------------------------------------------------------------------------------------------
// Users and passwords
// ------------------------------------------------------------------------------------------------

/// Password hashes computed at once in this process: Argon2id takes 19 MiB and tens of
/// milliseconds each, so a flood of logins must queue (and then be told to retry) rather than take
/// every core and the memory with it.
const CONCURRENT_HASHES: usize = 4;
/// How long a login waits for a hashing slot before it is told to retry.
const HASH_QUEUE_WAIT: Duration = Duration::from_secs(5);
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONCURRENT_HASHES);

async fn hashing_slot() -> Result<tokio::sync::SemaphorePermit<'static>, ApiError> {
    match tokio::time::timeout(HASH_QUEUE_WAIT, HASHING.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(ApiError::Unavailable(
            "too many logins at once; retry shortly".into(),
        )),
    }
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes), on a blocking thread.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    let _slot = hashing_slot().await?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::from_b64(
            &base64::engine::general_purpose::STANDARD_NO_PAD.encode(rand::random::<[u8; 16]>()),
        )
        .map_err(|e| anyhow::anyhow!(e.to_string()))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!(e.to_string()))
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?
    .map_err(ApiError::Internal)
}

/// Whether `password` matches `hash` (waits for a hashing slot).
pub async fn verify_password(password: String, hash: String) -> Result<bool, ApiError> {
    let _slot = hashing_slot().await?;
    Ok(tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false))
}

/// Checks a password policy shared by user creation and password changes.
pub fn validate_password(password: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if !(10..=200).contains(&n) {
        return Err(ApiError::Unprocessable(
            "password must be 10 to 200 characters".into(),
        ));
    }
    Ok(())
}

/// Creates a user (admin CLI, tests and `POST /api/v1/users`).
pub async fn insert_user<'e, E>(
    executor: E,
    tenant_id: Uuid,
    email: &str,
    name: &str,
    role: Role,
    password_hash: &str,
) -> Result<Uuid, sqlx::Error>
where
    E: sqlx::PgExecutor<'e>,
{
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO users (id, tenant_id, email, name, role, password_hash) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(tenant_id)
        .bind(email)
        .bind(name)
        .bind(role.as_str())
        .bind(password_hash)
        .execute(executor)
        .await?;
    Ok(id)
}

/// An Argon2 hash of nothing anyone knows: unknown e-mails are checked against it so that login
/// takes as long whether or not the account exists.
static DECOY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

#[derive(Debug, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub role: Role,
}

/// Accounts with one e-mail address checked at most (an address is unique per tenant).
const MAX_ACCOUNTS_PER_EMAIL: i64 = 10;

/// Checks e-mail and password; 401 for any mismatch, without saying which. The address may have
/// an account in several tenants: the password picks the account, and `tenant_id` only when the
/// same password opens more than one.
pub async fn login(
    state: &AppState,
    email: &str,
    password: &str,
    tenant_hint: Option<Uuid>,
) -> Result<TokenPair, ApiError> {
    type Row = (
        Uuid,
        Uuid,
        String,
        String,
        Option<chrono::DateTime<chrono::Utc>>,
    );
    let rows: Vec<Row> = sqlx::query_as("SELECT id, tenant_id, role, password_hash, disabled_at FROM ventros_user_by_email($1) LIMIT $2")
        .bind(email)
        .bind(MAX_ACCOUNTS_PER_EMAIL)
        .fetch_all(&state.pool)
        .await?;
    let invalid = || ApiError::Unauthorized("wrong e-mail or password".into());
    if rows.is_empty() {
        let decoy = match DECOY_HASH.get() {
            Some(h) => h.clone(),
            None => {
                let h = hash_password(random_alnum(24)).await?;
                DECOY_HASH.get_or_init(|| h).clone()
            }
        };
        verify_password(password.to_owned(), decoy).await?;
        return Err(invalid());
    }
    let mut matches = Vec::new();
    for (user_id, tenant_id, role, hash, disabled_at) in rows {
        if tenant_hint.is_some_and(|t| t != tenant_id) {
            continue;
        }
        if verify_password(password.to_owned(), hash).await? && disabled_at.is_none() {
            matches.push((user_id, tenant_id, role));
        }
    }
    let (user_id, tenant_id, role) = match matches.as_slice() {
        [] => return Err(invalid()),
        [one] => one.clone(),
        _ => {
            return Err(ApiError::Conflict(
                "this e-mail and password open several accounts: say which with tenant_id".into(),
            ));
        }
    };
    let role = Role::parse(&role).ok_or_else(invalid)?;
    let mut tx = crate::db::tenant_tx(&state.pool, tenant_id).await?;
    sqlx::query("UPDATE users SET last_login_at = now() WHERE id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let family_id = Uuid::now_v7();
    let refresh = insert_refresh_token(&mut tx, tenant_id, user_id, family_id).await?;
    tx.commit().await?;
    Ok(token_pair(
        state, tenant_id, user_id, role, family_id, refresh,
    ))
}

fn token_pair(
    state: &AppState,
    tenant_id: Uuid,
    user_id: Uuid,
    role: Role,
    family_id: Uuid,
    refresh_token: String,
) -> TokenPair {
    TokenPair {
        access_token: state
            .config
            .tokens
            .issue(tenant_id, user_id, role, family_id),
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_TTL.as_secs(),
        refresh_token,
        user_id,
        tenant_id,
        role,
    }
}

async fn insert_refresh_token(
    tx: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    user_id: Uuid,
    family_id: Uuid,
) -> Result<String, sqlx::Error> {
    let token = format!("vtr_rt_{}", random_alnum(48));
    sqlx::query(
        "INSERT INTO refresh_tokens (id, tenant_id, user_id, family_id, token_sha256, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(user_id)
    .bind(family_id)
    .bind(sha256(&token))
    .bind(chrono::Utc::now() + REFRESH_TOKEN_TTL)
    .execute(&mut *tx)
    .await?;
    Ok(token)
}

/// Trades a refresh token for a new pair. A token presented twice was copied: its whole family
/// (every token descended from the same login) is revoked.
pub async fn refresh(state: &AppState, token: &str) -> Result<TokenPair, ApiError> {
    let invalid =
        || ApiError::Unauthorized("the refresh token is invalid or expired; log in again".into());
    let digest = sha256(token);
    let tenant_id: Option<Uuid> = sqlx::query_scalar("SELECT ventros_refresh_token_tenant($1)")
        .bind(&digest)
        .fetch_one(&state.pool)
        .await?;
    let tenant_id = tenant_id.ok_or_else(invalid)?;
    let mut tx = crate::db::tenant_tx(&state.pool, tenant_id).await?;
    type Row = (Uuid, Uuid, bool, bool, bool, String, bool);
    let row: Option<Row> = sqlx::query_as(
        "SELECT t.user_id, t.family_id, t.used_at IS NOT NULL, t.revoked_at IS NOT NULL, t.expires_at < now(), u.role, u.disabled_at IS NOT NULL
           FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_sha256 = $1 FOR UPDATE OF t",
    )
    .bind(&digest)
    .fetch_optional(&mut *tx)
    .await?;
    let (user_id, family_id, used, revoked, expired, role, disabled) = row.ok_or_else(invalid)?;
    if used && !revoked {
        tracing::warn!(user.id = %user_id, "refresh token reused; revoking its family");
        sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL").bind(family_id).execute(&mut *tx).await?;
        tx.commit().await?;
        return Err(invalid());
    }
    if used || revoked || expired || disabled {
        return Err(invalid());
    }
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE token_sha256 = $1")
        .bind(&digest)
        .execute(&mut *tx)
        .await?;
    let next = insert_refresh_token(&mut tx, tenant_id, user_id, family_id).await?;
    tx.commit().await?;
    let role = Role::parse(&role).ok_or_else(invalid)?;
    Ok(token_pair(state, tenant_id, user_id, role, family_id, next))
}

/// Revokes the refresh token's family (logout). Unknown tokens are fine: logging out twice works.
pub async fn logout(state: &AppState, token: &str) -> Result<(), ApiError> {
    let digest = sha256(token);
    let tenant_id: Option<Uuid> = sqlx::query_scalar("SELECT ventros_refresh_token_tenant($1)")
        .bind(&digest)
        .fetch_one(&state.pool)
        .await?;
    let Some(tenant_id) = tenant_id else {
        return Ok(());
    };
    let mut tx = crate::db::tenant_tx(&state.pool, tenant_id).await?;
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL
            AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_sha256 = $1)",
    )
    .bind(&digest)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // The session's access tokens end with it (in this process at once, elsewhere within the
    // session cache's lifetime).
    state.sessions.forget_all();
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Access tokens (HS256 JWT)
// ------------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    tid: Uuid,
    role: Role,
    /// The session: the refresh-token family of the login. The token works only while it does.
    sid: Uuid,
    iat: i64,
    exp: i64,
}

/// Issues and verifies access tokens with one HMAC key (`API_TOKEN_SECRET`; every API replica
/// must share it).
#[derive(Clone)]
pub struct TokenKeys {
    secret: Arc<[u8]>,
}

const JWT_HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"; // {"alg":"HS256","typ":"JWT"}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Self {
        TokenKeys {
            secret: secret.into(),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length")
    }

    pub fn issue(&self, tenant_id: Uuid, user_id: Uuid, role: Role, session_id: Uuid) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id,
            tid: tenant_id,
            role,
            sid: session_id,
            iat: now,
            exp: now + ACCESS_TOKEN_TTL.as_secs() as i64,
        };
        let payload = B64URL.encode(serde_json::to_vec(&claims).expect("claims serialise"));
        let signing_input = format!("{JWT_HEADER}.{payload}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            B64URL.encode(mac.finalize().into_bytes())
        )
    }

    /// The token's principal, if its signature, algorithm and expiry are right. Only our exact
    /// header is accepted (no `alg: none`, no key confusion).
    fn verify(&self, token: &str) -> Option<(Principal, Uuid)> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let (header, payload) = signing_input.split_once('.')?;
        if header != JWT_HEADER {
            return None;
        }
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&B64URL.decode(signature).ok()?).ok()?;
        let claims: Claims = serde_json::from_slice(&B64URL.decode(payload).ok()?).ok()?;
        (claims.exp > chrono::Utc::now().timestamp()).then_some((
            Principal {
                tenant_id: claims.tid,
                role: claims.role,
                actor: Actor::User(claims.sub),
            },
            claims.sid,
        ))
    }
}

// ------------------------------------------------------------------------------------------------
// Rate limits
// ------------------------------------------------------------------------------------------------

/// A token bucket per principal (and per login e-mail), in this process. With several replicas
/// each enforces its own share; the limit is a guard against runaway clients, not billing.
#[derive(Clone)]
pub struct RateLimiter {
    per_minute: u32,
    burst: f64,
    buckets: Arc<Mutex<HashMap<String, (f64, Instant)>>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32, burst: u32) -> Self {
        RateLimiter {
            per_minute: per_minute.max(1),
            burst: f64::from(burst.max(1)),
            buckets: Arc::default(),
        }
    }

    /// Takes one token; `Err(seconds)` until the next one when the bucket is empty.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let rate = f64::from(self.per_minute) / 60.0;
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > 50_000 {
            // Forget callers whose buckets have refilled: they are indistinguishable from new ones.
            let burst = self.burst;
            buckets.retain(|_, (tokens, at)| *tokens + at.elapsed().as_secs_f64() * rate < burst);
        }
        let (tokens, at) = buckets.entry(key.to_owned()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / rate).ceil() as u64)
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The extractor
// ------------------------------------------------------------------------------------------------

/// Authenticates a bearer credential (API key or access token).
pub async fn authenticate(state: &AppState, credential: &str) -> Result<Principal, ApiError> {
    let unauthorized = || {
        ApiError::Unauthorized(
            "a valid API key or access token is required: Authorization: Bearer …".into(),
        )
    };
    let principal = if let Some(rest) = credential.strip_prefix("vtr_") {
        let (prefix, _) = rest.split_once('_').ok_or_else(unauthorized)?;
        type KeyRow = (
            Uuid,
            Uuid,
            Vec<u8>,
            String,
            Option<chrono::DateTime<chrono::Utc>>,
        );
        let row: Option<KeyRow> = sqlx::query_as(
            "SELECT id, tenant_id, key_sha256, role, revoked_at FROM ventros_api_key_by_prefix($1)",
        )
        .bind(prefix)
        .fetch_optional(&state.pool)
        .await?;
        let Some((api_key_id, tenant_id, stored, role, revoked_at)) = row else {
            return Err(unauthorized());
        };
        if revoked_at.is_some() || !bool::from(stored.ct_eq(&sha256(credential))) {
            return Err(unauthorized());
        }
        let principal = Principal {
            tenant_id,
            role: Role::parse(&role).ok_or_else(unauthorized)?,
            actor: Actor::ApiKey(api_key_id),
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
    state
        .limiter
        .check(&principal.limiter_key().to_string())
        .map_err(ApiError::TooManyRequests)?;
    Ok(principal)
}

/// How long a session's state is trusted without asking the database again.
pub const SESSION_CHECK_TTL: Duration = Duration::from_secs(5);

/// Whether users' sessions are still alive, and with which role, cached for [`SESSION_CHECK_TTL`]
/// so that a busy client does not cost a query per request.
#[derive(Clone, Default)]
pub struct SessionCache(Arc<Mutex<HashMap<SessionKey, SessionState>>>);

/// A user and one of their sessions (refresh-token families).
type SessionKey = (Uuid, Uuid);
/// The user's role while the session lives (`None`: ended), and when that was read.
type SessionState = (Option<Role>, Instant);

impl SessionCache {
    /// The user's current role while the session (refresh-token family) is alive and the user
    /// enabled; `None` otherwise.
    pub async fn role(
        &self,
        pool: &PgPool,
        tenant_id: Uuid,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<Option<Role>, ApiError> {
        if let Some((role, at)) = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&(user_id, session_id))
            && at.elapsed() < SESSION_CHECK_TTL
        {
            return Ok(*role);
        }
        let mut tx = crate::db::tenant_tx(pool, tenant_id).await?;
        let role: Option<String> = sqlx::query_scalar(
            "SELECT u.role FROM users u
              WHERE u.id = $1 AND u.disabled_at IS NULL
                AND EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = $2 AND t.user_id = u.id
                                                            AND t.revoked_at IS NULL AND t.expires_at > now())",
        )
        .bind(user_id)
        .bind(session_id)
        .fetch_optional(&mut *tx)
        .await?;
        drop(tx);
        let role = role.as_deref().and_then(Role::parse);
        let mut cache = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() > 50_000 {
            cache.retain(|_, (_, at)| at.elapsed() < SESSION_CHECK_TTL);
        }
        cache.insert((user_id, session_id), (role, Instant::now()));
        Ok(role)
    }

    /// Forgets what is cached (after a logout or a change to a user), so this process sees it at
    /// once.
    pub fn forget_all(&self) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

/// Records API keys' last use at most once a minute per key and process (not a write per request).
#[derive(Clone, Default)]
pub struct KeyUsage(Arc<Mutex<HashMap<Uuid, Instant>>>);

impl KeyUsage {
    async fn touch(&self, pool: &PgPool, principal: Principal) {
        let Actor::ApiKey(id) = principal.actor else {
            return;
        };
        {
            let mut seen = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if seen
                .get(&id)
                .is_some_and(|at| at.elapsed() < Duration::from_secs(60))
            {
                return;
            }
            seen.insert(id, Instant::now());
        }
        let result = async {
            let mut tx = crate::db::tenant_tx(pool, principal.tenant_id).await?;
            sqlx::query("UPDATE api_keys SET last_used_at = now() WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        }
        .await;
        if let Err(err) = result {
            tracing::warn!(error = %err, "recording API key use failed");
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn password_hashing_waits_for_a_slot_and_then_gives_up() {
        // Every slot taken (a flood of logins): the next hash waits, then is told to retry.
        let taken = HASHING
            .acquire_many(CONCURRENT_HASHES as u32)
            .await
            .unwrap();
        let started = Instant::now();
        let refused = verify_password(
            "guess".into(),
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        )
        .await;
        assert!(
            matches!(refused, Err(ApiError::Unavailable(_))),
            "{refused:?}"
        );
        assert!(started.elapsed() >= HASH_QUEUE_WAIT);
        drop(taken);
        assert!(
            !verify_password("guess".into(), "not a hash".into())
                .await
                .unwrap(),
            "a slot is free again"
        );
    }

    #[test]
    fn access_tokens_carry_their_session_and_reject_tampering() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef");
        let (tenant, user, session) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let token = keys.issue(tenant, user, Role::Agent, session);
        let (principal, sid) = keys.verify(&token).unwrap();
        assert_eq!(
            (principal.tenant_id, principal.actor, sid),
            (tenant, Actor::User(user), session)
        );
        let other = TokenKeys::new(b"another-key-another-key-another!");
        assert!(other.verify(&token).is_none());
        let (head, _) = token.rsplit_once('.').unwrap();
        assert!(keys.verify(&format!("{head}.AAAA")).is_none());
    }
}
