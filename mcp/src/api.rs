//! The Ventros REST API, as the MCP server sees it: every tool, resource and prompt goes through
//! here with a tenant API key. The server never touches the database, so it can do exactly what
//! the key's role may do through the API, and nothing else.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

/// A failed API call, in the words the API used.
#[derive(Debug, thiserror::Error)]
pub enum ApiFailure {
    /// The API answered with an error (problem+json): its status and detail.
    #[error("{title} (HTTP {status}): {detail}")]
    Refused {
        status: u16,
        title: String,
        detail: String,
    },
    /// The API could not be reached or answered nonsense.
    #[error("the Ventros API is unreachable: {0}")]
    Unreachable(String),
}

/// One API base URL and the HTTP client; the key is passed per call (stdio uses the configured
/// key, streamable HTTP the caller's).
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
}

impl ApiClient {
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client builds");
        ApiClient {
            base: base.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// Calls `method path` (path starting with `/api/v1/`) with query pairs and an optional JSON
    /// body. Returns the JSON answer (`null` for 204).
    pub async fn call(
        &self,
        key: &str,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        headers: &[(&str, String)],
    ) -> Result<Value, ApiFailure> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key)
            .query(query);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            ApiFailure::Unreachable(if e.is_timeout() {
                "timed out".into()
            } else {
                "connection failed".into()
            })
        })?;
        Self::answer(response).await
    }

    /// The JSON answer of a call, or the API's problem as a refusal.
    async fn answer(response: reqwest::Response) -> Result<Value, ApiFailure> {
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| ApiFailure::Unreachable(e.to_string()))?;
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if (200..300).contains(&status) {
            return Ok(value);
        }
        let field = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_owned);
        Err(ApiFailure::Refused {
            status,
            title: field("title").unwrap_or_else(|| "request refused".into()),
            detail: field("detail").unwrap_or_else(|| value.to_string()),
        })
    }

    /// Uploads a file (`POST /api/v1/media`, the raw bytes with their content type).
    pub async fn upload(
        &self,
        key: &str,
        query: &[(String, String)],
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<Value, ApiFailure> {
        let response = self
            .http
            .post(format!("{}/api/v1/media", self.base))
            .bearer_auth(key)
            .query(query)
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .map_err(|_| ApiFailure::Unreachable("connection failed".into()))?;
        Self::answer(response).await
    }

    pub async fn get(
        &self,
        key: &str,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Value, ApiFailure> {
        self.call(key, Method::GET, path, query, None, &[]).await
    }
}
