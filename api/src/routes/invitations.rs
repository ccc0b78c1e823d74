//! Invitation links: an admin invites someone by e-mail, name and role; the link (shown to the admin
//! once, to send however they like) lets that person choose their own password, once, within
//! seven days. Only the token's SHA-256 is stored. The token travels in the link's fragment
//! (`/invite#…`), which browsers never send to a server, and in request bodies, never in paths,
//! so it is in no access log.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::required_text;
use super::session::ClientAddress;
use super::users::valid_email;
use crate::AppState;
use crate::auth::{self, AsAdmin, Authorized, Role, random_alnum, sha256};
use crate::db::{List, execute_found, tenant_tx};
use crate::error::{ApiError, ApiJson};
use crate::ids::Id;

/// How long a link works.
const VALID_FOR: Duration = Duration::days(7);

/// An invitation as admins see it (never its token).
#[derive(Debug, Serialize, ToSchema)]
pub struct Invitation {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub invited_by: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl crate::ids::Resource for Invitation {
    const NAME: &'static str = "invitation";
}

/// A new invitation with its link, returned once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedInvitation {
    #[serde(flatten)]
    pub invitation: Invitation,
    /// The link to send to the person: it is not stored and cannot be shown again.
    pub url: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    pub email: String,
    pub name: String,
    pub role: Role,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationToken {
    /// The part of the link after `#`.
    pub token: String,
}

/// Who a link invites, for the page that accepts it.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    pub token: String,
    /// The name to be known by (the invitation's when omitted).
    #[serde(default)]
    pub name: Option<String>,
    /// At least 10 characters.
    pub password: String,
}

/// The user an accepted invitation made: log in with its e-mail and the chosen password.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedInvitation {
    pub user_id: Uuid,
    /// For the login (`tenant_id`), in case the same e-mail has accounts elsewhere.
    pub tenant_id: Uuid,
    pub email: String,
}

fn parse_role(role: &str) -> Result<Role, ApiError> {
    Role::parse(role).ok_or_else(|| ApiError::Internal(anyhow::anyhow!("stored role {role}")))
}

/// Invites someone (admin). Inviting an address that already has an open invitation replaces it:
/// the old link stops working.
#[utoipa::path(post, path = "/api/v1/invitations", tag = "users", request_body = CreateInvitation,
    responses((status = 201, description = "The invitation and its link (shown once)", body = CreatedInvitation),
              (status = 409, description = "The e-mail already has an account"), (status = 403, description = "Admins only")))]
pub async fn create_invitation(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    ApiJson(req): ApiJson<CreateInvitation>,
) -> Result<(StatusCode, Json<CreatedInvitation>), ApiError> {
    let email = valid_email(&req.email)?;
    let name = required_text(&req.name, "name", 200)?;
    let token = random_alnum(43);
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    // An e-mail is unique within a tenant (only this tenant's users are visible here): say so
    // now, not when the link is used.
    let taken = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1)) AS "taken!""#,
        &email
    )
    .fetch_one(&mut *tx)
    .await?;
    if taken {
        return Err(ApiError::Conflict(
            "this e-mail already has an account".into(),
        ));
    }
    sqlx::query!(
        "UPDATE user_invitations SET revoked_at = now()
          WHERE lower(email) = lower($1) AND accepted_at IS NULL AND revoked_at IS NULL",
        &email
    )
    .execute(&mut *tx)
    .await?;
    let invitation = sqlx::query!(
        r#"INSERT INTO user_invitations (id, tenant_id, email, name, role, token_sha256, invited_by, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, now() + $8::interval)
           RETURNING id, email, name, role, invited_by, expires_at, created_at"#,
        Uuid::now_v7(),
        principal.tenant_id,
        &email,
        &name,
        req.role.as_str(),
        &sha256(&token),
        principal.label(),
        sqlx::postgres::types::PgInterval::try_from(VALID_FOR.to_std().expect("positive"))
            .expect("fits an interval"),
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedInvitation {
            invitation: Invitation {
                id: invitation.id,
                email: invitation.email,
                name: invitation.name,
                role: parse_role(&invitation.role)?,
                invited_by: invitation.invited_by,
                expires_at: invitation.expires_at,
                created_at: invitation.created_at,
            },
            url: format!("{}/invite#{token}", state.config.public_base_url),
        }),
    ))
}

/// Lists the invitations still waiting (admin).
#[utoipa::path(get, path = "/api/v1/invitations", tag = "users",
    responses((status = 200, description = "Open invitations, newest first", body = List<Invitation>), (status = 403, description = "Admins only")))]
