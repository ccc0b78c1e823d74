//! Contacts: CRUD, search, tags, custom attributes, channel identities, and merging two contacts
//! (a ContactMerge workflow, so a merge interrupted by a crash finishes instead of half-happening).
//! Changes are written with their outbox events (`contact.created`, `contact.updated`,
//! `contact.tagged`, …) in the same transaction.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sqlx::{Postgres, Transaction};
use temporalio_client::{WorkflowIdConflictPolicy, WorkflowStartOptions};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use ventros_activities::store::append_outbox;
use ventros_channels::waha::{ChatKind, classify_chat_id};
use ventros_domain::EventType;
use ventros_workflows::{ContactMerge, ContactMergeInput, ids};

use super::{optional_text, required_text};
use crate::auth::{AsAdmin, AsAgent, Authorized, Principal};
use crate::db::{Sort, execute_found, fetch_one_json, fetch_page, page_limit, tenant_tx};
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::{AppState, parse_id};

/// The JSON of a contact, with identities; `$1` is the contact id.
const CONTACT_JSON: &str = "SELECT jsonb_build_object(
        'id', c.id, 'display_name', c.display_name, 'tags', c.tags, 'custom_attributes', c.custom_attributes,
        'merged_into', c.merged_into, 'opted_out_at', c.opted_out_at, 'language', c.language, 'created_at', c.created_at, 'updated_at', c.updated_at,
        'identities', coalesce((SELECT jsonb_agg(jsonb_build_object('id', i.id, 'channel_id', i.channel_id, 'kind', i.kind,
                                                                    'external_id', i.external_id, 'created_at', i.created_at) ORDER BY i.created_at)
                                  FROM contact_identities i WHERE i.contact_id = c.id), '[]'::jsonb),
        'deals', coalesce((SELECT jsonb_agg(jsonb_build_object('id', d.id, 'title', d.title, 'status', d.status, 'pipeline_id', d.pipeline_id,
                                                               'stage_id', d.stage_id) ORDER BY d.created_at)
                             FROM deals d WHERE d.contact_id = c.id), '[]'::jsonb),
        'conversations', coalesce((SELECT jsonb_agg(jsonb_build_object('id', s.id, 'channel_id', s.channel_id, 'status', s.status,
                                                                       'opened_at', s.opened_at, 'closed_at', s.closed_at) ORDER BY s.opened_at DESC)
                                     FROM conversation_sessions s WHERE s.contact_id = c.id), '[]'::jsonb))
    FROM contacts c WHERE c.id = $1";

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
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
}

