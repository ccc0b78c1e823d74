//! What merging two contacts would do, before anyone starts it: the counts each ContactMerge step
//! would move (read with the same conditions as `activities/src/contacts.rs`), the open deals it
//! would close as lost, and the contact that would remain (tags joined, attributes with the
//! surviving contact's values winning, its name unless it has none). Nothing is changed.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use ventros_domain::DealStatus;

use super::Contact;
use crate::AppState;
use crate::auth::{AsAgent, Authorized};
use crate::db::tenant_tx;
use crate::error::{ApiError, ApiQuery};
use crate::ids::Id;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewParams {
    /// The contact that would be folded into this one.
    pub merge_contact_id: Uuid,
}

/// One of the two contacts, as it is now.
#[derive(Debug, Serialize, ToSchema)]
pub struct MergeSide {
    pub id: Uuid,
    #[schema(required = true)]
    pub display_name: Option<String>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub custom_attributes: Value,
}

/// How many of the merged contact's rows would move to the surviving one.
#[derive(Debug, Serialize, ToSchema)]
pub struct MergeMoves {
    pub identities: i64,
    pub conversations: i64,
    pub messages: i64,
    pub deals: i64,
    /// Open deals closed as lost because the surviving contact has an open deal in the same pipeline.
    pub deals_closed_as_lost: i64,
    pub tickets: i64,
    pub tasks: i64,
    pub memories: i64,
}

/// The surviving contact after the merge.
#[derive(Debug, Serialize, ToSchema)]
pub struct MergedContact {
    #[schema(required = true)]
    pub display_name: Option<String>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub custom_attributes: Value,
    /// Attributes both have with different values: the surviving contact's value is kept.
    pub conflicting_attributes: Vec<String>,
}

/// What a merge of `merged` into `surviving` would do.
#[derive(Debug, Serialize, ToSchema)]
pub struct MergePreview {
    pub surviving: MergeSide,
    pub merged: MergeSide,
    pub moves: MergeMoves,
    pub result: MergedContact,
}

async fn side(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<MergeSide, ApiError> {
    let row = sqlx::query!(
        "SELECT id, display_name, tags, custom_attributes, merged_into FROM contacts WHERE id = $1",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("contact {id} not found")))?;
    if let Some(into) = row.merged_into {
        return Err(ApiError::Conflict(format!(
            "contact {id} was merged into {into}"
        )));
    }
    Ok(MergeSide {
        id: row.id,
        display_name: row.display_name,
        tags: row.tags,
        custom_attributes: row.custom_attributes,
    })
}

/// The remaining contact, folded as the merge's `Finish` step folds it.
fn folded(surviving: &MergeSide, merged: &MergeSide) -> MergedContact {
    let mut tags: Vec<String> = surviving.tags.iter().chain(&merged.tags).cloned().collect();
    tags.sort();
    tags.dedup();
    let empty = Map::new();
    let theirs = merged.custom_attributes.as_object().unwrap_or(&empty);
    let ours = surviving.custom_attributes.as_object().unwrap_or(&empty);
    let mut attributes = theirs.clone();
    let mut conflicting = Vec::new();
    for (key, value) in ours {
        if theirs.get(key).is_some_and(|other| other != value) {
            conflicting.push(key.clone());
        }
        attributes.insert(key.clone(), value.clone());
    }
    conflicting.sort();
    MergedContact {
        display_name: surviving
            .display_name
            .clone()
            .or_else(|| merged.display_name.clone()),
        tags,
        custom_attributes: Value::Object(attributes),
        conflicting_attributes: conflicting,
    }
}

/// Previews merging another contact into this one: what would move, which open deals would be
/// closed, and the contact that would remain. Changes nothing.
#[utoipa::path(get, path = "/api/v1/contacts/{id}/merge-preview", tag = "contacts", params(("id" = Uuid, Path), PreviewParams),
    responses((status = 200, description = "What the merge would do", body = MergePreview), (status = 404, description = "No such contact"),
              (status = 409, description = "One of the contacts was already merged"), (status = 422, description = "The same contact twice")))]
pub async fn merge_preview(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Contact>,
    ApiQuery(params): ApiQuery<PreviewParams>,
) -> Result<Json<MergePreview>, ApiError> {
    let (target, source) = (id.get(), params.merge_contact_id);
    if source == target {
        return Err(ApiError::Unprocessable(
            "a contact cannot be merged into itself".into(),
        ));
    }
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let surviving = side(&mut tx, target).await?;
    let merged = side(&mut tx, source).await?;
    let moves = sqlx::query_as!(
        MergeMoves,
        r#"SELECT (SELECT count(*) FROM contact_identities WHERE contact_id = $1) AS "identities!",
                  (SELECT count(*) FROM conversation_sessions WHERE contact_id = $1) AS "conversations!",
                  (SELECT count(*) FROM messages WHERE contact_id = $1) AS "messages!",
                  (SELECT count(*) FROM deals WHERE contact_id = $1) AS "deals!",
                  (SELECT count(*) FROM deals d WHERE d.contact_id = $1 AND d.status = $3
                      AND EXISTS (SELECT 1 FROM deals t WHERE t.contact_id = $2 AND t.status = $3 AND t.pipeline_id = d.pipeline_id)) AS "deals_closed_as_lost!",
                  (SELECT count(*) FROM tickets WHERE contact_id = $1) AS "tickets!",
                  (SELECT count(*) FROM tasks WHERE contact_id = $1) AS "tasks!",
                  (SELECT count(*) FROM memories WHERE contact_id = $1) AS "memories!""#,
        source,
        target,
        DealStatus::Open.as_str(),
    )
    .fetch_one(&mut *tx)
    .await?;
    let result = folded(&surviving, &merged);
    Ok(Json(MergePreview {
        surviving,
        merged,
        moves,
        result,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn side(name: Option<&str>, tags: &[&str], attributes: Value) -> MergeSide {
        MergeSide {
            id: Uuid::nil(),
            display_name: name.map(str::to_owned),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            custom_attributes: attributes,
        }
    }

    #[test]
    fn the_surviving_contact_keeps_its_values_and_gains_the_rest() {
        let surviving = side(
            None,
            &["vip", "sp"],
            json!({"cidade": "Recife", "plano": "pro"}),
        );
        let merged = side(
            Some("Ana"),
            &["sp", "atacado"],
            json!({"cidade": "Natal", "cpf_final": "12"}),
        );
        let result = folded(&surviving, &merged);
        assert_eq!(result.display_name.as_deref(), Some("Ana"));
        assert_eq!(result.tags, ["atacado", "sp", "vip"]);
        assert_eq!(
            result.custom_attributes,
            json!({"cidade": "Recife", "plano": "pro", "cpf_final": "12"})
        );
        assert_eq!(result.conflicting_attributes, ["cidade"]);
    }
}
