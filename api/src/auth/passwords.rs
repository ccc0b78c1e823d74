//! Users' passwords: Argon2id hashing on blocking threads behind a small queue (a flood of logins
//! waits and is then told to retry instead of taking every core), and the password policy.

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use uuid::Uuid;

use super::Role;
use crate::error::ApiError;

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
    sqlx::query!(
        "INSERT INTO users (id, tenant_id, email, name, role, password_hash) VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        tenant_id,
        email,
        name,
        role.as_str(),
        password_hash,
    )
    .execute(executor)
    .await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

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
}
