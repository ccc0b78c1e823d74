//! Contacts: CRUD, search, tags, custom attributes, channel identities, and merging two contacts
//! (a ContactMerge workflow, so a merge interrupted by a crash finishes instead of half-happening).
//! Changes are written with their outbox events (`contact.created`, `contact.updated`,
//! `contact.tagged`, …) in the same transaction.
//!
//! This module holds the contact as the API returns it and the checks every handler shares; the
//! handlers live by concern: [`records`] (list, create, read, update, delete), [`tags`],
//! [`identities`], [`merges`] and [`merge_preview`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::{Postgres, Transaction};
use utoipa::ToSchema;
use uuid::Uuid;
use ventros_channels::waha::{ChatKind, classify_chat_id};
use ventros_domain::{DealStatus, IdentityKind, SessionStatus};

use crate::error::ApiError;
use crate::routes::required_text;

pub mod identities;
pub mod merge_preview;
pub mod merges;
pub mod records;
pub mod tags;

pub use identities::{__path_add_identity, __path_remove_identity, add_identity, remove_identity};
pub use merge_preview::{__path_merge_preview, merge_preview};
pub use merges::{__path_merge, __path_show_merge, merge, show_merge};
pub use records::{
    __path_create, __path_delete, __path_list, __path_show, __path_update, create, delete, list,
    show, update,
};
pub use tags::{__path_add_tag, __path_remove_tag, add_tag, remove_tag};

/// An address the contact has on a channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct Identity {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub kind: IdentityKind,
    /// `5511…@c.us`, `…@lid`, a PSID or an IGSID.
    pub external_id: String,
    pub created_at: DateTime<Utc>,
}

/// One of the contact's deals, as the profile lists them.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactDeal {
    pub id: Uuid,
    pub title: String,
    pub status: DealStatus,
    pub pipeline_id: Uuid,
    pub stage_id: Uuid,
}

/// One of the contact's conversation sessions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactConversation {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub status: SessionStatus,
    pub opened_at: DateTime<Utc>,
    #[schema(required = true)]
    pub closed_at: Option<DateTime<Utc>>,
}

/// A contact with their identities, deals and conversations.
#[derive(Debug, Serialize, ToSchema)]
pub struct Contact {
    pub id: Uuid,
    #[schema(required = true)]
    pub display_name: Option<String>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub custom_attributes: Value,
    /// Set on a contact folded into another by a merge (a tombstone).
    #[schema(required = true)]
    pub merged_into: Option<Uuid>,
    /// When the contact asked not to receive campaigns.
    #[schema(required = true)]
    pub opted_out_at: Option<DateTime<Utc>>,
    /// The language the contact writes in (`pt`, `en`, `es`), once known.
    #[schema(required = true)]
    pub language: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub identities: Vec<Identity>,
    pub deals: Vec<ContactDeal>,
    pub conversations: Vec<ContactConversation>,
}

impl crate::ids::Resource for Identity {
    const NAME: &'static str = "identity";
}

impl crate::ids::Resource for Contact {
    const NAME: &'static str = "contact";
}

/// The contact with everything the profile shows, or 404.
async fn fetch_contact(
    tx: &mut Transaction<'static, Postgres>,
    id: Uuid,
) -> Result<Contact, ApiError> {
    let row = sqlx::query!(
        "SELECT id, display_name, tags, custom_attributes, merged_into, opted_out_at, language, created_at, updated_at
           FROM contacts WHERE id = $1",
        id
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("contact {id} not found")))?;
    let identities = sqlx::query_as!(
        Identity,
        r#"SELECT id, channel_id, kind AS "kind: IdentityKind", external_id, created_at
             FROM contact_identities WHERE contact_id = $1 ORDER BY created_at"#,
        id
    )
    .fetch_all(&mut **tx)
    .await?;
    let deals = sqlx::query_as!(
        ContactDeal,
        r#"SELECT id, title, status AS "status: DealStatus", pipeline_id, stage_id
             FROM deals WHERE contact_id = $1 ORDER BY created_at"#,
        id
    )
    .fetch_all(&mut **tx)
    .await?;
    let conversations = sqlx::query_as!(
        ContactConversation,
        r#"SELECT id, channel_id, status AS "status: SessionStatus", opened_at, closed_at
             FROM conversation_sessions WHERE contact_id = $1 ORDER BY opened_at DESC"#,
        id
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(Contact {
        id: row.id,
        display_name: row.display_name,
        tags: row.tags,
        custom_attributes: row.custom_attributes,
        merged_into: row.merged_into,
        opted_out_at: row.opted_out_at,
        language: row.language,
        created_at: row.created_at,
        updated_at: row.updated_at,
        identities,
        deals,
        conversations,
    })
}

