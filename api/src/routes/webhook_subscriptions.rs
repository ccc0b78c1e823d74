//! Outbound webhook subscriptions (admin): a URL, the event types it wants, and a signing secret
//! (shown once). Every delivery is visible with its attempts and last outcome, and a failed one can
//! be redelivered. Deliveries themselves are WebhookDelivery workflows run by the worker.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json as Jsonb;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use ventros_activities::outbound_webhooks::{RetrySchedule, new_secret, start_delivery};
use ventros_domain::{EventType, WebhookDeliveryStatus};

use super::optional_text;
use crate::auth::{AsAdmin, Authorized};
use crate::db::{Page, Sort, execute_found, fetch_page_as, page_limit, tenant_tx};
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::ids::Id;
use crate::{AppState, TemporalLink};

/// The event types a subscription can name (or `*` for all of them): the public ones of
/// [`EventType`], the one definition.
fn subscribable() -> Vec<&'static str> {
    EventType::subscribable_types()
        .map(EventType::as_str)
        .collect()
}

/// How a subscription's deliveries went.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryCounts {
    pub total: i64,
    pub delivered: i64,
    pub failed: i64,
    /// Waiting for their first attempt or a retry.
    pub pending: i64,
    #[schema(required = true)]
    pub last_attempt_at: Option<DateTime<Utc>>,
}

/// A webhook subscription (its secret is shown only when it is created).
#[derive(Debug, Serialize, ToSchema)]
pub struct Subscription {
    pub id: Uuid,
    pub url: String,
    /// Event types, or `["*"]`.
    pub event_types: Vec<String>,
    #[schema(required = true)]
    pub description: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[schema(value_type = DeliveryCounts)]
    pub deliveries: Jsonb<DeliveryCounts>,
}

impl crate::ids::Resource for Subscription {
    const NAME: &'static str = "subscription";
}

/// The tenant's subscriptions (`only`: just that one), oldest first.
async fn subscriptions(
    tx: &mut sqlx::PgConnection,
    only: Option<Uuid>,
) -> Result<Vec<Subscription>, ApiError> {
    Ok(sqlx::query_as!(
        Subscription,
        r#"SELECT s.id, s.url, s.event_types, s.description, s.active, s.created_at, s.updated_at,
                  (SELECT jsonb_build_object('total', count(*), 'delivered', count(*) FILTER (WHERE d.status = 'delivered'),
                                             'failed', count(*) FILTER (WHERE d.status = 'failed'),
                                             'pending', count(*) FILTER (WHERE d.status IN ('pending', 'retrying')),
                                             'last_attempt_at', max(d.last_attempt_at))
                     FROM webhook_deliveries d WHERE d.subscription_id = s.id) AS "deliveries!: Jsonb<DeliveryCounts>"
             FROM webhook_subscriptions s WHERE ($1::uuid IS NULL OR s.id = $1) ORDER BY s.created_at"#,
        only
    )
    .fetch_all(&mut *tx)
    .await?)
}

async fn subscription(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<Subscription, ApiError> {
    subscriptions(tx, Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::NotFound(format!("subscription {id} not found")))
}

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

/// The subscriptions, and the event types one can name.
#[derive(Debug, Serialize, ToSchema)]
pub struct Subscriptions {
    pub items: Vec<Subscription>,
    pub event_types: Vec<&'static str>,
}

/// Lists subscriptions with delivery counts.
#[utoipa::path(get, path = "/api/v1/webhook-subscriptions", tag = "webhooks", responses((status = 200, description = "Subscriptions", body = Subscriptions)))]
pub async fn list(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
) -> Result<Json<Subscriptions>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    Ok(Json(Subscriptions {
        items: subscriptions(&mut tx, None).await?,
        event_types: subscribable(),
    }))
}

/// A new subscription with its signing secret (shown only this once).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedSubscription {
    #[serde(flatten)]
    pub subscription: Subscription,
    pub secret: String,
}

/// Subscribes a URL; the response carries the signing secret, shown only this once.
#[utoipa::path(post, path = "/api/v1/webhook-subscriptions", tag = "webhooks", request_body = CreateSubscription,
    responses((status = 201, description = "The subscription with its secret", body = CreatedSubscription), (status = 422, description = "Bad URL or event type")))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    ApiJson(req): ApiJson<CreateSubscription>,
) -> Result<(StatusCode, Json<CreatedSubscription>), ApiError> {
    let url = valid_url(&state, &req.url)?;
    let event_types = valid_event_types(&req.event_types)?;
    let description = optional_text(req.description.as_deref(), "description", 500)?;
    let (id, secret) = (Uuid::now_v7(), new_secret());
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    sqlx::query!(
        "INSERT INTO webhook_subscriptions (id, tenant_id, url, event_types, secret, description) VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        principal.tenant_id,
        url,
        &event_types,
        secret,
        description,
    )
    .execute(&mut *tx)
    .await?;
    let subscription = subscription(&mut tx, id).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedSubscription {
            subscription,
            secret,
        }),
    ))
}

/// A subscription.
#[utoipa::path(get, path = "/api/v1/webhook-subscriptions/{id}", tag = "webhooks", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The subscription", body = Subscription), (status = 404, description = "No such subscription")))]
pub async fn show(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    id: Id<Subscription>,
) -> Result<Json<Subscription>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    Ok(Json(subscription(&mut tx, id.get()).await?))
}

