//! Customers' files, fetched from the provider into object storage by the Conversation before it
//! decides a reply. The type is read from the bytes, the size is bounded while downloading, the
//! object is content-addressed (a retry writes the same object and the row moves from pending to
//! stored once), and a voice note is transcribed where a model is configured.

use std::sync::Arc;

use bytes::Bytes;
use sqlx::PgPool;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use ventros_channels::media_fetch::{FetchError, MediaDownloader};
use ventros_media::content::{MediaKind, OPAQUE, sniff};
use ventros_media::{MediaStore, Transcriber};
use ventros_store::media::{self as store, PendingFile, StoredFile};
use ventros_workflows::contract::{
    MEDIA_FETCH_ATTEMPTS, MediaFetchInput, MediaFetchOutput, activities as defs,
};

use crate::acts::store_failure;

/// Media settings, from the environment (see the README's configuration table); the API and the
/// worker must name the same store.
#[derive(Debug, Clone, clap::Args)]
pub struct MediaSettings {
    /// Where files are kept: a directory (`file:///var/lib/ventros/media`, the default
    /// `./data/media`) or an S3-compatible bucket (`s3://bucket/prefix`, configured by the
    /// standard `AWS_*` variables).
    #[arg(long, env = "MEDIA_STORE_URL", default_value = "./data/media")]
    pub media_store_url: String,
    /// Largest file fetched from a customer, in bytes.
    #[arg(long, env = "MEDIA_MAX_INBOUND_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub media_max_inbound_bytes: u64,
    /// An OpenAI-compatible speech-to-text service (`…/v1`), for voice notes' words; unset:
    /// voice notes are kept and played, not transcribed.
    #[arg(long, env = "TRANSCRIPTION_BASE_URL")]
    pub transcription_base_url: Option<String>,
    #[arg(long, env = "TRANSCRIPTION_API_KEY", hide_env_values = true)]
    pub transcription_api_key: Option<secrecy::SecretString>,
    #[arg(long, env = "TRANSCRIPTION_MODEL", default_value = "whisper-1")]
    pub transcription_model: String,
}

impl MediaSettings {
    pub fn store(&self) -> anyhow::Result<MediaStore> {
        MediaStore::from_url(&self.media_store_url)
    }

    pub fn transcriber(&self) -> anyhow::Result<Option<Transcriber>> {
        self.transcription_base_url
            .as_deref()
            .map(|url| {
                Transcriber::new(
                    url,
                    self.transcription_api_key.clone(),
                    &self.transcription_model,
                )
            })
            .transpose()
    }
}

pub struct MediaActivities {
    pool: PgPool,
    store: MediaStore,
    downloader: MediaDownloader,
    transcriber: Option<Transcriber>,
    max_bytes: u64,
}

impl MediaActivities {
    pub fn new(
        pool: PgPool,
        store: MediaStore,
        downloader: MediaDownloader,
        transcriber: Option<Transcriber>,
        max_bytes: u64,
    ) -> Self {
        MediaActivities {
            pool,
            store,
            downloader,
            transcriber,
            max_bytes,
        }
    }
}

/// How one file's attempt ended.
enum Outcome {
    Stored { transcribed: bool },
    Failed,
}

#[activities]
impl MediaActivities {
    #[activity(definition = defs::MediaFetchInbound)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&ctx), activity.type = ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn fetch_inbound(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: MediaFetchInput,
    ) -> Result<MediaFetchOutput, ActivityError> {
        let last_attempt = ctx.info().attempt >= MEDIA_FETCH_ATTEMPTS;
        let channel = ventros_store::load_channel(&self.pool, input.tenant_id, input.channel_id)
            .await
            .map_err(store_failure)?;
        let files = store::pending_files(&self.pool, input.tenant_id, input.message_id)
            .await
            .map_err(store_failure)?;
        let mut out = MediaFetchOutput::default();
        let mut retry_reason = None;
        for file in files {
            match self
                .fetch_one(&channel.provider, input.tenant_id, &file, last_attempt)
                .await
            {
                Ok(Outcome::Stored { transcribed }) => {
                    out.stored += 1;
                    out.transcribed += u32::from(transcribed);
                }
                Ok(Outcome::Failed) => out.failed += 1,
                Err(reason) => {
                    store::file_failed(&self.pool, input.tenant_id, file.id, &reason, last_attempt)
                        .await
                        .map_err(store_failure)?;
                    if last_attempt {
                        out.failed += 1;
                    } else {
                        retry_reason = Some(reason);
                    }
                }
            }
        }
        if let Some(reason) = retry_reason {
            tracing::warn!(message.id = %input.message_id, %reason, "a file could not be fetched yet; retrying");
            return Err(ActivityError::from(anyhow::anyhow!(reason)));
        }
        store::media_settled(&self.pool, input.tenant_id, input.message_id)
            .await
            .map_err(store_failure)?;
        tracing::info!(message.id = %input.message_id, stored = out.stored, failed = out.failed, transcribed = out.transcribed, "inbound media settled");
        Ok(out)
    }
}

