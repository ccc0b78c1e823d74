//! The knowledge base: documents (Markdown, plain text, HTML, PDF) and product catalogues (CSV) a
//! business uploads so that its agents answer from them. An upload is stored with a version and
//! indexed by a KnowledgeIngestion workflow (one per version); re-uploading replaces the passages,
//! deleting removes them. Search goes through MemoryService, the same path the agents' tool takes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use temporalio_client::{WorkflowIdConflictPolicy, WorkflowStartOptions};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use ventros_domain::{KnowledgeFormat, KnowledgeStatus};
use ventros_proto::v1::KnowledgeSearchRequest;
use ventros_workflows::{KnowledgeIngestion, KnowledgeIngestionInput, ids};

use super::required_text;
use crate::auth::{AsAdmin, Authorized, Principal};
use crate::db::{List, execute_found, retry_on_deadlock, tenant_tx};
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::ids::Id;
use crate::{AppState, TemporalLink};

/// The largest source accepted, decoded.
pub const MAX_SOURCE_BYTES: usize = 5 * 1024 * 1024;
/// The request body limit on upload routes: a base64 source of the largest size, and its JSON.
pub const MAX_UPLOAD_BODY: usize = MAX_SOURCE_BYTES * 4 / 3 + 64 * 1024;

/// A knowledge document and where its indexing stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct KnowledgeDocument {
    pub id: Uuid,
    pub title: String,
    pub format: KnowledgeFormat,
    /// Bumped by every re-upload.
    pub version: i32,
    pub status: KnowledgeStatus,
    /// Why indexing failed, for the admin.
    #[schema(required = true)]
    pub error: Option<String>,
    /// The version whose passages agents search now.
    #[schema(required = true)]
    pub indexed_version: Option<i32>,
    pub passage_count: i32,
    /// `pt`, `en` or `es`, as read from the text once indexed.
    #[schema(required = true)]
    pub language: Option<String>,
    pub size_bytes: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl crate::ids::Resource for KnowledgeDocument {
    const NAME: &'static str = "knowledge document";
}

/// A document just uploaded (or re-uploaded), with the workflow that indexes it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadedDocument {
    #[serde(flatten)]
    pub document: KnowledgeDocument,
    pub workflow: TemporalLink,
}

/// A document's source: `content` for text formats, or `content_base64` (required for PDF).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadDocument {
    pub title: String,
    pub format: KnowledgeFormat,
    /// The text of a Markdown, plain-text, HTML or CSV document (UTF-8).
    pub content: Option<String>,
    /// The bytes of any format, base64-encoded (standard alphabet).
    pub content_base64: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The question, as a customer would ask it.
    pub q: String,
    /// At most this many passages (1 to 20, default 5).
    #[param(minimum = 1, maximum = 20)]
    pub limit: Option<i32>,
}

/// A passage of the knowledge base, as the agents see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct KnowledgePassage {
    pub id: String,
    pub document_id: String,
    pub document_title: String,
    /// The section's heading or the product's name (empty when none).
    pub heading: String,
    pub content: String,
    /// A catalogue row's columns.
    pub fields: std::collections::HashMap<String, String>,
    /// Rank fusion of the vector and full-text lists, 0 to 1.
    pub score: f32,
    /// Cosine similarity of question and passage (0 when only the words matched).
    pub similarity: f32,
    pub keyword_match: bool,
    /// Share of the question's meaningful words found in the passage, 0 to 1.
    pub keyword_coverage: f32,
}