/// A contact that exists for the caller and has not been merged away, locked for the change.
async fn lock_contact(tx: &mut Transaction<'static, Postgres>, id: Uuid) -> Result<(), ApiError> {
    let merged_into = sqlx::query_scalar!(
        "SELECT merged_into FROM contacts WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut **tx)
    .await?;
    match merged_into {
        None => Err(ApiError::NotFound(format!("contact {id} not found"))),
        Some(Some(into)) => Err(ApiError::Conflict(format!(
            "contact {id} was merged into {into}"
        ))),
        Some(None) => Ok(()),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityInput {
    pub channel_id: Uuid,
    /// `wa_user` (`5511…@c.us`), `wa_lid` (`…@lid`), `psid` or `igsid`.
    #[schema(value_type = IdentityKind)]
    pub kind: String,
    pub external_id: String,
}

/// Whether an address of this kind, written like this, can exist on a channel of this kind.
fn fits(channel_kind: &str, kind: Option<IdentityKind>, external_id: &str) -> bool {
    match (channel_kind, kind) {
        ("waha", Some(IdentityKind::WaUser)) => {
            classify_chat_id(external_id).1 == ChatKind::User && external_id.ends_with("@c.us")
        }
        ("waha", Some(IdentityKind::WaLid)) => classify_chat_id(external_id).1 == ChatKind::Lid,
        ("messenger", Some(IdentityKind::Psid)) | ("instagram", Some(IdentityKind::Igsid)) => {
            !external_id.is_empty()
                && external_id.len() <= 64
                && external_id.chars().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

/// Adds an identity after checking the channel is the caller's and the address fits its kind.
async fn insert_identity(
    tx: &mut Transaction<'static, Postgres>,
    tenant_id: Uuid,
    contact_id: Uuid,
    identity: &IdentityInput,
) -> Result<Uuid, ApiError> {
    // Under RLS another tenant's channel is simply not found (foreign keys alone would accept it).
    let channel_kind = sqlx::query_scalar!(
        "SELECT kind FROM channels WHERE id = $1",
        identity.channel_id
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| {
        ApiError::Unprocessable(format!("channel {} does not exist", identity.channel_id))
    })?;
    let external_id = identity.external_id.trim();
    let kind = IdentityKind::parse(&identity.kind);
    let Some(kind) = kind.filter(|_| fits(&channel_kind, kind, external_id)) else {
        return Err(ApiError::Unprocessable(format!(
            "identity kind {:?} with this external_id does not fit a {channel_kind} channel (wa_user: digits@c.us, wa_lid: digits@lid, psid/igsid: digits)",
            identity.kind
        )));
    };
    let id = Uuid::now_v7();
    let inserted = sqlx::query!(
        "INSERT INTO contact_identities (id, tenant_id, contact_id, channel_id, kind, external_id) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (channel_id, external_id) DO NOTHING",
        id,
        tenant_id,
        contact_id,
        identity.channel_id,
        kind.as_str(),
        external_id,
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(ApiError::Conflict(
            "this address already belongs to a contact on this channel; merge the contacts instead"
                .into(),
        ));
    }
    Ok(id)
}

fn valid_tags(tags: &[String]) -> Result<Vec<String>, ApiError> {
    if tags.len() > 50 {
        return Err(ApiError::Unprocessable("at most 50 tags".into()));
    }
    let mut out: Vec<String> = tags
        .iter()
        .map(|t| required_text(t, "tag", 64))
        .collect::<Result<_, _>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

fn valid_attributes(attributes: &Map<String, Value>) -> Result<(), ApiError> {
    if attributes.len() > 100
        || attributes
            .keys()
            .any(|k| k.is_empty() || k.chars().count() > 64 || k.contains('\0'))
    {
        return Err(ApiError::Unprocessable(
            "custom_attributes: at most 100 keys of 1 to 64 characters".into(),
        ));
    }
    if serde_json::to_string(attributes).map_or(usize::MAX, |s| s.len()) > 16 * 1024
        || attributes
            .values()
            .any(|v| v.to_string().contains("\\u0000"))
    {
        return Err(ApiError::Unprocessable(
            "custom_attributes must be under 16 KiB of text".into(),
        ));
    }
    Ok(())
}
