//! Files in conversations: operators upload what they send (`POST /api/v1/media`, the raw bytes,
//! checked from their contents), messages list their attachments, and every file is served only
//! through a signed, short-lived link (`GET /media/{id}?tenant=…&expires=…&sig=…`) that the
//! authenticated API hands out: `<img>` and `<audio>` cannot send a bearer token, and Meta fetches
//! the files we send without one.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use ventros_media::content::{ContentError, check_upload, clean_filename, displayable};
use ventros_media::signing::{SignedQuery, VIEW_TTL_SECS};
use ventros_media::{MediaKind, UrlSigner};

use crate::AppState;
use crate::auth::{AsAgent, Authorized, Principal};
use crate::db::tenant_tx;
use crate::error::{ApiError, ApiQuery};
use crate::ids::Id;

/// Largest upload body: the largest file of any kind (16 MB).
pub const MAX_UPLOAD_BODY: usize = 16 * 1024 * 1024;

/// A file of a message (or uploaded, waiting to be sent), or a location or contact card.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct MediaFile {
    pub id: Uuid,
    /// `image`, `audio`, `voice`, `video`, `document`, `sticker`, `location` or `contact`.
    pub kind: String,
    /// `pending` (being fetched from the provider), `stored`, or `failed` (see `error`).
    pub status: String,
    /// Read from the file's bytes.
    #[schema(required = true)]
    pub content_type: Option<String>,
    #[schema(required = true)]
    pub size_bytes: Option<i64>,
    #[schema(required = true)]
    pub filename: Option<String>,
    /// A location (`latitude`, `longitude`, `name`, `address`) or a contact card (`name`,
    /// `phones`, `vcard`).
    #[schema(value_type = Option<Object>, required = true)]
    pub details: Option<Value>,
    /// A voice note's words, where a transcription model is configured.
    #[schema(required = true)]
    pub transcript: Option<String>,
    /// Why a file could not be fetched.
    #[schema(required = true)]
    pub error: Option<String>,
    /// A link to the file, valid for 15 minutes (null until it is stored, and for locations and
    /// contact cards).
    #[sqlx(skip)]
    #[schema(required = true)]
    pub url: Option<String>,
}

pub struct Media;

impl crate::ids::Resource for Media {
    const NAME: &'static str = "media";
}

async fn signer(state: &AppState) -> Result<&UrlSigner, ApiError> {
    state
        .media_signer
        .get_or_try_init(|| UrlSigner::load(&state.pool))
        .await
        .map_err(|e| ApiError::Internal(e.into()))
}

/// Gives stored files their short-lived links (relative: the web app is served from here).
pub async fn sign(
    state: &AppState,
    tenant_id: Uuid,
    files: &mut [MediaFile],
) -> Result<(), ApiError> {
    if files.is_empty() {
        return Ok(());
    }
    let signer = signer(state).await?;
    let now = Utc::now().timestamp();
    for file in files.iter_mut() {
        let is_file = MediaKind::parse(&file.kind).is_some_and(MediaKind::is_file);
        if file.status == "stored" && is_file {
            file.url = Some(signer.url("", tenant_id, file.id, now, VIEW_TTL_SECS));
        }
    }
    Ok(())
}

/// The attachments of `message_ids`, by message, in order, with their links.
pub async fn attachments_of(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    tenant_id: Uuid,
    message_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<MediaFile>>, ApiError> {
    if message_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query!(
        r#"SELECT message_id AS "message_id!", id, kind, status, content_type, size_bytes, filename, details, transcript, error
             FROM media_files WHERE message_id = ANY($1) ORDER BY message_id, position"#,
        message_ids
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut files: Vec<(Uuid, MediaFile)> = rows
        .into_iter()
        .map(|r| {
            (
                r.message_id,
                MediaFile {
                    id: r.id,
                    kind: r.kind,
                    status: r.status,
                    content_type: r.content_type,
                    size_bytes: r.size_bytes,
                    filename: r.filename,
                    details: r.details,
                    transcript: r.transcript,
                    error: r.error,
                    url: None,
                },
            )
        })
        .collect();
    let mut only: Vec<MediaFile> = files.iter().map(|(_, f)| f.clone()).collect();
    sign(state, tenant_id, &mut only).await?;
    let mut out: HashMap<Uuid, Vec<MediaFile>> = HashMap::new();
    for ((message_id, _), signed) in files.drain(..).zip(only) {
        out.entry(message_id).or_default().push(signed);
    }
    Ok(out)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file's name as the customer will see it (documents show it).
    pub filename: Option<String>,
    /// Send an audio file as a voice note.
    #[serde(default)]
    pub voice: bool,
}

/// An uploaded file, ready to send.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadedMedia {
    #[serde(flatten)]
    pub file: MediaFile,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    pub created_at: DateTime<Utc>,
}

/// Uploads a file to send: the request body is the file itself, with its `Content-Type`. The type
/// is read from the bytes (images, audio, video, PDF, office documents, plain text); HTML, SVG,
/// scripts and executables are refused. Limits: images 5 MB, everything else 16 MB. Send it with
/// `POST /api/v1/conversations/{id}/messages` (`media_id`).
#[utoipa::path(post, path = "/api/v1/media", tag = "media", params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes"),
    responses((status = 201, description = "Stored", body = UploadedMedia),
              (status = 413, description = "Larger than the limit for its kind"),
              (status = 422, description = "Empty, or a type that cannot be sent")))]
