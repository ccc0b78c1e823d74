//! API keys: `vtr_<prefix>_<secret>`, stored as SHA-256. The prefix finds the row; the hash is
//! compared in constant time. A key is scoped to exactly one tenant.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::{AppState, error::ApiError};

/// The authenticated caller: every query it makes is filtered by this tenant.
#[derive(Debug, Clone, Copy)]
pub struct Tenant {
    pub tenant_id: Uuid,
    pub api_key_id: Uuid,
}

/// A freshly minted key. `secret` is shown once and never stored.
pub struct NewApiKey {
    pub id: Uuid,
    pub prefix: String,
    pub secret: String,
}

fn random_alnum(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..len).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
}

pub fn hash_key(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// Creates an API key for a tenant.
pub async fn create_api_key(pool: &PgPool, tenant_id: Uuid, name: &str) -> Result<NewApiKey, sqlx::Error> {
    let id = Uuid::now_v7();
    let prefix = random_alnum(12).to_lowercase();
    let secret = format!("vtr_{prefix}_{}", random_alnum(40));
    sqlx::query("INSERT INTO api_keys (id, tenant_id, name, prefix, key_sha256) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(tenant_id)
        .bind(name)
        .bind(&prefix)
        .bind(hash_key(&secret))
        .execute(pool)
        .await?;
    Ok(NewApiKey { id, prefix, secret })
}

/// Creates a tenant with its first API key.
pub async fn create_tenant(pool: &PgPool, name: &str) -> Result<(Uuid, NewApiKey), sqlx::Error> {
    let tenant_id = Uuid::now_v7();
    sqlx::query("INSERT INTO tenants (id, name) VALUES ($1, $2)").bind(tenant_id).bind(name).execute(pool).await?;
    let key = create_api_key(pool, tenant_id, "default").await?;
    Ok((tenant_id, key))
}

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let unauthorized = || ApiError::Unauthorized("a valid API key is required: Authorization: Bearer vtr_…".into());
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(unauthorized)?;
        let key = header.strip_prefix("Bearer ").map(str::trim).ok_or_else(unauthorized)?;
        let mut parts_iter = key.splitn(3, '_');
        let (Some("vtr"), Some(prefix), Some(_)) = (parts_iter.next(), parts_iter.next(), parts_iter.next()) else {
            return Err(unauthorized());
        };
        type KeyRow = (Uuid, Uuid, Vec<u8>, Option<chrono::DateTime<chrono::Utc>>);
        let row: Option<KeyRow> =
            sqlx::query_as("SELECT id, tenant_id, key_sha256, revoked_at FROM api_keys WHERE prefix = $1")
                .bind(prefix)
                .fetch_optional(&state.pool)
                .await?;
        let Some((api_key_id, tenant_id, stored, revoked_at)) = row else {
            return Err(unauthorized());
        };
        if revoked_at.is_some() || !bool::from(stored.ct_eq(&hash_key(key))) {
            return Err(unauthorized());
        }
        Ok(Tenant { tenant_id, api_key_id })
    }
}
