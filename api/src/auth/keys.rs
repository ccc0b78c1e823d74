//! API keys for integrations (`vtr_<prefix>_<secret>`) and the tenants they open: minted here,
//! stored as SHA-256 only, their use recorded at most once a minute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Actor, Principal, Role};

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
    sqlx::query!(
        "INSERT INTO api_keys (id, tenant_id, name, prefix, key_sha256, role) VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        tenant_id,
        name,
        &prefix,
        sha256(&secret),
        role.as_str(),
    )
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
    sqlx::query!(
        "INSERT INTO tenants (id, name) VALUES ($1, $2)",
        tenant_id,
        name
    )
    .execute(pool)
    .await?;
    let key = create_api_key(pool, tenant_id, "default").await?;
    Ok((tenant_id, key))
}

/// Records API keys' last use at most once a minute per key and process (not a write per request).
#[derive(Clone, Default)]
pub struct KeyUsage(Arc<Mutex<HashMap<Uuid, Instant>>>);

impl KeyUsage {
    pub(super) async fn touch(&self, pool: &PgPool, principal: Principal) {
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
            sqlx::query!("UPDATE api_keys SET last_used_at = now() WHERE id = $1", id)
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