/// Changes URL, event types, description, or pauses/resumes the subscription.
#[utoipa::path(patch, path = "/api/v1/webhook-subscriptions/{id}", tag = "webhooks", params(("id" = Uuid, Path)), request_body = UpdateSubscription,
    responses((status = 200, description = "The subscription", body = Subscription), (status = 404, description = "No such subscription")))]
pub async fn update(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    id: Id<Subscription>,
    ApiJson(req): ApiJson<UpdateSubscription>,
) -> Result<Json<Subscription>, ApiError> {
    let id = id.get();
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
    let change = sqlx::query!(
        "UPDATE webhook_subscriptions SET url = coalesce($2, url), event_types = coalesce($3, event_types),
                description = coalesce($4, description), active = coalesce($5, active) WHERE id = $1",
        id,
        url,
        event_types.as_deref(),
        description,
        req.active,
    );
    execute_found(&mut tx, change, || format!("subscription {id}")).await?;
    let subscription = subscription(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(subscription))
}

/// Deletes a subscription and its delivery records.
#[utoipa::path(delete, path = "/api/v1/webhook-subscriptions/{id}", tag = "webhooks", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such subscription")))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    id: Id<Subscription>,
) -> Result<StatusCode, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    execute_found(
        &mut tx,
        sqlx::query!("DELETE FROM webhook_subscriptions WHERE id = $1", id),
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
    #[param(value_type = Option<ventros_domain::WebhookDeliveryStatus>)]
    pub status: Option<String>,
    /// Continue a list: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// One event sent (or being sent) to a subscriber, and how it went.
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct Delivery {
    /// Also the `webhook-id` header, stable across retries.
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub event_id: i64,
    pub event_type: String,
    pub status: WebhookDeliveryStatus,
    pub attempts: i32,
    #[schema(required = true)]
    pub last_status_code: Option<i32>,
    #[schema(required = true)]
    pub last_error: Option<String>,
    #[schema(required = true)]
    pub last_attempt_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub delivered_at: Option<DateTime<Utc>>,
    /// The WebhookDelivery workflow.
    pub workflow_id: String,
    #[sqlx(skip)]
    pub workflow: TemporalLink,
    pub created_at: DateTime<Utc>,
}

impl crate::ids::Resource for Delivery {
    const NAME: &'static str = "delivery";
}

/// The subscription's deliveries, newest first.
#[utoipa::path(get, path = "/api/v1/webhook-subscriptions/{id}/deliveries", tag = "webhooks", params(("id" = Uuid, Path), DeliveryListQuery),
    responses((status = 200, description = "A page of deliveries", body = Page<Delivery>), (status = 404, description = "No such subscription")))]
pub async fn deliveries(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    id: Id<Subscription>,
    ApiQuery(q): ApiQuery<DeliveryListQuery>,
) -> Result<Json<Page<Delivery>>, ApiError> {
    let id = id.get();
    let status = q
        .status
        .as_deref()
        .map(|s| {
            WebhookDeliveryStatus::parse(s).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "status must be {}",
                    WebhookDeliveryStatus::choices()
                ))
            })
        })
        .transpose()?;
    let limit = page_limit(q.limit)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    subscription(&mut tx, id).await?;
    let sort = Sort {
        column: "created_at",
        descending: true,
    };
    let page: Page<Delivery> = fetch_page_as(&mut tx, sort, q.cursor.as_deref(), limit, |qb| {
        qb.push(
            "SELECT d.id, d.subscription_id, d.event_id, d.event_type, d.status, d.attempts, d.last_status_code, d.last_error,
                    d.last_attempt_at, d.delivered_at, d.workflow_id, d.created_at
               FROM webhook_deliveries d WHERE d.subscription_id = ",
        )
        .push_bind(id);
        if let Some(status) = status {
            qb.push(" AND d.status = ").push_bind(status.as_str());
        }
    })
    .await?;
    let items = page
        .items
        .into_iter()
        .map(|mut delivery| {
            delivery.workflow = state
                .config
                .temporal_link("workflows", &delivery.workflow_id);
            delivery
        })
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// A redelivery started, and its workflow.
#[derive(Debug, Serialize, ToSchema)]
pub struct Redelivery {
    pub id: Uuid,
    pub workflow: TemporalLink,
}

/// Sends a delivery again (same delivery id, so receivers still deduplicate). A delivery still
/// being retried is left to its schedule.
#[utoipa::path(post, path = "/api/v1/webhook-deliveries/{id}/redeliver", tag = "webhooks", params(("id" = Uuid, Path)),
    responses((status = 202, description = "Redelivery started", body = Redelivery), (status = 404, description = "No such delivery")))]
pub async fn redeliver(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    id: Id<Delivery>,
) -> Result<(StatusCode, Json<Redelivery>), ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let workflow_id = sqlx::query_scalar!(
        "UPDATE webhook_deliveries SET status = CASE WHEN status = $2 THEN $3 ELSE status END WHERE id = $1 RETURNING workflow_id",
        id,
        WebhookDeliveryStatus::Failed.as_str(),
        WebhookDeliveryStatus::Pending.as_str(),
    )
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
        Json(Redelivery {
            id,
            workflow: state.config.temporal_link("workflows", &workflow_id),
        }),
    ))
}