impl MediaActivities {
    /// Fetches, checks and stores one file. `Err` is a reason worth another attempt.
    async fn fetch_one(
        &self,
        provider: &ventros_channels::provider::ProviderConfig,
        tenant_id: uuid::Uuid,
        file: &PendingFile,
        last_attempt: bool,
    ) -> Result<Outcome, String> {
        let failed = |reason: String| async move {
            store::file_failed(&self.pool, tenant_id, file.id, &reason, true)
                .await
                .map(|()| Outcome::Failed)
                .map_err(|e| e.to_string())
        };
        let Some(url) = &file.source_url else {
            return failed("the provider gave no address for this file".into()).await;
        };
        let bytes = match self
            .downloader
            .download(provider, url, self.max_bytes)
            .await
        {
            Ok(bytes) if bytes.is_empty() => {
                return failed("the provider sent an empty file".into()).await;
            }
            Ok(bytes) => bytes,
            Err(FetchError::Permanent(reason)) => return failed(reason).await,
            Err(FetchError::Retry(reason)) => return Err(reason),
        };
        let mut content_type =
            sniff(&bytes, file.declared_type.as_deref()).unwrap_or_else(|| OPAQUE.to_owned());
        // The provider's word for the kind stands when the bytes agree on the family (a voice note
        // is audio, a sticker an image); otherwise the bytes decide.
        let provider_kind = MediaKind::parse(&file.kind).unwrap_or(MediaKind::Document);
        let family = MediaKind::of_content_type(&content_type);
        let kind = match (provider_kind, family) {
            (MediaKind::Voice, MediaKind::Audio) | (MediaKind::Sticker, MediaKind::Image) => {
                provider_kind
            }
            // Messenger's voice clips are AAC in an MP4 container, which reads as video.
            (MediaKind::Voice | MediaKind::Audio, MediaKind::Video)
                if content_type == "video/mp4" =>
            {
                content_type = "audio/mp4".into();
                provider_kind
            }
            (MediaKind::Document, _) => MediaKind::Document,
            _ => family,
        };
        let transcript = match (&self.transcriber, kind) {
            (Some(t), MediaKind::Voice | MediaKind::Audio) => {
                match t.transcribe(bytes.clone(), &content_type).await {
                    Ok(text) if !text.is_empty() => Some(text),
                    Ok(_) => None,
                    // The file itself is kept; only its words are missing.
                    Err(err) if last_attempt => {
                        tracing::warn!(error = %err, "voice note left untranscribed");
                        None
                    }
                    Err(err) => return Err(format!("transcribing the voice note: {err}")),
                }
            }
            _ => None,
        };
        let size = bytes.len() as i64;
        let stored = self
            .store
            .put(tenant_id, Bytes::from(bytes))
            .await
            .map_err(|e| e.to_string())?;
        store::file_stored(
            &self.pool,
            tenant_id,
            file.id,
            kind.as_str(),
            &StoredFile {
                content_type: &content_type,
                size_bytes: size,
                sha256: &stored.sha256,
                storage_key: &stored.key,
                transcript: transcript.as_deref(),
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(Outcome::Stored {
            transcribed: transcript.is_some(),
        })
    }
}

/// What sending an operator's file needs: the bytes from storage (WAHA takes them inline) and a
/// signed link to them (Meta fetches files itself, from the API's public address).
pub struct OutboundMedia {
    pool: PgPool,
    store: MediaStore,
    public_base_url: String,
    signer: tokio::sync::OnceCell<ventros_media::UrlSigner>,
}

impl OutboundMedia {
    pub fn new(pool: PgPool, store: MediaStore, public_base_url: &str) -> Self {
        OutboundMedia {
            pool,
            store,
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
            signer: tokio::sync::OnceCell::new(),
        }
    }

    /// The file's bytes (checked against their digest) and a link valid for an hour.
    pub async fn prepare(
        &self,
        tenant_id: uuid::Uuid,
        file: &ventros_store::OutboundFile,
    ) -> anyhow::Result<(Bytes, String)> {
        let bytes = self.store.get(&file.storage_key, &file.sha256).await?;
        let signer = self
            .signer
            .get_or_try_init(|| ventros_media::UrlSigner::load(&self.pool))
            .await?;
        let url = signer.url(
            &self.public_base_url,
            tenant_id,
            file.id,
            chrono::Utc::now().timestamp(),
            ventros_media::signing::PROVIDER_TTL_SECS,
        );
        Ok((bytes, url))
    }
}
