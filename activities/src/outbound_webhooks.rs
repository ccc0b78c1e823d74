//! Outbound webhooks: tenants subscribe URLs to event types; every outbox event a subscription
//! matches becomes one delivery, POSTed by a WebhookDelivery workflow and retried with backoff
//! until the receiver answers 2xx.
//!
//! Signing follows the Standard Webhooks scheme: `webhook-id` (the delivery id, stable across
//! retries), `webhook-timestamp` (seconds, per attempt) and `webhook-signature: v1,<base64
//! HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`, where the secret is the base64 part of
//! `whsec_…`. Receivers verify with any Standard Webhooks library and deduplicate on the id.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use sqlx::PgPool;
use temporalio_client::{Client, WorkflowIdConflictPolicy, WorkflowStartOptions};
use temporalio_common::error::ApplicationFailure;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use uuid::Uuid;
use ventros_domain::WebhookDeliveryStatus;
use ventros_workflows::WebhookDelivery;

use ventros_channels::net_guard::NetPolicy;
pub use ventros_channels::net_guard::is_public;
use ventros_workflows::contract::{
    WebhookAttemptInput, WebhookDeliveryInput, activities as defs, ids,
};

/// How long one attempt may take before it counts as failed.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The signature header value for one attempt.
pub fn sign(
    secret: &str,
    delivery_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, String> {
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| "webhook secret is not base64".to_owned())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(delivery_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

/// A new subscription secret, `whsec_` + 32 random bytes in base64.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", BASE64.encode(bytes))
}

/// The delivery id of (subscription, event): the same after a crash and re-fan-out, so the
/// workflow id and the receiver's dedupe key are the same too.
pub fn delivery_id(subscription_id: Uuid, event_id: i64) -> Uuid {
    Uuid::new_v5(&subscription_id, &event_id.to_be_bytes())
}

/// Retry schedule of deliveries (the worker's `WEBHOOK_*` settings).
#[derive(Debug, Clone, Copy)]
pub struct RetrySchedule {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetrySchedule {
    /// 20 attempts from 5 s doubling up to an hour apart: about eleven hours of retries.
    fn default() -> Self {
        RetrySchedule {
            max_attempts: 20,
            initial_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(3600),
        }
    }
}

impl RetrySchedule {
    pub fn input(&self, tenant_id: Uuid, delivery_id: Uuid) -> WebhookDeliveryInput {
        WebhookDeliveryInput {
            tenant_id,
            delivery_id,
            max_attempts: self.max_attempts,
            initial_backoff_ms: self.initial_backoff.as_millis() as u64,
            max_backoff_ms: self.max_backoff.as_millis() as u64,
        }
    }
}

/// Starts (or finds running) the workflow of one delivery.
pub async fn start_delivery(
    client: &Client,
    task_queue: &str,
    schedule: RetrySchedule,
    tenant_id: Uuid,
    delivery_id: Uuid,
) -> anyhow::Result<()> {
    let options = WorkflowStartOptions::new(
        task_queue.to_owned(),
        ids::webhook_delivery_workflow_id(tenant_id, delivery_id),
    )
    .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
    .build();
    tokio::time::timeout(
        Duration::from_secs(10),
        client.start_workflow(
            WebhookDelivery::run,
            schedule.input(tenant_id, delivery_id),
            options,
        ),
    )
    .await
    .map_err(|_| anyhow::anyhow!("Temporal did not answer in time"))??;
    Ok(())
}

/// One fan-out pass: new outbox events × active matching subscriptions → deliveries and their
/// workflows. Several workers may run it (SKIP LOCKED); a crash before commit redoes the pass with
/// the same delivery ids.
pub async fn fanout_once(
    pool: &PgPool,
    client: &Client,
    task_queue: &str,
    schedule: RetrySchedule,
    batch: i64,
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let pending = sqlx::query!(
        r#"SELECT id, greatest(0, extract(epoch FROM clock_timestamp() - created_at))::float8 AS "waited!"
             FROM outbox_events WHERE webhooks_fanned_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"#,
        batch,
    )
    .fetch_all(&mut *tx)
    .await?;
    if pending.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = pending.iter().map(|e| e.id).collect();
    let matches: Vec<(i64, Uuid, Uuid, String)> = sqlx::query!(
        r#"SELECT o.id, o.tenant_id, s.id AS subscription_id, o.event_type FROM outbox_events o
             JOIN webhook_subscriptions s ON s.tenant_id = o.tenant_id AND s.active
                                         AND (o.event_type = ANY(s.event_types) OR '*' = ANY(s.event_types))
            WHERE o.id = ANY($1) ORDER BY o.id"#,
        &ids,
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|m| (m.id, m.tenant_id, m.subscription_id, m.event_type))
    .collect();
    for (event_id, tenant_id, subscription_id, event_type) in &matches {
        let id = delivery_id(*subscription_id, *event_id);
        sqlx::query!(
            "INSERT INTO webhook_deliveries (id, tenant_id, subscription_id, event_id, event_type, workflow_id)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            id,
            tenant_id,
            subscription_id,
            event_id,
            event_type,
            ids::webhook_delivery_workflow_id(*tenant_id, id),
        )
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query!(
        "UPDATE outbox_events SET webhooks_fanned_at = now() WHERE id = ANY($1)",
        &ids
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // Once taken for good: a pass that rolls back takes the same events again.
    for event in &pending {
        crate::metrics::outbox_lag("webhooks", Duration::from_secs_f64(event.waited));
    }
    // After the commit: a workflow never looks for a delivery row that might still roll back. A
    // crash here leaves deliveries without workflows; `start_pending` picks them up.
    for (event_id, tenant_id, subscription_id, _) in &matches {
        start_delivery(
            client,
            task_queue,
            schedule,
            *tenant_id,
            delivery_id(*subscription_id, *event_id),
        )
        .await?;
    }
    Ok(ids.len())
}

/// Starts the workflows of deliveries still `pending` with no attempt a while after creation (a
/// crash between the fan-out's commit and its workflow starts). Starting is idempotent.
pub async fn start_pending(
    pool: &PgPool,
    client: &Client,
    task_queue: &str,
    schedule: RetrySchedule,
) -> anyhow::Result<usize> {
    let rows: Vec<(Uuid, Uuid)> = sqlx::query!(
        "SELECT tenant_id, id FROM webhook_deliveries WHERE status = $1 AND attempts = 0 AND created_at < now() - interval '1 minute'
          ORDER BY created_at LIMIT 100",
        WebhookDeliveryStatus::Pending.as_str(),
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|d| (d.tenant_id, d.id))
    .collect();
    for (tenant_id, id) in &rows {
        start_delivery(client, task_queue, schedule, *tenant_id, *id).await?;
    }
    Ok(rows.len())
}

pub struct WebhookActivities {
    pool: PgPool,
    http: reqwest::Client,
    allow_private_networks: bool,
}

impl WebhookActivities {
    /// `allow_private_networks`: deliver to loopback and private addresses too (development and
    /// tests; `WEBHOOK_ALLOW_PRIVATE_NETWORKS`).
    pub fn new(pool: PgPool, allow_private_networks: bool) -> Self {
        let policy = NetPolicy::new(allow_private_networks, &[]);
        let http = policy
            .client_builder()
            .timeout(ATTEMPT_TIMEOUT)
            .user_agent("Ventros-Webhooks/1")
            .build()
            .expect("the webhook HTTP client builds");
        WebhookActivities {
            pool,
            http,
            allow_private_networks,
        }
    }
}

/// Why a receiver URL may not be called, if it may not (not http(s), credentials in it, a literal
/// private address, or localhost). Names are checked where the connection is made
/// ([`NetPolicy::client_builder`]). Used when a subscription is stored and at every delivery.
pub fn refusal(url: &str, allow_private_networks: bool) -> Option<String> {
    NetPolicy::new(allow_private_networks, &[])
        .check_url(url, "the receiver's URL")
        .err()
        .map(|e| format!("{e} (set WEBHOOK_ALLOW_PRIVATE_NETWORKS to allow private addresses)"))
}

fn retryable(err: impl std::fmt::Display) -> ActivityError {
    ActivityError::from(anyhow::anyhow!(err.to_string()))
}

#[activities]
impl WebhookActivities {
    /// One attempt. The attempt is recorded (count, status code or error) whatever its outcome,
    /// so the API shows progress while Temporal waits to retry.
    #[activity(definition = defs::WebhookDeliver)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn deliver(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: WebhookAttemptInput,
    ) -> Result<(), ActivityError> {
        let row = sqlx::query!(
            r#"SELECT d.status AS "status: WebhookDeliveryStatus", d.event_type, d.event_id, s.url, s.secret, s.active,
                      o.payload, o.aggregate_type, o.aggregate_id, o.created_at
                 FROM webhook_deliveries d
                 JOIN webhook_subscriptions s ON s.id = d.subscription_id
                 JOIN outbox_events o ON o.id = d.event_id
                WHERE d.id = $1 AND d.tenant_id = $2"#,
            input.delivery_id,
            input.tenant_id,
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(retryable)?;
        let Some(row) = row else {
            // The subscription was deleted (its deliveries cascade): nothing left to deliver.
            return Err(ActivityError::application(
                ApplicationFailure::non_retryable(format!(
                    "delivery {} no longer exists",
                    input.delivery_id
                )),
            ));
        };
        if row.status == WebhookDeliveryStatus::Delivered {
            return Ok(());
        }
        if !row.active {
            return Err(ActivityError::application(
                ApplicationFailure::non_retryable("the subscription is disabled".to_owned()),
            ));
        }
        let delivery_id = input.delivery_id.to_string();
        let body = serde_json::to_vec(&json!({
            "id": delivery_id,
            "type": row.event_type,
            "event_id": row.event_id,
            "tenant_id": input.tenant_id,
            "aggregate": {
                "type": row.aggregate_type,
                "id": row.aggregate_id,
            },
            "occurred_at": row.created_at,
            "data": row.payload,
        }))
        .map_err(retryable)?;
        let url = row.url;
        if let Some(reason) = refusal(&url, self.allow_private_networks) {
            sqlx::query!(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = now(), last_error = $3 WHERE id = $1 AND tenant_id = $2",
                input.delivery_id,
                input.tenant_id,
                reason,
            )
            .execute(&self.pool)
            .await
            .map_err(retryable)?;
            return Err(ActivityError::application(
                ApplicationFailure::non_retryable(reason),
            ));
        }
        let secret = row.secret;
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign(&secret, &delivery_id, timestamp, &body)
            .map_err(|e| ActivityError::application(ApplicationFailure::non_retryable(e)))?;
        let result = self
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let (code, error) = match &result {
            Ok(resp) if resp.status().is_success() => (Some(resp.status().as_u16() as i32), None),
            Ok(resp) => (
                Some(resp.status().as_u16() as i32),
                Some(format!("the receiver answered {}", resp.status())),
            ),
            // The error names the host, never the path or query (which may carry tokens).
            Err(err) if err.is_timeout() => {
                (None, Some("the receiver did not answer in time".to_owned()))
            }
            Err(_) => (None, Some("could not connect to the receiver".to_owned())),
        };
        sqlx::query!(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = now(), last_status_code = $3, last_error = $4,
                    status = CASE WHEN $4::text IS NULL THEN $5 ELSE $6 END,
                    delivered_at = CASE WHEN $4::text IS NULL THEN now() ELSE delivered_at END
              WHERE id = $1 AND tenant_id = $2",
            input.delivery_id,
            input.tenant_id,
            code,
            error,
            WebhookDeliveryStatus::Delivered.as_str(),
            WebhookDeliveryStatus::Retrying.as_str(),
        )
        .execute(&self.pool)
        .await
        .map_err(retryable)?;
        match error {
            None => Ok(()),
            Some(error) => {
                tracing::warn!(delivery.id = %input.delivery_id, status = ?code, "webhook delivery attempt failed; Temporal will retry");
                Err(retryable(error))
            }
        }
    }

    #[activity(definition = defs::WebhookGiveUp)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn give_up(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: WebhookAttemptInput,
    ) -> Result<(), ActivityError> {
        sqlx::query!(
            "UPDATE webhook_deliveries SET status = $3 WHERE id = $1 AND tenant_id = $2 AND status <> $4",
            input.delivery_id,
            input.tenant_id,
            WebhookDeliveryStatus::Failed.as_str(),
            WebhookDeliveryStatus::Delivered.as_str(),
        )
        .execute(&self.pool)
        .await
        .map_err(retryable)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The worked example from the Standard Webhooks specification.
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            signature.as_deref(),
            Ok("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "2001:4860:4860::8888", "1.1.1.1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        assert!(refusal("http://127.0.0.1:9/hook", false).is_some());
        assert!(refusal("http://localhost/hook", false).is_some());
        assert!(refusal("http://[::1]/hook", false).is_some());
        assert!(refusal("http://127.0.0.1:9/hook", true).is_none());
        assert!(
            refusal("https://hooks.example.com/x", false).is_none(),
            "names are checked when connecting"
        );
    }

    #[test]
    fn delivery_ids_are_stable() {
        let s = Uuid::from_u128(7);
        assert_eq!(delivery_id(s, 42), delivery_id(s, 42));
        assert_ne!(delivery_id(s, 42), delivery_id(s, 43));
    }
}
