//! The contact record: search, create, read, update (name, attributes, tags, opt-out), delete.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sqlx::types::Json as Jsonb;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use ventros_domain::{EventType, IdentityKind, MergeStatus};
use ventros_store::append_outbox;

use super::{
    Contact, IdentityInput, fetch_contact, insert_identity, lock_contact, valid_attributes,
    valid_tags,
};
use crate::AppState;
use crate::auth::{AsAdmin, AsAgent, Authorized, Principal};
use crate::db::{
    Page, Sort, execute_found, fetch_page_as, page_limit, retry_on_deadlock, tenant_tx,
};
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::ids::Id;
use crate::routes::optional_text;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactListQuery {
    /// Name, phone or any identity contains this text.
    pub q: Option<String>,
    /// Digits of a phone number (a prefix of a WhatsApp identity).
    pub phone: Option<String>,
    /// Has this tag.
    pub tag: Option<String>,
    /// `key:value`: a custom attribute equals the value.
    pub attribute: Option<String>,
    /// Has an identity on this channel.
    pub channel_id: Option<Uuid>,
    /// `created_at`, `updated_at`; `-` prefix for descending (default `-created_at`).
    pub sort: Option<String>,
    /// Continue a list: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

fn like_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// An address of a contact in a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IdentityRef {
    pub channel_id: Uuid,
    pub kind: IdentityKind,
    pub external_id: String,
}

/// A contact in a list.
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct ContactSummary {
    pub id: Uuid,
    #[schema(required = true)]
    pub display_name: Option<String>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub custom_attributes: Value,
    #[schema(required = true)]
    pub opted_out_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When their latest conversation last moved; null if they never talked.
    #[schema(required = true)]
    pub last_activity_at: Option<DateTime<Utc>>,
    #[schema(value_type = Vec<IdentityRef>)]
    pub identities: Jsonb<Vec<IdentityRef>>,
}

/// The list's filters, checked.
struct Filters {
    search: Option<String>,
    tag: Option<String>,
    phone: Option<String>,
    attribute: Option<Value>,
}

impl Filters {
    fn parse(q: &ContactListQuery) -> Result<Filters, ApiError> {
        let text = |v: &Option<String>, field: &str| optional_text(v.as_deref(), field, 200);
        let phone = match text(&q.phone, "phone")? {
            Some(p) => {
                let digits: String = p.chars().filter(char::is_ascii_digit).collect();
                if digits.is_empty() {
                    return Err(ApiError::BadRequest("phone must contain digits".into()));
                }
                Some(digits)
            }
            None => None,
        };
        let attribute = match text(&q.attribute, "attribute")? {
            Some(a) => {
                let (key, value) = a
                    .split_once(':')
                    .ok_or_else(|| ApiError::BadRequest("attribute must be key:value".into()))?;
                Some(json!({ key.trim(): value.trim() }))
            }
            None => None,
        };
        Ok(Filters {
            search: text(&q.q, "q")?,
            tag: text(&q.tag, "tag")?,
            phone,
            attribute,
        })
    }
}