async fn fetch(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<KnowledgeDocument, ApiError> {
    sqlx::query_as!(
        KnowledgeDocument,
        r#"SELECT id, title, format AS "format: KnowledgeFormat", version,
                  status AS "status: KnowledgeStatus", error, indexed_version, passage_count,
                  language, length(source) AS "size_bytes!", created_at, updated_at
             FROM knowledge_documents WHERE id = $1"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("knowledge document {id} not found")))
}

/// The decoded source, checked against the format and the size limit.
fn source_of(req: &UploadDocument) -> Result<Vec<u8>, ApiError> {
    let bytes = match (&req.content, &req.content_base64) {
        (Some(text), None) if req.format != KnowledgeFormat::Pdf => text.as_bytes().to_vec(),
        (Some(_), None) => {
            return Err(ApiError::Unprocessable(
                "a PDF is sent as content_base64".into(),
            ));
        }
        (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| ApiError::Unprocessable("content_base64 is not valid base64".into()))?,
        _ => {
            return Err(ApiError::Unprocessable(
                "send exactly one of content and content_base64".into(),
            ));
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::Unprocessable("the document is empty".into()));
    }
    if bytes.len() > MAX_SOURCE_BYTES {
        return Err(ApiError::Unprocessable(format!(
            "the document is larger than {} MB",
            MAX_SOURCE_BYTES / 1024 / 1024
        )));
    }
    if req.format == KnowledgeFormat::Pdf && !bytes.starts_with(b"%PDF-") {
        return Err(ApiError::Unprocessable(
            "the content is not a PDF (it does not start with %PDF-)".into(),
        ));
    }
    Ok(bytes)
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Starts the version's KnowledgeIngestion (an already running one for it is kept).
async fn start_indexing(
    state: &AppState,
    tenant_id: Uuid,
    document_id: Uuid,
    version: i32,
) -> Result<TemporalLink, ApiError> {
    let workflow_id = ids::knowledge_ingestion_workflow_id(tenant_id, document_id, version);
    let client = state.temporal.client().await?;
    let options = WorkflowStartOptions::new(state.config.task_queue.clone(), workflow_id.clone())
        .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
        .build();
    let input = KnowledgeIngestionInput {
        tenant_id,
        document_id,
        version,
    };
    match tokio::time::timeout(
        state.config.temporal_deadline,
        client.start_workflow(KnowledgeIngestion::run, input, options),
    )
    .await
    {
        Ok(Ok(_)) => Ok(state.config.temporal_link("workflows", &workflow_id)),
        Ok(Err(err)) => {
            tracing::error!(error = %err, "starting KnowledgeIngestion failed");
            Err(ApiError::Unavailable(format!(
                "the document is saved but its indexing did not start; POST /api/v1/knowledge/documents/{document_id}/reindex"
            )))
        }
        Err(_) => Err(ApiError::Unavailable(format!(
            "Temporal did not answer in time; POST /api/v1/knowledge/documents/{document_id}/reindex"
        ))),
    }
}

/// Lists the knowledge base's documents, newest first.
#[utoipa::path(get, path = "/api/v1/knowledge/documents", tag = "knowledge",
    responses((status = 200, description = "Documents", body = List<KnowledgeDocument>)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<List<KnowledgeDocument>>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let items = sqlx::query_as!(
        KnowledgeDocument,
        r#"SELECT id, title, format AS "format: KnowledgeFormat", version,
                  status AS "status: KnowledgeStatus", error, indexed_version, passage_count,
                  language, length(source) AS "size_bytes!", created_at, updated_at
             FROM knowledge_documents ORDER BY created_at DESC, id"#
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(Json(List { items }))
}

/// Uploads a document or a product catalogue (CSV with a `name`/`nome` column, and optionally
/// description, price and availability). Indexed by a KnowledgeIngestion workflow: `status` is
/// `pending` until its passages are searchable.
#[utoipa::path(post, path = "/api/v1/knowledge/documents", tag = "knowledge", request_body = UploadDocument,
    responses((status = 202, description = "Saved; indexing started", body = UploadedDocument),
              (status = 403, description = "Admins only"), (status = 422, description = "Invalid document")))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    ApiJson(req): ApiJson<UploadDocument>,
) -> Result<(StatusCode, Json<UploadedDocument>), ApiError> {
    let title = required_text(&req.title, "title", 200)?;
    let source = source_of(&req)?;
    let id = Uuid::now_v7();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    sqlx::query!(
        "INSERT INTO knowledge_documents (id, tenant_id, title, format, source, source_sha256)
         VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        principal.tenant_id,
        title,
        req.format as KnowledgeFormat,
        source,
        sha256(&source),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let workflow = start_indexing(&state, principal.tenant_id, id, 1).await?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let document = fetch(&mut tx, id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(UploadedDocument { document, workflow }),
    ))
}

/// A document and where its indexing stands.
#[utoipa::path(get, path = "/api/v1/knowledge/documents/{id}", tag = "knowledge", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The document", body = KnowledgeDocument), (status = 404, description = "No such document")))]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<KnowledgeDocument>,
) -> Result<Json<KnowledgeDocument>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    Ok(Json(fetch(&mut tx, id.get()).await?))
}

