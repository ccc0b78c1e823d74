//! A contact's channel identities: add one (checked against the channel's kind), remove one that
//! no conversation uses yet.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::{Contact, Identity, IdentityInput, fetch_contact, insert_identity, lock_contact};
use crate::AppState;
use crate::auth::{AsAgent, Authorized};
use crate::db::tenant_tx;
use crate::error::{ApiError, ApiJson};
use crate::ids::{Id, IdPair};

/// Adds a channel identity (an address the contact has on a channel).
#[utoipa::path(post, path = "/api/v1/contacts/{id}/identities", tag = "contacts", params(("id" = Uuid, Path)), request_body = IdentityInput,
    responses((status = 201, description = "The contact", body = Contact), (status = 409, description = "The address belongs to another contact")))]
pub async fn add_identity(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Contact>,
    ApiJson(req): ApiJson<IdentityInput>,
) -> Result<(StatusCode, Json<Contact>), ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    lock_contact(&mut tx, id).await?;
    insert_identity(&mut tx, principal.tenant_id, id, &req).await?;
    let contact = fetch_contact(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(contact)))
}

/// Removes an identity that no conversation uses yet (one with history stays: merge instead).
#[utoipa::path(delete, path = "/api/v1/contacts/{id}/identities/{identity_id}", tag = "contacts",
    params(("id" = Uuid, Path), ("identity_id" = Uuid, Path)),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such identity"), (status = 409, description = "The identity has conversations")))]
pub async fn remove_identity(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    ids: IdPair<Contact, Identity>,
) -> Result<StatusCode, ApiError> {
    let (id, identity_id) = ids.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let used = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM conversation_sessions s WHERE s.identity_id = i.id) AS "used!"
             FROM contact_identities i WHERE i.id = $1 AND i.contact_id = $2"#,
        identity_id,
        id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    match used {
        None => {
            return Err(ApiError::NotFound(format!(
                "identity {identity_id} not found on contact {id}"
            )));
        }
        Some(true) => {
            return Err(ApiError::Conflict(
                "this identity has conversations and cannot be removed".into(),
            ));
        }
        Some(false) => {}
    }
    sqlx::query!("DELETE FROM contact_identities WHERE id = $1", identity_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