/// Lists and searches contacts (merged contacts are left out).
#[utoipa::path(get, path = "/api/v1/contacts", tag = "contacts", params(ContactListQuery),
    responses((status = 200, description = "A page of contacts", body = Page<ContactSummary>), (status = 400, description = "Bad filter, sort or cursor")))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ContactListQuery>,
) -> Result<Json<Page<ContactSummary>>, ApiError> {
    let sort = Sort::parse(q.sort.as_deref(), &["created_at", "updated_at"], true)?;
    let limit = page_limit(q.limit)?;
    let filters = Filters::parse(&q)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let page = fetch_page_as(&mut tx, sort, q.cursor.as_deref(), limit, |qb| {
        qb.push(
            "SELECT c.id, c.display_name, c.tags, c.custom_attributes, c.opted_out_at, c.created_at, c.updated_at,
                    (SELECT max(s.last_activity_at) FROM conversation_sessions s WHERE s.contact_id = c.id) AS last_activity_at,
                    coalesce((SELECT jsonb_agg(jsonb_build_object('channel_id', i.channel_id, 'kind', i.kind, 'external_id', i.external_id))
                                FROM contact_identities i WHERE i.contact_id = c.id), '[]'::jsonb) AS identities
               FROM contacts c WHERE c.merged_into IS NULL",
        );
        if let Some(search) = filters.search {
            let pattern = like_pattern(&search);
            qb.push(" AND (c.display_name ILIKE ").push_bind(pattern.clone());
            qb.push(" OR EXISTS (SELECT 1 FROM contact_identities i WHERE i.contact_id = c.id AND i.external_id ILIKE ").push_bind(pattern).push("))");
        }
        if let Some(phone) = filters.phone {
            qb.push(" AND EXISTS (SELECT 1 FROM contact_identities i WHERE i.contact_id = c.id AND i.kind = 'wa_user' AND i.external_id LIKE ")
                .push_bind(format!("{phone}%"))
                .push(")");
        }
        if let Some(tag) = filters.tag {
            qb.push(" AND c.tags @> ARRAY[").push_bind(tag).push("]::text[]");
        }
        if let Some(attribute) = filters.attribute {
            qb.push(" AND c.custom_attributes @> ").push_bind(attribute);
        }
        if let Some(channel_id) = q.channel_id {
            qb.push(" AND EXISTS (SELECT 1 FROM contact_identities i WHERE i.contact_id = c.id AND i.channel_id = ").push_bind(channel_id).push(")");
        }
    })
    .await?;
    Ok(Json(page))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContact {
    pub display_name: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom_attributes: Map<String, Value>,
    #[serde(default)]
    pub identities: Vec<IdentityInput>,
}

/// Creates a contact, optionally with tags, attributes and channel identities.
#[utoipa::path(post, path = "/api/v1/contacts", tag = "contacts", request_body = CreateContact,
    responses((status = 201, description = "The contact", body = Contact), (status = 409, description = "An identity belongs to another contact"),
              (status = 422, description = "Invalid fields")))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    ApiJson(req): ApiJson<CreateContact>,
) -> Result<(StatusCode, Json<Contact>), ApiError> {
    let display_name = optional_text(req.display_name.as_deref(), "display_name", 200)?;
    let tags = valid_tags(&req.tags)?;
    valid_attributes(&req.custom_attributes)?;
    if req.identities.len() > 20 {
        return Err(ApiError::Unprocessable("at most 20 identities".into()));
    }
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO contacts (id, tenant_id, display_name, tags, custom_attributes) VALUES ($1, $2, $3, $4, $5)",
        id,
        principal.tenant_id,
        display_name,
        &tags,
        Value::Object(req.custom_attributes.clone()),
    )
    .execute(&mut *tx)
    .await?;
    for identity in &req.identities {
        insert_identity(&mut tx, principal.tenant_id, id, identity).await?;
    }
    let mut events = vec![(
        EventType::ContactCreated,
        json!({"contact_id": id, "source": "api"}),
    )];
    if !req.custom_attributes.is_empty() || display_name.is_some() {
        let changes =
            json!({"custom_attributes": req.custom_attributes, "display_name": display_name});
        events.push((
            EventType::ContactUpdated,
            json!({"contact_id": id, "changes": changes}),
        ));
    }
    events.extend(tags.iter().map(|tag| {
        (
            EventType::ContactTagged,
            json!({"contact_id": id, "tag": tag}),
        )
    }));
    for (event_type, payload) in events {
        append_outbox(
            &mut tx,
            principal.tenant_id,
            event_type,
            "contact",
            id,
            payload,
        )
        .await?;
    }
    let contact = fetch_contact(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(contact)))
}