/// Replaces a document's source (a new version): its passages are replaced once the new version
/// is indexed. Uploading the same bytes again changes nothing.
#[utoipa::path(put, path = "/api/v1/knowledge/documents/{id}", tag = "knowledge", params(("id" = Uuid, Path)), request_body = UploadDocument,
    responses((status = 202, description = "Saved; indexing started", body = UploadedDocument),
              (status = 404, description = "No such document"), (status = 422, description = "Invalid document")))]
pub async fn replace(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    id: Id<KnowledgeDocument>,
    ApiJson(req): ApiJson<UploadDocument>,
) -> Result<(StatusCode, Json<UploadedDocument>), ApiError> {
    let id = id.get();
    let title = required_text(&req.title, "title", 200)?;
    let source = source_of(&req)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let version = sqlx::query_scalar!(
        "UPDATE knowledge_documents
            SET title = $2, format = $3, source = $4, source_sha256 = $5, status = $6, error = NULL,
                version = version + 1
          WHERE id = $1 AND (source_sha256 <> $5 OR format <> $3)
          RETURNING version",
        id,
        title,
        req.format as KnowledgeFormat,
        source,
        sha256(&source),
        KnowledgeStatus::Pending as KnowledgeStatus,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let version = match version {
        Some(v) => v,
        None => {
            // The same source again (or no such document): only the title may change.
            sqlx::query_scalar!(
                "UPDATE knowledge_documents SET title = $2 WHERE id = $1 RETURNING version",
                id,
                title
            )
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("knowledge document {id} not found")))?
        }
    };
    tx.commit().await?;
    let workflow = start_indexing(&state, principal.tenant_id, id, version).await?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let document = fetch(&mut tx, id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(UploadedDocument { document, workflow }),
    ))
}

/// Indexes the document's current version again (after a failed start, or a model change).
#[utoipa::path(post, path = "/api/v1/knowledge/documents/{id}/reindex", tag = "knowledge", params(("id" = Uuid, Path)),
    responses((status = 202, description = "Indexing started", body = UploadedDocument), (status = 404, description = "No such document")))]
pub async fn reindex(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    id: Id<KnowledgeDocument>,
) -> Result<(StatusCode, Json<UploadedDocument>), ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let document = fetch(&mut tx, id.get()).await?;
    drop(tx);
    let workflow =
        start_indexing(&state, principal.tenant_id, document.id, document.version).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(UploadedDocument { document, workflow }),
    ))
}

/// Deletes a document and its passages: agents stop quoting it at once.
#[utoipa::path(delete, path = "/api/v1/knowledge/documents/{id}", tag = "knowledge", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such document")))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    id: Id<KnowledgeDocument>,
) -> Result<StatusCode, ApiError> {
    let id = id.get();
    // Indexing may be writing the document's passages while the cascade deletes them.
    retry_on_deadlock(|| async {
        let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
        execute_found(
            &mut tx,
            sqlx::query!("DELETE FROM knowledge_documents WHERE id = $1", id),
            || format!("knowledge document {id}"),
        )
        .await?;
        tx.commit().await?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// The passages that best answer a question: what an agent would quote.
#[utoipa::path(get, path = "/api/v1/knowledge/search", tag = "knowledge", params(SearchParams),
    responses((status = 200, description = "Passages, best first", body = List<KnowledgePassage>), (status = 400, description = "Empty question")))]
pub async fn search(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<List<KnowledgePassage>>, ApiError> {
    let q = params.q.trim();
    if q.is_empty() || q.chars().count() > 2_000 {
        return Err(ApiError::BadRequest(
            "q must be 1 to 2000 characters".into(),
        ));
    }
    let limit = params.limit.unwrap_or(5);
    if !(1..=20).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1 to 20".into()));
    }
    let response = state
        .memory
        .search_knowledge(
            principal.tenant_id,
            KnowledgeSearchRequest {
                tenant_id: principal.tenant_id.to_string(),
                query: q.to_owned(),
                limit,
            },
        )
        .await?;
    Ok(Json(List {
        items: response
            .passages
            .into_iter()
            .map(|p| KnowledgePassage {
                id: p.id,
                document_id: p.document_id,
                document_title: p.document_title,
                heading: p.heading,
                content: p.content,
                fields: p.fields,
                score: p.score,
                similarity: p.similarity,
                keyword_match: p.keyword_match,
                keyword_coverage: p.keyword_coverage,
            })
            .collect(),
    }))
}
