//! `GET /api/v1/stream`: outbox events pushed live over a WebSocket.
//!
//! Every committed outbox event is announced by PostgreSQL (`NOTIFY ventros_outbox`, from a
//! trigger, in commit order) to every API replica; each replica's [`Hub`] fans it out to its
//! sockets, which keep their own tenant's events. A client that reconnects with the last event id
//! it saw (`?last_event_id=`) first receives what it missed, read from the outbox under RLS, then
//! the live feed; events are deduplicated by id across the two. A socket that falls behind, or a
//! listener that lost its connection, catches up the same way.

use backon::{ExponentialBuilder, Retryable};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Principal, authenticate};
use crate::error::ApiError;

pub const CHANNEL: &str = "ventros_outbox";
/// Events a catch-up sends at most; a client further behind should reload.
const BACKLOG_LIMIT: i64 = 1000;

/// One announcement from the listener.
#[derive(Debug, Clone)]
pub enum Feed {
    Event(Arc<Event>),
    /// The listener reconnected and may have missed announcements: sockets re-read the outbox.
    Resync,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub id: i64,
    pub tenant_id: Uuid,
    pub event_type: Option<String>,
    pub aggregate_type: Option<String>,
    pub aggregate_id: Option<Uuid>,
    pub payload: Option<Value>,
    pub created_at: Option<Value>,
    #[serde(default)]
    pub truncated: bool,
}

impl Event {
    fn to_wire(&self) -> String {
        json!({
            "id": self.id,
            "type": self.event_type,
            "aggregate_type": self.aggregate_type,
            "aggregate_id": self.aggregate_id,
            "data": self.payload,
            "created_at": self.created_at,
        })
        .to_string()
    }
}

/// The replica's single LISTEN connection and its fan-out.
#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<Feed>,
}

impl Hub {
    pub fn start(pool: PgPool) -> Hub {
        let (sender, _) = broadcast::channel(4096);
        let hub = Hub {
            sender: sender.clone(),
        };
        tokio::spawn(async move {
            // Reconnects for as long as the process lives; subscribers resync after each loss.
            let _ = (|| listen(&pool, &sender))
                .retry(
                    ExponentialBuilder::default()
                        .with_min_delay(Duration::from_millis(200))
                        .with_max_delay(Duration::from_secs(5))
                        .with_jitter()
                        .without_max_times(),
                )
                .notify(|err, _| {
                    tracing::warn!(error = %err, "realtime listener lost its connection; reconnecting");
                    let _ = sender.send(Feed::Resync);
                })
                .await;
        });
        hub
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Feed> {
        self.sender.subscribe()
    }
}

async fn listen(pool: &PgPool, sender: &broadcast::Sender<Feed>) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // Without this, a dropped connection would be re-established silently, losing what was
    // announced meanwhile; we prefer to know and resync.
    listener.ignore_pool_close_event(false);
    listener.listen(CHANNEL).await?;
    let _ = sender.send(Feed::Resync);
    loop {
        let Some(notification) = listener.try_recv().await? else {
            return Err(sqlx::Error::Protocol("LISTEN connection closed".into()));
        };
        match serde_json::from_str::<Event>(notification.payload()) {
            Ok(event) => {
                let _ = sender.send(Feed::Event(Arc::new(event)));
            }
            Err(err) => tracing::warn!(error = %err, "unreadable outbox notification"),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct StreamParams {
    /// The access token or API key (browsers cannot set headers on a WebSocket).
    access_token: Option<String>,
    /// Resume after this event id.
    last_event_id: Option<i64>,
    /// Only these event types (comma-separated).
    types: Option<String>,
}

/// Upgrades to a WebSocket after authenticating (header or `access_token`).
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<StreamParams>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let credential = header.or(params.access_token.as_deref()).ok_or_else(|| {
        ApiError::Unauthorized("authenticate with Authorization: Bearer … or ?access_token=".into())
    })?;
    let principal = authenticate(&state, credential).await?;
    let credential = credential.to_owned();
    let last_event_id = match params.last_event_id {
        Some(id) if id < 0 => {
            return Err(ApiError::BadRequest(
                "last_event_id must be a non-negative event id".into(),
            ));
        }
        Some(id) => Some(id),
        None => headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok()),
    };
    let types: Option<HashSet<String>> = params.types.map(|t| {
        t.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    });
    Ok(ws.on_upgrade(move |socket| async move {
        if let Err(err) = Session::new(state, principal, credential, types)
            .run(socket, last_event_id)
            .await
        {
            tracing::debug!(error = %err, "stream closed");
        }
    }))
}

struct Session {
    state: AppState,
    principal: Principal,
    /// Checked again every minute: an expired token or a revoked key ends the stream.
    credential: String,
    types: Option<HashSet<String>>,
    last_id: i64,
    /// Ids sent recently, to drop an event seen both in a catch-up and live.
    sent: HashSet<i64>,
    sent_order: VecDeque<i64>,
}

impl Session {
    fn new(
        state: AppState,
        principal: Principal,
        credential: String,
        types: Option<HashSet<String>>,
    ) -> Self {
        Session {
            state,
            principal,
            credential,
            types,
            last_id: 0,
            sent: HashSet::new(),
            sent_order: VecDeque::new(),
        }
    }

