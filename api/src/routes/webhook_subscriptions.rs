//! Outbound webhook subscriptions (admin): a URL, the event types it wants, and a signing secret
//! (shown once). Every delivery is visible with its attempts and last outcome, and a failed one can
//! be redelivered. Deliveries themselves are WebhookDelivery workflows run by the worker.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use ventros_activities::outbound_webhooks::{RetrySchedule, new_secret, start_delivery};
use ventros_domain::EventType;

use super::optional_text;
use crate::auth::{AsAdmin, Authorized};
use crate::db::{Sort, execute_found, fetch_one_json, fetch_page, page_limit, tenant_tx};
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::{AppState, parse_id};

/// The event types a subscription can name (or `*` for all of them): the public ones of
/// [`EventType`], the one definition.
fn subscribable() -> Vec<&'static str> {
    EventType::subscribable_types()
        .map(EventType::as_str)
        .collect()
}

const SUBSCRIPTION_JSON: &str = "SELECT jsonb_build_object('id', s.id, 'url', s.url, 'event_types', s.event_types, 'description', s.description,
        'active', s.active, 'created_at', s.created_at, 'updated_at', s.updated_at,
        'deliveries', (SELECT jsonb_build_object('total', count(*), 'delivered', count(*) FILTER (WHERE d.status = 'delivered'),
                                                 'failed', count(*) FILTER (WHERE d.status = 'failed'),
                                                 'pending', count(*) FILTER (WHERE d.status IN ('pending', 'retrying')),
                                                 'last_attempt_at', max(d.last_attempt_at))
                         FROM webhook_deliveries d WHERE d.subscription_id = s.id))
    FROM webhook_subscriptions s";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscription {
    /// `https://…` (or `http://` for development).
    pub url: String,
    /// Event types, or `["*"]`.
    pub event_types: Vec<String>,
    pub description: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSubscription {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    pub active: Option<bool>,
}

/// An absolute http(s) URL that the network policy allows (no private literal address, no
/// credentials): refused here rather than only at delivery time.
fn valid_url(state: &AppState, url: &str) -> Result<String, ApiError> {
    let url = url.trim();
    if url.len() > 2000 {
        return Err(ApiError::Unprocessable(
            "url must be an absolute http(s) URL of at most 2000 characters".into(),
        ));
    }
    state
        .config
        .webhook_network
        .check_url(url, "url")
        .map_err(|e| ApiError::Unprocessable(format!("{e} (receivers must be public)")))?;
    Ok(url.to_owned())
}

fn valid_event_types(types: &[String]) -> Result<Vec<String>, ApiError> {
    let known = subscribable();
    if types.is_empty() || types.len() > known.len() + 1 {
        return Err(ApiError::Unprocessable(
            "event_types must list at least one event type, or \"*\"".into(),
        ));
    }
    let mut out = Vec::new();
    for t in types {
        if t != "*" && !known.contains(&t.as_str()) {
            return Err(ApiError::Unprocessable(format!(
                "unknown event type {t:?}; known: {}",
                known.join(", ")
            )));
        }
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    Ok(out)
}

/// Lists subscriptions with delivery counts.
#[utoipa::path(get, path = "/api/v1/webhook-subscriptions", tag = "webhooks", responses((status = 200, description = "Subscriptions", body = Value)))]
pub async fn list(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
) -> Result<Json<Value>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let items: Vec<Value> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "{SUBSCRIPTION_JSON} ORDER BY s.created_at"
    )))
    .fetch_all(&mut *tx)
    .await?;
    Ok(Json(
        json!({ "items": items, "event_types": subscribable() }),
    ))
}

/// Subscribes a URL; the response carries the signing secret, shown only this once.
#[utoipa::path(post, path = "/api/v1/webhook-subscriptions", tag = "webhooks", request_body = CreateSubscription,
    responses((status = 201, description = "The subscription with its secret", body = Value), (status = 422, description = "Bad URL or event type")))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    ApiJson(req): ApiJson<CreateSubscription>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let url = valid_url(&state, &req.url)?;
    let event_types = valid_event_types(&req.event_types)?;
    let description = optional_text(req.description.as_deref(), "description", 500)?;
    let (id, secret) = (Uuid::now_v7(), new_secret());
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    sqlx::query("INSERT INTO webhook_subscriptions (id, tenant_id, url, event_types, secret, description) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(principal.tenant_id)
        .bind(&url)
        .bind(&event_types)
        .bind(&secret)
        .bind(&description)
        .execute(&mut *tx)
        .await?;
    let mut subscription = fetch_one_json(
        &mut tx,
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SUBSCRIPTION_JSON} WHERE s.id = $1"
        )))
        .bind(id),
        || format!("subscription {id}"),
    )
    .await?;
    tx.commit().await?;
    subscription["secret"] = json!(secret);
    Ok((StatusCode::CREATED, Json(subscription)))
}