fn like_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Lists and searches contacts (merged contacts are left out).
#[utoipa::path(get, path = "/api/v1/contacts", tag = "contacts", params(ContactListQuery),
    responses((status = 200, description = "A page of contacts", body = Value), (status = 400, description = "Bad filter, sort or cursor")))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ContactListQuery>,
) -> Result<Json<Value>, ApiError> {
    let sort = Sort::parse(q.sort.as_deref(), &["created_at", "updated_at"], true)?;
    let limit = page_limit(q.limit)?;
    let text = |v: &Option<String>, field: &str| optional_text(v.as_deref(), field, 200);
    let (search, tag) = (text(&q.q, "q")?, text(&q.tag, "tag")?);
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
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let page = fetch_page(&mut tx, sort, q.cursor.as_deref(), limit, |qb| {
        qb.push(
            "SELECT c.id, c.display_name, c.tags, c.custom_attributes, c.opted_out_at, c.created_at, c.updated_at,
                    coalesce((SELECT jsonb_agg(jsonb_build_object('channel_id', i.channel_id, 'kind', i.kind, 'external_id', i.external_id))
                                FROM contact_identities i WHERE i.contact_id = c.id), '[]'::jsonb) AS identities
               FROM contacts c WHERE c.merged_into IS NULL",
        );
        if let Some(search) = search {
            let pattern = like_pattern(&search);
            qb.push(" AND (c.display_name ILIKE ").push_bind(pattern.clone());
            qb.push(" OR EXISTS (SELECT 1 FROM contact_identities i WHERE i.contact_id = c.id AND i.external_id ILIKE ").push_bind(pattern).push("))");
        }
        if let Some(phone) = phone {
            qb.push(" AND EXISTS (SELECT 1 FROM contact_identities i WHERE i.contact_id = c.id AND i.kind = 'wa_user' AND i.external_id LIKE ")
                .push_bind(format!("{phone}%"))
                .push(")");
        }
        if let Some(tag) = tag {
            qb.push(" AND c.tags @> ARRAY[").push_bind(tag).push("]::text[]");
        }
        if let Some(attribute) = attribute {
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
pub struct IdentityInput {
    pub channel_id: Uuid,
    /// `wa_user` (`5511…@c.us`), `wa_lid` (`…@lid`), `psid` or `igsid`.
    pub kind: String,
    pub external_id: String,
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

/// Adds an identity after checking the channel is the caller's and the address fits its kind.
async fn insert_identity(
    tx: &mut Transaction<'static, Postgres>,
    tenant_id: Uuid,
    contact_id: Uuid,
    identity: &IdentityInput,
) -> Result<Uuid, ApiError> {
    // Under RLS another tenant's channel is simply not found (foreign keys alone would accept it).
    let channel_kind: Option<String> =
        sqlx::query_scalar("SELECT kind FROM channels WHERE id = $1")
            .bind(identity.channel_id)
            .fetch_optional(&mut **tx)
            .await?;
    let channel_kind = channel_kind.ok_or_else(|| {
        ApiError::Unprocessable(format!("channel {} does not exist", identity.channel_id))
    })?;
    let external_id = identity.external_id.trim();
    let fits = match (channel_kind.as_str(), identity.kind.as_str()) {
        ("waha", "wa_user") => {
            classify_chat_id(external_id).1 == ChatKind::User && external_id.ends_with("@c.us")
        }
        ("waha", "wa_lid") => classify_chat_id(external_id).1 == ChatKind::Lid,
        ("messenger", "psid") | ("instagram", "igsid") => {
            !external_id.is_empty()
                && external_id.len() <= 64
                && external_id.chars().all(|c| c.is_ascii_digit())
        }
        _ => false,
    };
    if !fits {
        return Err(ApiError::Unprocessable(format!(
            "identity kind {:?} with this external_id does not fit a {channel_kind} channel (wa_user: digits@c.us, wa_lid: digits@lid, psid/igsid: digits)",
            identity.kind
        )));
    }
    let id = Uuid::now_v7();
    let inserted = sqlx::query(
        "INSERT INTO contact_identities (id, tenant_id, contact_id, channel_id, kind, external_id) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (channel_id, external_id) DO NOTHING",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(contact_id)
    .bind(identity.channel_id)
    .bind(&identity.kind)
    .bind(external_id)
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

async fn contact_json(
    tx: &mut Transaction<'static, Postgres>,
    id: Uuid,
) -> Result<Value, ApiError> {
    fetch_one_json(tx, sqlx::query(CONTACT_JSON).bind(id), || {
        format!("contact {id}")
    })
    .await
}

/// A contact that exists for the caller and has not been merged away, locked for the change.
async fn lock_contact(tx: &mut Transaction<'static, Postgres>, id: Uuid) -> Result<(), ApiError> {
    let merged_into: Option<Option<Uuid>> =
        sqlx::query_scalar("SELECT merged_into FROM contacts WHERE id = $1 FOR UPDATE")
            .bind(id)
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

/// Creates a contact, optionally with tags, attributes and channel identities.
#[utoipa::path(post, path = "/api/v1/contacts", tag = "contacts", request_body = CreateContact,
    responses((status = 201, description = "The contact", body = Value), (status = 409, description = "An identity belongs to another contact"),
              (status = 422, description = "Invalid fields")))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    ApiJson(req): ApiJson<CreateContact>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let display_name = optional_text(req.display_name.as_deref(), "display_name", 200)?;
    let tags = valid_tags(&req.tags)?;
    valid_attributes(&req.custom_attributes)?;
    if req.identities.len() > 20 {
        return Err(ApiError::Unprocessable("at most 20 identities".into()));
    }
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO contacts (id, tenant_id, display_name, tags, custom_attributes) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(principal.tenant_id)
        .bind(&display_name)
        .bind(&tags)
        .bind(Value::Object(req.custom_attributes.clone()))
        .execute(&mut *tx)
        .await?;
    for identity in &req.identities {
        insert_identity(&mut tx, principal.tenant_id, id, identity).await?;
    }
    append_outbox(
        &mut tx,
        principal.tenant_id,
        EventType::ContactCreated,
        "contact",
        id,
        json!({"contact_id": id, "source": "api"}),
    )
    .await?;
    if !req.custom_attributes.is_empty() || display_name.is_some() {
        let changes =
            json!({"custom_attributes": req.custom_attributes, "display_name": display_name});
        append_outbox(
            &mut tx,
            principal.tenant_id,
            EventType::ContactUpdated,
            "contact",
            id,
            json!({"contact_id": id, "changes": changes}),
        )
        .await?;
    }
    for tag in &tags {
        append_outbox(
            &mut tx,
            principal.tenant_id,
            EventType::ContactTagged,
            "contact",
            id,
            json!({"contact_id": id, "tag": tag}),
        )
        .await?;
    }
    let contact = contact_json(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(contact)))
}

/// A contact with identities, deals and conversations.
#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "contacts", params(("id" = String, Path)),
    responses((status = 200, description = "The contact", body = Value), (status = 404, description = "No such contact")))]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "contact")?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    Ok(Json(contact_json(&mut tx, id).await?))
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

/// Updates name, custom attributes (merge; `null` removes a key), tags (replace) and campaign
/// opt-out.
#[utoipa::path(patch, path = "/api/v1/contacts/{id}", tag = "contacts", params(("id" = String, Path)), request_body = UpdateContact,
    responses((status = 200, description = "The contact", body = Value), (status = 404, description = "No such contact")))]