pub async fn list_invitations(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
) -> Result<Json<List<Invitation>>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let rows = sqlx::query!(
        "SELECT id, email, name, role, invited_by, expires_at, created_at FROM user_invitations
          WHERE accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now() ORDER BY created_at DESC"
    )
    .fetch_all(&mut *tx)
    .await?;
    let items = rows
        .into_iter()
        .map(|r| {
            Ok(Invitation {
                id: r.id,
                email: r.email,
                name: r.name,
                role: parse_role(&r.role)?,
                invited_by: r.invited_by,
                expires_at: r.expires_at,
                created_at: r.created_at,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(List { items }))
}

/// Revokes an invitation (admin): its link stops working.
#[utoipa::path(delete, path = "/api/v1/invitations/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Revoked"), (status = 404, description = "No such open invitation")))]
pub async fn revoke_invitation(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    id: Id<Invitation>,
) -> Result<StatusCode, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    execute_found(
        &mut tx,
        sqlx::query!(
            "UPDATE user_invitations SET revoked_at = now() WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL",
            id
        ),
        || format!("invitation {id}"),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An open invitation by its token, in its tenant's transaction (locked, for accepting it).
/// Unknown, used, revoked and expired links are all the same 404: a link says nothing about why.
async fn open_invitation(
    state: &AppState,
    token: &str,
) -> Result<
    (
        sqlx::Transaction<'static, sqlx::Postgres>,
        Uuid,
        InvitationView,
    ),
    ApiError,
> {
    let gone = || {
        ApiError::NotFound(
            "this invitation link is not valid: it was used, revoked or has expired".into(),
        )
    };
    let digest = sha256(token.trim());
    let tenant_id = sqlx::query_scalar!("SELECT ventros_invitation_tenant($1)", &digest)
        .fetch_one(&state.pool)
        .await?
        .ok_or_else(gone)?;
    let mut tx = tenant_tx(&state.pool, tenant_id).await?;
    let row = sqlx::query!(
        "SELECT id, email, name, role, expires_at FROM user_invitations
          WHERE token_sha256 = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now() FOR UPDATE",
        &digest
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(gone)?;
    let view = InvitationView {
        email: row.email,
        name: row.name,
        role: parse_role(&row.role)?,
        expires_at: row.expires_at,
    };
    Ok((tx, row.id, view))
}

/// The same per-address limit as logins: the token cannot be guessed, but nobody gets to try.
fn limit(state: &AppState, what: &str, client: &ClientAddress) -> Result<(), ApiError> {
    state
        .address_limiter
        .check(&format!("{what}-from:{}", client.0))
        .map_err(ApiError::TooManyRequests)
}

/// Says who a link invites (no login: the token is the credential).
#[utoipa::path(post, path = "/api/v1/invitations/lookup", tag = "users", request_body = InvitationToken, security(()),
    responses((status = 200, description = "Who is invited", body = InvitationView), (status = 404, description = "Not a valid link (used, revoked or expired)"),
              (status = 429, description = "Too many attempts from this address")))]
pub async fn lookup_invitation(
    State(state): State<AppState>,
    client: ClientAddress,
    ApiJson(req): ApiJson<InvitationToken>,
) -> Result<Json<InvitationView>, ApiError> {
    limit(&state, "invitation-lookup", &client)?;
    let (_, _, view) = open_invitation(&state, &req.token).await?;
    Ok(Json(view))
}

/// Accepts an invitation: creates the account with the chosen password. The link then stops
/// working; log in with the e-mail and the password.
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "users", request_body = AcceptInvitation, security(()),
    responses((status = 201, description = "The account", body = AcceptedInvitation), (status = 404, description = "Not a valid link (used, revoked or expired)"),
              (status = 409, description = "The e-mail already has an account"), (status = 422, description = "A password too short or a bad name"),
              (status = 429, description = "Too many attempts from this address")))]
pub async fn accept_invitation(
    State(state): State<AppState>,
    client: ClientAddress,
    ApiJson(req): ApiJson<AcceptInvitation>,
) -> Result<(StatusCode, Json<AcceptedInvitation>), ApiError> {
    limit(&state, "invitation-accept", &client)?;
    auth::validate_password(&req.password)?;
    let name = req
        .name
        .as_deref()
        .map(|n| required_text(n, "name", 200))
        .transpose()?;
    // The link first (cheap), then the password's hash (deliberately slow): made-up tokens cost
    // the server nothing.
    let (mut tx, id, view) = open_invitation(&state, &req.token).await?;
    let hash = auth::hash_password(req.password).await?;
    let tenant_id = sqlx::query_scalar!("SELECT tenant_id FROM user_invitations WHERE id = $1", id)
        .fetch_one(&mut *tx)
        .await?;
    let user_id = auth::insert_user(
        &mut *tx,
        tenant_id,
        &view.email,
        name.as_deref().unwrap_or(&view.name),
        view.role,
        &hash,
    )
    .await?;
    sqlx::query!(
        "UPDATE user_invitations SET accepted_at = now(), user_id = $2 WHERE id = $1",
        id,
        user_id
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(AcceptedInvitation {
            user_id,
            tenant_id,
            email: view.email,
        }),
    ))
}