/// A contact with identities, deals and conversations.
#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "contacts", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The contact", body = Contact), (status = 404, description = "No such contact")))]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<Contact>,
) -> Result<Json<Contact>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    Ok(Json(fetch_contact(&mut tx, id.get()).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateContact {
    /// A new name; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Option<String>>,
    /// Merged into the current attributes; a key set to `null` is removed.
    #[schema(value_type = Option<Object>)]
    pub custom_attributes: Option<Map<String, Value>>,
    /// Replaces the tags.
    pub tags: Option<Vec<String>>,
    /// The contact asked not to receive campaigns (true) or agreed again (false).
    pub opted_out: Option<bool>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// Merges attributes into the contact's (a `null` value removes the key), keeping the whole
/// under 32 KiB.
async fn merge_attributes(
    tx: &mut sqlx::PgConnection,
    id: Uuid,
    attributes: &Map<String, Value>,
) -> Result<(), ApiError> {
    let (set, removed): (Map<String, Value>, Vec<String>) = attributes.iter().fold(
        (Map::new(), Vec::new()),
        |(mut set, mut removed), (k, v)| {
            if v.is_null() {
                removed.push(k.clone());
            } else {
                set.insert(k.clone(), v.clone());
            }
            (set, removed)
        },
    );
    let size = sqlx::query_scalar!(
        r#"UPDATE contacts SET custom_attributes = (custom_attributes - $3::text[]) || $2 WHERE id = $1
           RETURNING octet_length(custom_attributes::text) AS "size!""#,
        id,
        Value::Object(set),
        &removed,
    )
    .fetch_one(&mut *tx)
    .await?;
    if size > 32 * 1024 {
        return Err(ApiError::Unprocessable(
            "custom_attributes would exceed 32 KiB".into(),
        ));
    }
    Ok(())
}

/// Updates name, custom attributes (merge; `null` removes a key), tags (replace) and campaign
/// opt-out.
#[utoipa::path(patch, path = "/api/v1/contacts/{id}", tag = "contacts", params(("id" = Uuid, Path)), request_body = UpdateContact,
    responses((status = 200, description = "The contact", body = Contact), (status = 404, description = "No such contact")))]
pub async fn update(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Contact>,
    ApiJson(req): ApiJson<UpdateContact>,
) -> Result<Json<Contact>, ApiError> {
    let id = id.get();
    let display_name = match &req.display_name {
        Some(name) => Some(optional_text(name.as_deref(), "display_name", 200)?),
        None => None,
    };
    if let Some(attributes) = &req.custom_attributes {
        valid_attributes(attributes)?;
    }
    let tags = req.tags.as_deref().map(valid_tags).transpose()?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    lock_contact(&mut tx, id).await?;
    let old_tags = sqlx::query_scalar!("SELECT tags FROM contacts WHERE id = $1", id)
        .fetch_one(&mut *tx)
        .await?;
    let mut events = Vec::new();
    if let Some(name) = &display_name {
        sqlx::query!(
            "UPDATE contacts SET display_name = $2 WHERE id = $1",
            id,
            name.as_deref()
        )
        .execute(&mut *tx)
        .await?;
    }
    if let Some(attributes) = &req.custom_attributes {
        merge_attributes(&mut tx, id, attributes).await?;
    }
    if let Some(tags) = &tags {
        sqlx::query!("UPDATE contacts SET tags = $2 WHERE id = $1", id, tags)
            .execute(&mut *tx)
            .await?;
        for tag in tags.iter().filter(|t| !old_tags.contains(t)) {
            events.push((
                EventType::ContactTagged,
                json!({"contact_id": id, "tag": tag}),
            ));
        }
    }
    if let Some(opted_out) = req.opted_out {
        let changed = sqlx::query!(
            "UPDATE contacts SET opted_out_at = CASE WHEN $2 THEN coalesce(opted_out_at, now()) ELSE NULL END
              WHERE id = $1 AND (opted_out_at IS NULL) = $2",
            id,
            opted_out,
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed > 0 {
            let event = if opted_out {
                EventType::ContactOptedOut
            } else {
                EventType::ContactOptedIn
            };
            events.push((event, json!({"contact_id": id})));
        }
    }
    if display_name.is_some() || req.custom_attributes.is_some() {
        let changes = json!({"custom_attributes": req.custom_attributes, "display_name": display_name.flatten()});
        events.push((
            EventType::ContactUpdated,
            json!({"contact_id": id, "changes": changes}),
        ));
    }
    for (event_type, payload) in events {
        append_outbox(
            &mut tx,
            principal.tenant_id,
            event_type,
            "contact",
            id,
            payload,
        )
        .await?;
    }
    let contact = fetch_contact(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(contact))
}

/// Deletes a contact and everything about it (identities, conversations, messages, deals,
/// memories): the right to be forgotten.
#[utoipa::path(delete, path = "/api/v1/contacts/{id}", tag = "contacts", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such contact")))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    id: Id<Contact>,
) -> Result<StatusCode, ApiError> {
    // Memory ingestion may be writing the contact's rows while the cascade deletes them.
    retry_on_deadlock(|| delete_once(&state, principal.tenant_id, id.get())).await
}

async fn delete_once(state: &AppState, tenant_id: Uuid, id: Uuid) -> Result<StatusCode, ApiError> {
    let mut tx = tenant_tx(&state.pool, tenant_id).await?;
    let open_merge = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM contact_merges WHERE status = $2 AND (source_contact_id = $1 OR target_contact_id = $1)) AS "open!""#,
        id,
        MergeStatus::Running.as_str(),
    )
    .fetch_one(&mut *tx)
    .await?;
    if open_merge {
        return Err(ApiError::Conflict(
            "the contact is being merged; retry when the merge completes".into(),
        ));
    }
    // Tombstones that point here go with it.
    sqlx::query!("DELETE FROM contacts WHERE merged_into = $1", id)
        .execute(&mut *tx)
        .await?;
    execute_found(
        &mut tx,
        sqlx::query!("DELETE FROM contacts WHERE id = $1", id),
        || format!("contact {id}"),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
