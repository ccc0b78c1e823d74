//! Merging two contacts into one. The merge is recorded first, then a ContactMerge workflow moves
//! identities, conversations, deals and memories: a crash midway finishes instead of leaving half
//! a merge.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use temporalio_client::{WorkflowIdConflictPolicy, WorkflowStartOptions};
use utoipa::ToSchema;
use uuid::Uuid;
use ventros_domain::MergeStatus;
use ventros_workflows::{ContactMerge, ContactMergeInput, ids};

use super::{Contact, lock_contact};
use crate::auth::{AsAgent, Authorized, Principal};
use crate::db::tenant_tx;
use crate::error::{ApiError, ApiJson};
use crate::ids::Id;
use crate::{AppState, TemporalLink};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The contact folded into this one (it remains as a tombstone pointing here).
    pub merge_contact_id: Uuid,
}

/// A merge just started (or already running) and its workflow.
#[derive(Debug, Serialize, ToSchema)]
pub struct StartedMerge {
    pub id: Uuid,
    pub status: MergeStatus,
    pub source_contact_id: Uuid,
    pub target_contact_id: Uuid,
    pub workflow: TemporalLink,
}

/// Merges another contact into this one: identities, conversations with their messages, deals
/// and memories move here. Runs as a ContactMerge workflow; poll the merge for its outcome.
/// Repeating the request while it runs returns the same merge.
#[utoipa::path(post, path = "/api/v1/contacts/{id}/merge", tag = "contacts", params(("id" = Uuid, Path)), request_body = MergeBody,
    responses((status = 202, description = "Merge started (or already running)", body = StartedMerge), (status = 404, description = "No such contact"),
              (status = 409, description = "Already merged, or one of the contacts is in another merge")))]
pub async fn merge(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Contact>,
    ApiJson(req): ApiJson<MergeBody>,
) -> Result<(StatusCode, Json<StartedMerge>), ApiError> {
    let target = id.get();
    let source = req.merge_contact_id;
    if source == target {
        return Err(ApiError::Unprocessable(
            "a contact cannot be merged into itself".into(),
        ));
    }
    let merge_id = record_merge(&state, &principal, source, target).await?;
    let workflow_id = ids::contact_merge_workflow_id(principal.tenant_id, merge_id);
    start_workflow(&state, principal.tenant_id, merge_id, &workflow_id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(StartedMerge {
            id: merge_id,
            status: MergeStatus::Running,
            source_contact_id: source,
            target_contact_id: target,
            workflow: state.config.temporal_link("workflows", &workflow_id),
        }),
    ))
}

/// Records the merge (or finds the same one already running) and commits: the workflow never
/// looks for a row that might still roll back. If its start fails, the merge stays recorded and
/// repeating the request starts it (same id).
async fn record_merge(
    state: &AppState,
    principal: &Principal,
    source: Uuid,
    target: Uuid,
) -> Result<Uuid, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    lock_contact(&mut tx, target).await?;
    lock_contact(&mut tx, source).await?;
    let running = sqlx::query!(
        "SELECT id, source_contact_id, target_contact_id FROM contact_merges
          WHERE status = $2 AND (source_contact_id = ANY($1) OR target_contact_id = ANY($1)) LIMIT 1",
        &[source, target] as &[Uuid],
        MergeStatus::Running.as_str(),
    )
    .fetch_optional(&mut *tx)
    .await?;
    let merge_id = match running {
        // The same request again (a client retry, or one whose workflow start failed): resume it.
        Some(m) if m.source_contact_id == source && m.target_contact_id == target => m.id,
        Some(_) => {
            return Err(ApiError::Conflict(
                "one of these contacts is already being merged".into(),
            ));
        }
        None => {
            let id = Uuid::now_v7();
            sqlx::query!(
                "INSERT INTO contact_merges (id, tenant_id, source_contact_id, target_contact_id, workflow_id, requested_by) VALUES ($1, $2, $3, $4, $5, $6)",
                id,
                principal.tenant_id,
                source,
                target,
                ids::contact_merge_workflow_id(principal.tenant_id, id),
                principal.label(),
            )
            .execute(&mut *tx)
            .await?;
            id
        }
    };
    tx.commit().await?;
    Ok(merge_id)
}

async fn start_workflow(
    state: &AppState,
    tenant_id: Uuid,
    merge_id: Uuid,
    workflow_id: &str,
) -> Result<(), ApiError> {
    let client = state.temporal.client().await?;
    let options =
        WorkflowStartOptions::new(state.config.task_queue.clone(), workflow_id.to_owned())
            .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
            .build();
    let input = ContactMergeInput {
        tenant_id,
        merge_id,
    };
    match tokio::time::timeout(
        state.config.temporal_deadline,
        client.start_workflow(ContactMerge::run, input, options),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => {
            tracing::error!(error = %err, "starting ContactMerge failed");
            Err(ApiError::Unavailable(
                "the merge is recorded but did not start; repeat the request".into(),
            ))
        }
        Err(_) => Err(ApiError::Unavailable(
            "Temporal did not answer in time; repeat the request".into(),
        )),
    }
}

/// A merge, what it moved and its workflow.
#[derive(Debug, Serialize, ToSchema)]
pub struct Merge {
    pub id: Uuid,
    pub status: MergeStatus,
    pub source_contact_id: Uuid,
    pub target_contact_id: Uuid,
    /// How many identities, conversations, messages, deals and memories moved.
    #[schema(value_type = Object)]
    pub moved: Value,
    pub requested_by: String,
    pub workflow_id: String,
    pub workflow: TemporalLink,
    pub created_at: DateTime<Utc>,
    #[schema(required = true)]
    pub completed_at: Option<DateTime<Utc>>,
}

impl crate::ids::Resource for Merge {
    const NAME: &'static str = "merge";
}

/// A merge and what it moved.
#[utoipa::path(get, path = "/api/v1/contact-merges/{id}", tag = "contacts", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The merge", body = Merge), (status = 404, description = "No such merge")))]
pub async fn show_merge(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<Merge>,
) -> Result<Json<Merge>, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let row = sqlx::query!(
        r#"SELECT id, status AS "status: MergeStatus", source_contact_id, target_contact_id, moved, requested_by,
                  workflow_id, created_at, completed_at
             FROM contact_merges WHERE id = $1"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("merge {id} not found")))?;
    Ok(Json(Merge {
        workflow: state.config.temporal_link("workflows", &row.workflow_id),
        id: row.id,
        status: row.status,
        source_contact_id: row.source_contact_id,
        target_contact_id: row.target_contact_id,
        moved: row.moved,
        requested_by: row.requested_by,
        workflow_id: row.workflow_id,
        created_at: row.created_at,
        completed_at: row.completed_at,
    }))
}