pub async fn upload(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<UploadedMedia>), ApiError> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let checked = check_upload(&body, declared, q.voice, &state.config.media_limits).map_err(
        |e| match e {
            ContentError::TooLarge { limit, .. } => ApiError::PayloadTooLarge(limit as usize),
            other => ApiError::Unprocessable(other.to_string()),
        },
    )?;
    let filename = match q.filename.as_deref() {
        Some(name) => Some(clean_filename(name).ok_or_else(|| {
            ApiError::Unprocessable("filename must name a file (not a path)".into())
        })?),
        None => None,
    };
    let size = body.len() as i64;
    let stored = state
        .config
        .media_store
        .put(principal.tenant_id, body)
        .await
        .map_err(ApiError::Internal)?;
    let id = Uuid::now_v7();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let created_at = sqlx::query_scalar!(
        "INSERT INTO media_files (id, tenant_id, direction, kind, status, content_type, size_bytes, sha256, storage_key,
                                  filename, created_by, stored_at)
         VALUES ($1, $2, 'outbound', $3, 'stored', $4, $5, $6, $7, $8, $9, now()) RETURNING created_at",
        id,
        principal.tenant_id,
        checked.kind.as_str(),
        checked.content_type,
        size,
        &stored.sha256[..],
        stored.key,
        filename,
        principal.label(),
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut file = MediaFile {
        id,
        kind: checked.kind.as_str().to_owned(),
        status: "stored".into(),
        content_type: Some(checked.content_type),
        size_bytes: Some(size),
        filename,
        ..MediaFile::default()
    };
    sign(&state, principal.tenant_id, std::slice::from_mut(&mut file)).await?;
    Ok((
        StatusCode::CREATED,
        Json(UploadedMedia {
            file,
            sha256: hex::encode(stored.sha256),
            created_at,
        }),
    ))
}

/// A file (or location, or contact card) of the tenant, with a fresh link.
#[utoipa::path(get, path = "/api/v1/media/{id}", tag = "media", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The file", body = MediaFile), (status = 404, description = "No such file")))]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<Media>,
) -> Result<Json<MediaFile>, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    // `url` is filled in by `sign`.
    let mut file = sqlx::query_as!(
        MediaFile,
        r#"SELECT id, kind, status, content_type, size_bytes, filename, details, transcript, error, NULL::text AS "url"
             FROM media_files WHERE id = $1"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("media {id} not found")))?;
    drop(tx);
    sign(&state, principal.tenant_id, std::slice::from_mut(&mut file)).await?;
    Ok(Json(file))
}

/// The file behind a signed link. Anything wrong with the link is the same 404, so a link says
/// nothing about files it does not open.
pub async fn serve(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    query: Result<Query<SignedQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound("no such file, or the link has expired".into());
    let id: Uuid = raw_id.parse().map_err(|_| not_found())?;
    let Ok(Query(query)) = query else {
        return Err(not_found());
    };
    let signer = signer(&state).await?;
    if !signer.verify(id, &query, Utc::now().timestamp()) {
        return Err(not_found());
    }
    let mut tx = tenant_tx(&state.pool, query.tenant).await?;
    let row = sqlx::query!(
        "SELECT status, content_type, storage_key, sha256, filename FROM media_files WHERE id = $1",
        id
    )
    .fetch_optional(&mut *tx)
    .await?;
    drop(tx);
    let Some(row) = row.filter(|r| r.status == "stored") else {
        return Err(not_found());
    };
    let (Some(key), Some(sha256)) = (row.storage_key, row.sha256) else {
        return Err(not_found());
    };
    let (content_type, filename) = (row.content_type, row.filename);
    let bytes = state
        .config
        .media_store
        .get(&key, &sha256)
        .await
        .map_err(ApiError::Internal)?;
    let content_type = content_type.unwrap_or_else(|| ventros_media::content::OPAQUE.into());
    let disposition = if displayable(&content_type) {
        "inline"
    } else {
        "attachment"
    };
    let name = filename.unwrap_or_else(|| "file".into());
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    let value = |v: &str| {
        HeaderValue::from_str(v)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
    };
    headers.insert(header::CONTENT_TYPE, value(&content_type));
    // RFC 6266 / 5987: an ASCII fallback and the UTF-8 name.
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!(
            "{disposition}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=600"),
    );
    // A file is never a page: no scripts, no plugins, even if a browser were to render it.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    Ok(response)
}