/// A subscription.
#[utoipa::path(get, path = "/api/v1/webhook-subscriptions/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, description = "The subscription", body = Value), (status = 404, description = "No such subscription")))]
pub async fn show(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "subscription")?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    Ok(Json(
        fetch_one_json(
            &mut tx,
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{SUBSCRIPTION_JSON} WHERE s.id = $1"
            )))
            .bind(id),
            || format!("subscription {id}"),
        )
        .await?,
    ))
}

/// Changes URL, event types, description, or pauses/resumes the subscription.
#[utoipa::path(patch, path = "/api/v1/webhook-subscriptions/{id}", tag = "webhooks", params(("id" = String, Path)), request_body = UpdateSubscription,
    responses((status = 200, description = "The subscription", body = Value), (status = 404, description = "No such subscription")))]
pub async fn update(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateSubscription>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "subscription")?;
    let url = req
        .url
        .as_deref()
        .map(|u| valid_url(&state, u))
        .transpose()?;
    let event_types = req
        .event_types
        .as_deref()
        .map(valid_event_types)
        .transpose()?;
    let description = optional_text(req.description.as_deref(), "description", 500)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let change = sqlx::query(
        "UPDATE webhook_subscriptions SET url = coalesce($2, url), event_types = coalesce($3, event_types),
                description = coalesce($4, description), active = coalesce($5, active) WHERE id = $1",
    )
    .bind(id)
    .bind(url)
    .bind(event_types)
    .bind(description)
    .bind(req.active);
    execute_found(&mut tx, change, || format!("subscription {id}")).await?;
    let subscription = fetch_one_json(
        &mut tx,
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SUBSCRIPTION_JSON} WHERE s.id = $1"
        )))
        .bind(id),
        || format!("subscription {id}"),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(subscription))
}

/// Deletes a subscription and its delivery records.
#[utoipa::path(delete, path = "/api/v1/webhook-subscriptions/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such subscription")))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "subscription")?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    execute_found(
        &mut tx,
        sqlx::query("DELETE FROM webhook_subscriptions WHERE id = $1").bind(id),
        || format!("subscription {id}"),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryListQuery {
    /// `pending`, `retrying`, `delivered` or `failed`.
    pub status: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
}

const DELIVERY_COLUMNS: &str = "d.id, d.subscription_id, d.event_id, d.event_type, d.status, d.attempts, d.last_status_code, d.last_error,
    d.last_attempt_at, d.delivered_at, d.workflow_id, d.created_at";

/// The subscription's deliveries, newest first.
#[utoipa::path(get, path = "/api/v1/webhook-subscriptions/{id}/deliveries", tag = "webhooks", params(("id" = String, Path), DeliveryListQuery),
    responses((status = 200, description = "A page of deliveries", body = Value), (status = 404, description = "No such subscription")))]
pub async fn deliveries(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DeliveryListQuery>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "subscription")?;
    if q.status
        .as_deref()
        .is_some_and(|s| !matches!(s, "pending" | "retrying" | "delivered" | "failed"))
    {
        return Err(ApiError::BadRequest(
            "status must be pending, retrying, delivered or failed".into(),
        ));
    }
    let limit = page_limit(q.limit)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM webhook_subscriptions WHERE id = $1)")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    if !exists {
        return Err(ApiError::NotFound(format!("subscription {id} not found")));
    }
    let mut page = fetch_page(
        &mut tx,
        Sort {
            column: "created_at",
            descending: true,
        },
        q.cursor.as_deref(),
        limit,
        |qb| {
            qb.push("SELECT ")
                .push(DELIVERY_COLUMNS)
                .push(" FROM webhook_deliveries d WHERE d.subscription_id = ")
                .push_bind(id);
            if let Some(status) = q.status {
                qb.push(" AND d.status = ").push_bind(status);
            }
        },
    )
    .await?;
    if let Some(items) = page["items"].as_array_mut() {
        for item in items.iter_mut() {
            let workflow_id = item["workflow_id"].as_str().unwrap_or_default().to_owned();
            item["workflow"] = state.config.workflow_link(&workflow_id);
        }
    }
    Ok(Json(page))
}

/// Sends a delivery again (same delivery id, so receivers still deduplicate). A delivery still
/// being retried is left to its schedule.
#[utoipa::path(post, path = "/api/v1/webhook-deliveries/{id}/redeliver", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 202, description = "Redelivery started", body = Value), (status = 404, description = "No such delivery")))]
pub async fn redeliver(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id, "delivery")?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let workflow_id: Option<String> = sqlx::query_scalar("UPDATE webhook_deliveries SET status = CASE WHEN status = 'failed' THEN 'pending' ELSE status END WHERE id = $1 RETURNING workflow_id")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let workflow_id =
        workflow_id.ok_or_else(|| ApiError::NotFound(format!("delivery {id} not found")))?;
    tx.commit().await?;
    let client = state.temporal.client().await?;
    start_delivery(
        &client,
        &state.config.task_queue,
        RetrySchedule::default(),
        principal.tenant_id,
        id,
    )
    .await
    .map_err(|err| {
        tracing::error!(error = %err, "starting a redelivery failed");
        ApiError::Unavailable("could not start the redelivery; retry".into())
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "workflow": state.config.workflow_link(&workflow_id)})),
    ))
}