pub async fn update(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateContact>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "contact")?;
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
    let old_tags: Vec<String> = sqlx::query_scalar("SELECT tags FROM contacts WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    if let Some(name) = &display_name {
        sqlx::query("UPDATE contacts SET display_name = $2 WHERE id = $1")
            .bind(id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(attributes) = &req.custom_attributes {
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
        sqlx::query("UPDATE contacts SET custom_attributes = (custom_attributes - $3::text[]) || $2 WHERE id = $1")
            .bind(id)
            .bind(Value::Object(set))
            .bind(&removed)
            .execute(&mut *tx)
            .await?;
        let size: i32 = sqlx::query_scalar(
            "SELECT octet_length(custom_attributes::text) FROM contacts WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if size > 32 * 1024 {
            return Err(ApiError::Unprocessable(
                "custom_attributes would exceed 32 KiB".into(),
            ));
        }
    }
    if let Some(tags) = &tags {
        sqlx::query("UPDATE contacts SET tags = $2 WHERE id = $1")
            .bind(id)
            .bind(tags)
            .execute(&mut *tx)
            .await?;
        for tag in tags.iter().filter(|t| !old_tags.contains(t)) {
            append_outbox(
                &mut tx,
                principal.tenant_id,
                EventType::ContactTagged,
                "contact",
                id,
                json!({"contact_id": id, "tag": tag}),
            )
            .await?;
        }
    }
    if let Some(opted_out) = req.opted_out {
        let changed = sqlx::query(
            "UPDATE contacts SET opted_out_at = CASE WHEN $2 THEN coalesce(opted_out_at, now()) ELSE NULL END
              WHERE id = $1 AND (opted_out_at IS NULL) = $2",
        )
        .bind(id)
        .bind(opted_out)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed > 0 {
            let event = if opted_out {
                EventType::ContactOptedOut
            } else {
                EventType::ContactOptedIn
            };
            append_outbox(
                &mut tx,
                principal.tenant_id,
                event,
                "contact",
                id,
                json!({"contact_id": id}),
            )
            .await?;
        }
    }
    if display_name.is_some() || req.custom_attributes.is_some() {
        let changes = json!({"custom_attributes": req.custom_attributes, "display_name": display_name.flatten()});
        append_outbox(
            &mut tx,
            principal.tenant_id,
            EventType::ContactUpdated,
            "contact",
            id,
            json!({"contact_id": id, "changes": changes}),
        )
        .await?;
    }
    let contact = contact_json(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(contact))
}

/// Deletes a contact and everything about it (identities, conversations, messages, deals,
/// memories): the right to be forgotten.
#[utoipa::path(delete, path = "/api/v1/contacts/{id}", tag = "contacts", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such contact")))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "contact")?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let open_merge: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM contact_merges WHERE status = 'running' AND (source_contact_id = $1 OR target_contact_id = $1))")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    if open_merge {
        return Err(ApiError::Conflict(
            "the contact is being merged; retry when the merge completes".into(),
        ));
    }
    // Tombstones that point here go with it.
    sqlx::query("DELETE FROM contacts WHERE merged_into = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    execute_found(
        &mut tx,
        sqlx::query("DELETE FROM contacts WHERE id = $1").bind(id),
        || format!("contact {id}"),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagBody {
    pub tag: String,
}

/// Adds a tag.
#[utoipa::path(post, path = "/api/v1/contacts/{id}/tags", tag = "contacts", params(("id" = String, Path)), request_body = TagBody,
    responses((status = 200, description = "The contact", body = Value), (status = 404, description = "No such contact")))]
