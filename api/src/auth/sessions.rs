//! Logins and their sessions: a login issues an access token and a rotating refresh token (one
//! family per login); a refresh token presented twice revokes its family; logout ends it. Access
//! tokens work only while their session lives, checked through a short cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

use super::Role;
use super::keys::{random_alnum, sha256};
use super::passwords::{hash_password, verify_password};
use super::tokens::ACCESS_TOKEN_TTL;
use crate::{AppState, error::ApiError};

/// How long a refresh token is valid (each use replaces it).
pub const REFRESH_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// An Argon2 hash of nothing anyone knows: unknown e-mails are checked against it so that login
/// takes as long whether or not the account exists.
static DECOY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Holds live credentials: no `Debug` or `Serialize`, so it cannot be logged or returned whole by
/// mistake (`routes::session::Tokens` is what a response carries).
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
    // A SECURITY DEFINER lookup across tenants (the tenant is not known before the password
    // picks the account); its columns are the users table's NOT NULL ones, hence the `!`.
    let rows = sqlx::query!(
        r#"SELECT id AS "id!", tenant_id AS "tenant_id!", role AS "role!", password_hash AS "password_hash!", disabled_at
             FROM ventros_user_by_email($1) LIMIT $2"#,
        email,
        MAX_ACCOUNTS_PER_EMAIL,
    )
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
    for row in rows {
        if tenant_hint.is_some_and(|t| t != row.tenant_id) {
            continue;
        }
        if verify_password(password.to_owned(), row.password_hash).await?
            && row.disabled_at.is_none()
        {
            matches.push((row.id, row.tenant_id, row.role));
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
    sqlx::query!(
        "UPDATE users SET last_login_at = now() WHERE id = $1",
        user_id
    )
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
    sqlx::query!(
        "INSERT INTO refresh_tokens (id, tenant_id, user_id, family_id, token_sha256, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        Uuid::now_v7(),
        tenant_id,
        user_id,
        family_id,
        sha256(&token),
        chrono::Utc::now() + REFRESH_TOKEN_TTL,
    )
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
    let tenant_id = refresh_token_tenant(state, &digest).await?;
    let tenant_id = tenant_id.ok_or_else(invalid)?;
    let mut tx = crate::db::tenant_tx(&state.pool, tenant_id).await?;
    let row = sqlx::query!(
        r#"SELECT t.user_id, t.family_id, t.used_at IS NOT NULL AS "used!", t.revoked_at IS NOT NULL AS "revoked!",
                  t.expires_at < now() AS "expired!", u.role, u.disabled_at IS NOT NULL AS "disabled!"
             FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_sha256 = $1 FOR UPDATE OF t"#,
        &digest,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let token = row.ok_or_else(invalid)?;
    let (user_id, family_id) = (token.user_id, token.family_id);
    if token.used && !token.revoked {
        tracing::warn!(user.id = %user_id, "refresh token reused; revoking its family");
        sqlx::query!(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
            family_id,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Err(invalid());
    }
    if token.used || token.revoked || token.expired || token.disabled {
        return Err(invalid());
    }
    sqlx::query!(
        "UPDATE refresh_tokens SET used_at = now() WHERE token_sha256 = $1",
        &digest
    )
    .execute(&mut *tx)
    .await?;
    let next = insert_refresh_token(&mut tx, tenant_id, user_id, family_id).await?;
    tx.commit().await?;
    let role = Role::parse(&token.role).ok_or_else(invalid)?;
    Ok(token_pair(state, tenant_id, user_id, role, family_id, next))
}

/// The tenant of a refresh token, by its digest (a SECURITY DEFINER lookup: the tenant is what
/// the token is needed to find).
async fn refresh_token_tenant(
    state: &AppState,
    digest: &[u8],
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!("SELECT ventros_refresh_token_tenant($1)", digest)
        .fetch_one(&state.pool)
        .await
}

/// Revokes the refresh token's family (logout). Unknown tokens are fine: logging out twice works.
pub async fn logout(state: &AppState, token: &str) -> Result<(), ApiError> {
    let digest = sha256(token);
    let tenant_id = refresh_token_tenant(state, &digest).await?;
    let Some(tenant_id) = tenant_id else {
        return Ok(());
    };
    let mut tx = crate::db::tenant_tx(&state.pool, tenant_id).await?;
    sqlx::query!(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL
            AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_sha256 = $1)",
        &digest,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // The session's access tokens end with it (in this process at once, elsewhere within the
    // session cache's lifetime).
    state.sessions.forget_all();
    Ok(())
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
        let role = sqlx::query_scalar!(
            "SELECT u.role FROM users u
              WHERE u.id = $1 AND u.disabled_at IS NULL
                AND EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = $2 AND t.user_id = u.id
                                                            AND t.revoked_at IS NULL AND t.expires_at > now())",
            user_id,
            session_id,
        )
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
