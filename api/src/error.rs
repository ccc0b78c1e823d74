//! One error type for every handler, rendered as `application/problem+json` (RFC 9457).
//! Server-side failures are logged once here and say nothing internal to the caller.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but the role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The body is over the limit (0 when the limit is the API's general one).
    #[error("the body is larger than allowed")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    Unprocessable(String),
    /// The caller's rate limit is spent; retry after this many seconds.
    #[error("rate limit exceeded; retry in {0} s")]
    TooManyRequests(u64),
    /// A dependency (Temporal, PostgreSQL) is not answering: the caller should retry.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// PostgreSQL cancelled this transaction to break a deadlock (SQLSTATE 40P01): running it
    /// again usually succeeds.
    pub fn is_deadlock(&self) -> bool {
        matches!(self, ApiError::Internal(err)
            if err.downcast_ref::<sqlx::Error>()
                .and_then(|e| e.as_database_error())
                .and_then(sqlx::error::DatabaseError::code)
                .as_deref() == Some("40P01"))
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The store's rules, shared with the worker: its database errors are the API's, and an input it
/// refuses is unprocessable.
impl From<ventros_store::StoreError> for ApiError {
    fn from(err: ventros_store::StoreError) -> Self {
        match err {
            ventros_store::StoreError::Database(err) => err.into(),
            ventros_store::StoreError::Invalid(reason) => ApiError::Unprocessable(reason),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                tracing::error!(error = %err, "database unavailable");
                ApiError::Unavailable("the database is not answering; retry shortly".into())
            }
            // Input PostgreSQL refused: the caller's problem, said without internals.
            sqlx::Error::Database(db) => match db.code().as_deref() {
                Some("23505") => {
                    ApiError::Conflict("a record with the same unique value already exists".into())
                }
                Some("23503") => {
                    ApiError::Unprocessable("a referenced record does not exist".into())
                }
                Some("23514" | "23502") => {
                    ApiError::Unprocessable("a value is outside what is allowed".into())
                }
                Some(
                    "22021" | "22P02" | "22P05" | "22003" | "22007" | "22008" | "2201B" | "54000",
                ) => ApiError::BadRequest("a value is malformed, out of range or too large".into()),
                _ => ApiError::Internal(sqlx::Error::Database(db).into()),
            },
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::BadRequest(format!(
            "invalid query parameters: {}",
            rejection.body_text()
        ))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::BadRequest("expected Content-Type: application/json".into())
            }
            JsonRejection::BytesRejection(inner)
                if inner.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ApiError::PayloadTooLarge(0)
            }
            JsonRejection::BytesRejection(_) => {
                ApiError::BadRequest("could not read the request body".into())
            }
            other => ApiError::BadRequest(format!("invalid JSON body: {}", other.body_text())),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            ApiError::Internal(err) => {
                tracing::error!(error = ?err, "request failed");
                "something went wrong on our side".to_owned()
            }
            other => other.to_string(),
        };
        let body = json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": detail,
        });
        let mut response = (status, Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        if let ApiError::TooManyRequests(seconds) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

/// `Query` whose rejections use the problem format.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `Json` whose rejections use the problem format.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);