pub async fn add_tag(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TagBody>,
) -> Result<Json<Value>, ApiError> {
    let tag = required_text(&req.tag, "tag", 64)?;
    change_tag(&state, principal, &id, &tag, true).await
}

/// Removes a tag.
#[utoipa::path(delete, path = "/api/v1/contacts/{id}/tags/{tag}", tag = "contacts", params(("id" = String, Path), ("tag" = String, Path)),
    responses((status = 200, description = "The contact", body = Value), (status = 404, description = "No such contact")))]
pub async fn remove_tag(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    change_tag(&state, principal, &id, &tag, false).await
}

/// Adds or removes one tag; only a real change writes `contact.tagged` / `contact.untagged`.
async fn change_tag(
    state: &AppState,
    principal: Principal,
    id: &str,
    tag: &str,
    add: bool,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(id, "contact")?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    lock_contact(&mut tx, id).await?;
    let (sql, event) = if add {
        (
            "UPDATE contacts SET tags = array_append(tags, $2) WHERE id = $1 AND NOT tags @> ARRAY[$2]::text[] AND cardinality(tags) < 50",
            EventType::ContactTagged,
        )
    } else {
        (
            "UPDATE contacts SET tags = array_remove(tags, $2) WHERE id = $1 AND tags @> ARRAY[$2]::text[]",
            EventType::ContactUntagged,
        )
    };
    let changed = sqlx::query(sql)
        .bind(id)
        .bind(tag)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if changed > 0 {
        append_outbox(
            &mut tx,
            principal.tenant_id,
            event,
            "contact",
            id,
            json!({"contact_id": id, "tag": tag}),
        )
        .await?;
    }
    let contact = contact_json(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(contact))
}

/// Adds a channel identity (an address the contact has on a channel).
#[utoipa::path(post, path = "/api/v1/contacts/{id}/identities", tag = "contacts", params(("id" = String, Path)), request_body = IdentityInput,
    responses((status = 201, description = "The contact", body = Value), (status = 409, description = "The address belongs to another contact")))]
pub async fn add_identity(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<IdentityInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id, "contact")?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    lock_contact(&mut tx, id).await?;
    insert_identity(&mut tx, principal.tenant_id, id, &req).await?;
    let contact = contact_json(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(contact)))
}

