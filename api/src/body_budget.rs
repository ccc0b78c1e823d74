//! How many request-body bytes the API holds at once, across every request.
//!
//! Why it exists: a body limit bounds one request, not the process. Webhooks must be read whole
//! before their signature can be checked, so anyone may send a thousand bodies of just under the
//! webhook limit at once; an agent may upload many 16 MB files at once. Each route group keeps its
//! own limit, and every request first reserves the bytes its body may take (its `Content-Length`,
//! or the group's limit when it does not say) from one shared budget; a request that cannot get
//! them within [`WAIT`] is answered 503 with `Retry-After` (WAHA and Meta retry those) before a
//! byte of its body is read. (A `Content-Length` over the limit is not refused before reading:
//! answering before the client has sent its body makes it see a reset connection, not the 413.)
//!
//! Webhooks and authenticated requests draw from separate budgets, so a flood of anonymous
//! webhooks cannot hold back operators' uploads, nor the other way round.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::HttpBody;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Longest a request waits for room in the budget before it is turned away.
pub const WAIT: Duration = Duration::from_secs(5);
/// The budget's unit: reservations are rounded up to whole KiB (a semaphore counts at most
/// `u32::MAX` permits per acquisition).
const UNIT: usize = 1024;

/// A shared budget of body bytes.
#[derive(Clone, Debug)]
pub struct BodyBudget {
    permits: Arc<Semaphore>,
    bytes: usize,
    wait: Duration,
}

impl BodyBudget {
    /// A budget of `bytes`; it must hold the largest body of any route that draws from it.
    pub fn new(bytes: usize) -> Self {
        Self::with_wait(bytes, WAIT)
    }

    /// A budget whose requests wait at most `wait` for room (tests).
    pub fn with_wait(bytes: usize, wait: Duration) -> Self {
        BodyBudget {
            permits: Arc::new(Semaphore::new(bytes / UNIT)),
            bytes,
            wait,
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes not reserved right now.
    pub fn available(&self) -> usize {
        self.permits.available_permits() * UNIT
    }
}

/// The budgets and the limits of the route groups that draw from them, carried to the
/// middleware as a request extension ([`crate::router`] adds it).
#[derive(Clone, Debug)]
pub struct Budgets {
    /// Authenticated requests (`/api/v1`).
    pub api: BodyBudget,
    /// Webhooks from WAHA and Meta (anyone can post to them).
    pub webhooks: BodyBudget,
    /// `API_MAX_BODY_BYTES`: the REST routes' limit.
    pub api_limit: usize,
    /// `WEBHOOK_MAX_BYTES`.
    pub webhook_limit: usize,
}

/// How many bytes a request's body may take: none when it has no body, its declared length when
/// it declares one within `limit`, otherwise `limit` (the handler reads no more: a larger body is
/// refused there with 413, after the same read as before).
pub fn reservation<B: HttpBody>(body: &B, limit: usize) -> usize {
    if body.is_end_stream() {
        return 0;
    }
    body.size_hint()
        .upper()
        .map_or(limit, |upper| (upper as usize).min(limit))
}

/// The REST routes' reservation (`API_MAX_BODY_BYTES`).
pub async fn reserve_api(Extension(b): Extension<Budgets>, req: Request, next: Next) -> Response {
    reserve(&b.api, b.api_limit, req, next).await
}

/// A REST route group with a larger limit of its own (uploads).
pub async fn reserve_upto<const LIMIT: usize>(
    Extension(b): Extension<Budgets>,
    req: Request,
    next: Next,
) -> Response {
    reserve(&b.api, LIMIT, req, next).await
}

/// The webhooks' reservation (`WEBHOOK_MAX_BYTES`, from their own budget).
pub async fn reserve_webhook(
    Extension(b): Extension<Budgets>,
    req: Request,
    next: Next,
) -> Response {
    reserve(&b.webhooks, b.webhook_limit, req, next).await
}

/// Reserves the request's body bytes from `budget` for as long as its handler runs.
async fn reserve(budget: &BodyBudget, limit: usize, req: Request, next: Next) -> Response {
    let bytes = reservation(req.body(), limit);
    if bytes == 0 {
        return next.run(req).await;
    }
    let units = bytes.div_ceil(UNIT) as u32;
    let wait = tokio::time::timeout(
        budget.wait,
        budget.permits.clone().acquire_many_owned(units),
    );
    // Timed out (or the semaphore closed, which never happens): too many bodies at once.
    let Ok(Ok(permit)) = wait.await else {
        tracing::warn!(
            budget_bytes = budget.bytes,
            "request refused: the request-body budget is spent"
        );
        let mut response =
            ApiError::Unavailable("too many large requests at once; retry shortly".into())
                .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    let response = next.run(req).await;
    drop(permit);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::{Body, Bytes};
    use axum::http::StatusCode;
    use axum::routing::post;
    use tower::ServiceExt;

    fn app(budget: &BodyBudget, limit: usize) -> Router {
        // The handler reads the body, as the webhook and upload handlers do.
        Router::new()
            .route(
                "/",
                post(|body: Bytes| async move { body.len().to_string() }),
            )
            .layer(axum::middleware::from_fn(reserve_api))
            .layer(Extension(Budgets {
                api: budget.clone(),
                webhooks: BodyBudget::new(UNIT),
                api_limit: limit,
                webhook_limit: UNIT,
            }))
    }

    fn post_body(body: Body) -> Request {
        Request::post("/").body(body).unwrap()
    }

    #[test]
    fn reservations_follow_the_declared_length_within_the_limit() {
        assert_eq!(reservation(&Body::empty(), 100), 0);
        assert_eq!(reservation(&Body::from("abc"), 100), 3);
        assert_eq!(reservation(&Body::from(vec![0u8; 101]), 100), 100);
        // No declared length: the limit, which is all the handler may read.
        let stream = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from("abc"))]);
        assert_eq!(reservation(&Body::from_stream(stream), 100), 100);
    }

    #[tokio::test]
    async fn bodies_wait_for_room_then_are_turned_away() {
        let budget = BodyBudget::with_wait(4 * UNIT, Duration::from_millis(200));
        let app = app(&budget, 4 * UNIT);
        // Another request holds three of the four KiB.
        let held = budget.permits.clone().acquire_many_owned(3).await.unwrap();
        let resp = app
            .clone()
            .oneshot(post_body(Body::from(vec![0u8; UNIT])))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "one KiB still fits");
        let resp = app
            .clone()
            .oneshot(post_body(Body::from(vec![0u8; 2 * UNIT])))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
        // Once the room is given back, the same body goes through.
        drop(held);
        let resp = app
            .oneshot(post_body(Body::from(vec![0u8; 2 * UNIT])))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            budget.available(),
            4 * UNIT,
            "every reservation is given back"
        );
    }
}
