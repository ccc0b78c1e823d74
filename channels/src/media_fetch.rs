//! Downloading a customer's file from where the provider put it: WAHA's file server (with the
//! channel's API key, which is only ever sent to the channel's own WAHA) or the URLs Meta signs
//! for attachments (no credentials). Every address goes through the egress policy, redirects
//! included, and a download stops at the size limit instead of filling memory.

use std::time::Duration;

use crate::net_guard::NetPolicy;
use crate::provider::ProviderConfig;
use crate::waha::HEADER_API_KEY;

/// Why a download did not produce the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Trying again will not help (too large, refused address, gone).
    #[error("{0}")]
    Permanent(String),
    #[error("{0}")]
    Retry(String),
}

/// Redirect hops followed (Meta's attachment links redirect to its CDN).
const MAX_REDIRECTS: usize = 3;

pub struct MediaDownloader {
    http: reqwest::Client,
    policy: NetPolicy,
}

impl MediaDownloader {
    pub fn new(policy: NetPolicy) -> Self {
        let http = policy
            .client_builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(90))
            .build()
            .expect("reqwest client builds");
        MediaDownloader { http, policy }
    }

    /// The request for `url`: WAHA's own files (`/api/files/…`) are read from the channel's base
    /// URL with its key, whatever host WAHA wrote into the link (it names itself by its own
    /// `WAHA_BASE_URL`, often unreachable from here); anything else is fetched as given.
    fn target(
        &self,
        provider: &ProviderConfig,
        url: &str,
    ) -> Result<(reqwest::Url, Option<String>), FetchError> {
        let given = self
            .policy
            .check_url(url, "the file's address")
            .map_err(FetchError::Permanent)?;
        if let ProviderConfig::Waha(cfg) = provider
            && given.path().starts_with("/api/files/")
        {
            let mut own = self
                .policy
                .check_url(&cfg.base_url, "the channel's base_url")
                .map_err(FetchError::Permanent)?;
            let base_path = own.path().trim_end_matches('/').to_owned();
            own.set_path(&format!("{base_path}{}", given.path()));
            own.set_query(given.query());
            return Ok((own, Some(cfg.api_key.clone())));
        }
        Ok((given, None))
    }

    /// The file's bytes, at most `max_bytes`.
    pub async fn download(
        &self,
        provider: &ProviderConfig,
        url: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, FetchError> {
        let (mut target, mut key) = self.target(provider, url)?;
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self.http.get(target.clone());
            if let Some(key) = &key {
                request = request.header(HEADER_API_KEY, key);
            }
            let mut response = request.send().await.map_err(|e| {
                FetchError::Retry(format!(
                    "the provider's file server did not answer: {}",
                    without_url(e)
                ))
            })?;
            let status = response.status();
            if status.is_redirection() {
                let next = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| target.join(l).ok())
                    .ok_or_else(|| FetchError::Permanent("a redirect without a location".into()))?;
                target = self
                    .policy
                    .check_url(next.as_str(), "the file's address")
                    .map_err(FetchError::Permanent)?;
                // The channel's key is for its WAHA only, never for wherever it redirects.
                key = None;
                continue;
            }
            if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                return Err(FetchError::Retry(format!(
                    "the provider's file server answered {status}"
                )));
            }
            if !status.is_success() {
                return Err(FetchError::Permanent(format!(
                    "the provider's file server answered {status}"
                )));
            }
            if response.content_length().is_some_and(|n| n > max_bytes) {
                return Err(too_large(max_bytes));
            }
            let mut bytes = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| {
                FetchError::Retry(format!("the download broke off: {}", without_url(e)))
            })? {
                if (bytes.len() + chunk.len()) as u64 > max_bytes {
                    return Err(too_large(max_bytes));
                }
                bytes.extend_from_slice(&chunk);
            }
            return Ok(bytes);
        }
        Err(FetchError::Permanent("too many redirects".into()))
    }
}

fn too_large(max_bytes: u64) -> FetchError {
    FetchError::Permanent(format!(
        "the file is larger than the {max_bytes}-byte limit"
    ))
}

/// reqwest's error text names the URL, which for Meta carries a signature: left out of reasons.
fn without_url(err: reqwest::Error) -> String {
    err.without_url().to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::http::HeaderMap;

    use super::*;
    use crate::channel::WahaConfig;

    /// A server on loopback that answers every GET with `body` and records the API keys it was
    /// sent (None for a request without one).
    async fn server(body: &'static [u8]) -> (String, Arc<Mutex<Vec<Option<String>>>>) {
        let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap| {
            let log = log.clone();
            async move {
                let key = headers
                    .get(HEADER_API_KEY)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                log.lock().unwrap().push(key);
                body
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, seen)
    }

    fn tls() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }

    fn waha(base_url: &str) -> ProviderConfig {
        ProviderConfig::Waha(WahaConfig {
            base_url: base_url.into(),
            api_key: "waha-secret-key".into(),
            session: "default".into(),
            hmac_key: None,
        })
    }

    #[tokio::test]
    async fn the_channel_key_only_ever_goes_to_the_channels_own_waha() {
        tls();
        let (waha_url, waha_seen) = server(b"real file").await;
        let (evil_url, evil_seen) = server(b"attacker").await;
        let downloader = MediaDownloader::new(NetPolicy::private_allowed());
        // A payload naming another host for WAHA's file path: read from the channel's WAHA.
        let got = downloader
            .download(
                &waha(&waha_url),
                &format!("{evil_url}/api/files/default/a.jpg"),
                1024,
            )
            .await
            .unwrap();
        assert_eq!(got, b"real file");
        assert_eq!(
            waha_seen.lock().unwrap().as_slice(),
            [Some("waha-secret-key".to_owned())]
        );
        // Any other address is fetched as given, without the key.
        let got = downloader
            .download(&waha(&waha_url), &format!("{evil_url}/files/a.jpg"), 1024)
            .await
            .unwrap();
        assert_eq!(got, b"attacker");
        assert_eq!(evil_seen.lock().unwrap().as_slice(), [None]);
    }

    #[tokio::test]
    async fn private_addresses_are_refused_and_downloads_stop_at_the_limit() {
        tls();
        let (url, seen) = server(b"0123456789").await;
        let public_only = MediaDownloader::new(NetPolicy::public_only());
        for target in [
            format!("{url}/x.jpg"),
            "http://169.254.169.254/latest/meta-data".into(),
            "file:///etc/passwd".into(),
        ] {
            let err = public_only
                .download(&waha("https://waha.example"), &target, 1024)
                .await
                .unwrap_err();
            assert!(matches!(err, FetchError::Permanent(_)), "{target}: {err:?}");
        }
        assert!(
            seen.lock().unwrap().is_empty(),
            "nothing private was reached"
        );
        let open = MediaDownloader::new(NetPolicy::private_allowed());
        let err = open
            .download(&waha(&url), &format!("{url}/x.jpg"), 5)
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::Permanent(ref r) if r.contains("limit")),
            "{err:?}"
        );
        assert_eq!(
            open.download(&waha(&url), &format!("{url}/x.jpg"), 10)
                .await
                .unwrap(),
            b"0123456789"
        );
    }
}