/// Removes an identity that no conversation uses yet (one with history stays: merge instead).
#[utoipa::path(delete, path = "/api/v1/contacts/{id}/identities/{identity_id}", tag = "contacts",
    params(("id" = String, Path), ("identity_id" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such identity"), (status = 409, description = "The identity has conversations")))]
pub async fn remove_identity(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    Path((id, identity_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (id, identity_id) = (
        parse_id(&id, "contact")?,
        parse_id(&identity_id, "identity")?,
    );
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let used: Option<bool> = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM conversation_sessions s WHERE s.identity_id = i.id) FROM contact_identities i WHERE i.id = $1 AND i.contact_id = $2",
    )
    .bind(identity_id)
    .bind(id)
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
    sqlx::query("DELETE FROM contact_identities WHERE id = $1")
        .bind(identity_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The contact folded into this one (it remains as a tombstone pointing here).
    pub merge_contact_id: Uuid,
}

/// Merges another contact into this one: identities, conversations with their messages, deals
/// and memories move here. Runs as a ContactMerge workflow; poll the merge for its outcome.
/// Repeating the request while it runs returns the same merge.
#[utoipa::path(post, path = "/api/v1/contacts/{id}/merge", tag = "contacts", params(("id" = String, Path)), request_body = MergeBody,
    responses((status = 202, description = "Merge started (or already running)", body = Value), (status = 404, description = "No such contact"),
              (status = 409, description = "Already merged, or one of the contacts is in another merge")))]
pub async fn merge(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<MergeBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let target = parse_id(&id, "contact")?;
    let source = req.merge_contact_id;
    if source == target {
        return Err(ApiError::Unprocessable(
            "a contact cannot be merged into itself".into(),
        ));
    }
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    lock_contact(&mut tx, target).await?;
    lock_contact(&mut tx, source).await?;
    let running: Option<(Uuid, Uuid, Uuid)> = sqlx::query_as(
        "SELECT id, source_contact_id, target_contact_id FROM contact_merges
          WHERE status = 'running' AND (source_contact_id = ANY($1) OR target_contact_id = ANY($1)) LIMIT 1",
    )
    .bind([source, target])
    .fetch_optional(&mut *tx)
    .await?;
    let merge_id = match running {
        // The same request again (a client retry, or one whose workflow start failed): resume it.
        Some((id, s, t)) if s == source && t == target => id,
        Some(_) => {
            return Err(ApiError::Conflict(
                "one of these contacts is already being merged".into(),
            ));
        }
        None => {
            let id = Uuid::now_v7();
            sqlx::query(
                "INSERT INTO contact_merges (id, tenant_id, source_contact_id, target_contact_id, workflow_id, requested_by) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(principal.tenant_id)
            .bind(source)
            .bind(target)
            .bind(ids::contact_merge_workflow_id(principal.tenant_id, id))
            .bind(principal.label())
            .execute(&mut *tx)
            .await?;
            id
        }
    };
    // Commit, then start: the workflow never looks for a row that might still roll back. If the
    // start fails, the merge stays recorded and repeating the request starts it (same id).
    tx.commit().await?;
    let workflow_id = ids::contact_merge_workflow_id(principal.tenant_id, merge_id);
    let client = state.temporal.client().await?;
    let options = WorkflowStartOptions::new(state.config.task_queue.clone(), workflow_id.clone())
        .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
        .build();
    let input = ContactMergeInput {
        tenant_id: principal.tenant_id,
        merge_id,
    };
    match tokio::time::timeout(
        state.config.temporal_deadline,
        client.start_workflow(ContactMerge::run, input, options),
    )
    .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => {
            tracing::error!(error = %err, "starting ContactMerge failed");
            return Err(ApiError::Unavailable(
                "the merge is recorded but did not start; repeat the request".into(),
            ));
        }
        Err(_) => {
            return Err(ApiError::Unavailable(
                "Temporal did not answer in time; repeat the request".into(),
            ));
        }
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({"id": merge_id, "status": "running", "source_contact_id": source, "target_contact_id": target, "workflow": state.config.workflow_link(&workflow_id)}),
        ),
    ))
}

/// A merge and what it moved.
#[utoipa::path(get, path = "/api/v1/contact-merges/{id}", tag = "contacts", params(("id" = String, Path)),
    responses((status = 200, description = "The merge", body = Value), (status = 404, description = "No such merge")))]
pub async fn show_merge(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "merge")?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let mut merge = fetch_one_json(
        &mut tx,
        sqlx::query(
            "SELECT jsonb_build_object('id', id, 'status', status, 'source_contact_id', source_contact_id, 'target_contact_id', target_contact_id,
                                       'moved', moved, 'requested_by', requested_by, 'workflow_id', workflow_id, 'created_at', created_at, 'completed_at', completed_at)
               FROM contact_merges WHERE id = $1",
        )
        .bind(id),
        || format!("merge {id}"),
    )
    .await?;
    let workflow_id = merge["workflow_id"].as_str().unwrap_or_default().to_owned();
    merge["workflow"] = state.config.workflow_link(&workflow_id);
    Ok(Json(merge))
}