    async fn run(mut self, mut socket: WebSocket, resume_after: Option<i64>) -> anyhow::Result<()> {
        // Subscribe before reading the backlog, so nothing committed in between is missed.
        let mut feed = self.state.realtime.subscribe();
        self.last_id = match resume_after {
            Some(after) => after,
            None => {
                // Live only: start from the newest event the tenant has.
                let mut tx =
                    crate::db::tenant_tx(&self.state.pool, self.principal.tenant_id).await?;
                sqlx::query_scalar!(r#"SELECT coalesce(max(id), 0) AS "last!" FROM outbox_events"#)
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        // First frame: where the stream starts; what was missed (if resuming) follows.
        socket
            .send(Message::Text(
                json!({"type": "stream.ready", "last_event_id": self.last_id})
                    .to_string()
                    .into(),
            ))
            .await?;
        if resume_after.is_some() {
            self.catch_up(&mut socket).await?;
        }
        let mut ping = tokio::time::interval(Duration::from_secs(25));
        let every = self.state.config.stream_reauthenticate_every;
        let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                received = feed.recv() => match received {
                    Ok(Feed::Event(event)) if event.tenant_id == self.principal.tenant_id => {
                        if event.truncated {
                            self.catch_up(&mut socket).await?;
                        } else {
                            self.send(&mut socket, &event).await?;
                        }
                    }
                    Ok(Feed::Event(_)) => {}
                    Ok(Feed::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up(&mut socket).await?,
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return Ok(()),
                    Some(Ok(_)) => {}
                },
                _ = ping.tick() => socket.send(Message::Ping(Default::default())).await?,
                _ = recheck.tick() => {
                    if authenticate(&self.state, &self.credential).await.is_err() {
                        let frame = axum::extract::ws::CloseFrame { code: 4001, reason: "credential expired or revoked; reconnect with a fresh one".into() };
                        socket.send(Message::Close(Some(frame))).await.ok();
                        return Ok(());
                    }
                }
            }
        }
    }

    async fn send(&mut self, socket: &mut WebSocket, event: &Event) -> anyhow::Result<()> {
        if self.sent.contains(&event.id) {
            return Ok(());
        }
        if self.sent_order.len() >= 4096
            && let Some(old) = self.sent_order.pop_front()
        {
            self.sent.remove(&old);
        }
        self.sent.insert(event.id);
        self.sent_order.push_back(event.id);
        self.last_id = self.last_id.max(event.id);
        if let (Some(types), Some(event_type)) = (&self.types, &event.event_type)
            && !types.contains(event_type)
        {
            return Ok(());
        }
        socket.send(Message::Text(event.to_wire().into())).await?;
        Ok(())
    }

    /// Sends the tenant's events after `last_id` from the outbox (RLS-scoped).
    async fn catch_up(&mut self, socket: &mut WebSocket) -> anyhow::Result<()> {
        let mut tx = crate::db::tenant_tx(&self.state.pool, self.principal.tenant_id).await?;
        // The same shape as the NOTIFY payload (see migration 0004).
        let rows = sqlx::query_scalar!(
            r#"SELECT json_build_object('id', id, 'tenant_id', tenant_id, 'event_type', event_type, 'aggregate_type', aggregate_type,
                                        'aggregate_id', aggregate_id, 'payload', payload, 'created_at', created_at) AS "event!"
                 FROM outbox_events WHERE id > $1 ORDER BY id LIMIT $2"#,
            self.last_id,
            BACKLOG_LIMIT,
        )
        .fetch_all(&mut *tx)
        .await?;
        drop(tx);
        for row in rows {
            let event: Event = serde_json::from_value(row)?;
            self.send(socket, &event).await?;
        }
        Ok(())
    }
}
