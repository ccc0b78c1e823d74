//! Segments: which contacts a filter selects. One SQL builder serves the API's preview (count and
//! a sample, as the caller's tenant under RLS) and the worker's resolution in pages (by contact id,
//! so a campaign can walk ten thousand recipients in bounded steps and resume after a crash).
//!
//! Merged contacts are never selected; opted-out contacts only when the filter asks for them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use uuid::Uuid;

/// A segment's filter. Every condition present must hold (AND); an empty filter selects every
/// contact that has not opted out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentFilter {
    /// Has every one of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_all: Vec<String>,
    /// Has at least one of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_any: Vec<String>,
    /// Has none of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_none: Vec<String>,
    /// Custom attributes equal to these values.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Map<String, Value>,
    /// Has an open deal in one of these pipeline stages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pipeline_stage_ids: Vec<Uuid>,
    /// Last conversation activity at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity_after: Option<DateTime<Utc>>,
    /// Last conversation activity before this time (contacts who never talked count as inactive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity_before: Option<DateTime<Utc>>,
    /// Has an identity (an address we can write to) on this channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<Uuid>,
    /// Include contacts who opted out (for counting and exports; campaigns skip them anyway).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_opted_out: bool,
}

impl SegmentFilter {
    /// Rejects filters that are too large or contradict themselves.
    pub fn validate(&self) -> Result<(), String> {
        let tags = self
            .tags_all
            .iter()
            .chain(&self.tags_any)
            .chain(&self.tags_none);
        if self.tags_all.len() + self.tags_any.len() + self.tags_none.len() > 50 {
            return Err("at most 50 tags in a filter".into());
        }
        for tag in tags {
            if tag.trim().is_empty() || tag.chars().count() > 64 || tag.contains('\0') {
                return Err("tags must be 1 to 64 characters".into());
            }
        }
        if self.tags_all.iter().any(|t| self.tags_none.contains(t)) {
            return Err("a tag cannot be both required (tags_all) and excluded (tags_none)".into());
        }
        if self.attributes.len() > 20
            || self
                .attributes
                .keys()
                .any(|k| k.is_empty() || k.chars().count() > 64 || k.contains('\0'))
        {
            return Err("attributes: at most 20 keys of 1 to 64 characters".into());
        }
        if self.attributes.values().any(|v| {
            v.is_null() || v.is_object() || v.is_array() || v.to_string().contains("\\u0000")
        }) {
            return Err("attribute values must be strings, numbers or booleans".into());
        }
        if self.pipeline_stage_ids.len() > 50 {
            return Err("at most 50 pipeline stages".into());
        }
        if let (Some(after), Some(before)) = (self.last_activity_after, self.last_activity_before)
            && after >= before
        {
            return Err("last_activity_after must be before last_activity_before".into());
        }
        Ok(())
    }

    /// Appends ` AND …` conditions on the contact aliased `c`.
    pub fn push_conditions(&self, qb: &mut QueryBuilder<Postgres>) {
        qb.push(" AND c.merged_into IS NULL");
        if !self.include_opted_out {
            qb.push(" AND c.opted_out_at IS NULL");
        }
        if !self.tags_all.is_empty() {
            qb.push(" AND c.tags @> ")
                .push_bind(self.tags_all.clone())
                .push("::text[]");
        }
        if !self.tags_any.is_empty() {
            qb.push(" AND c.tags && ")
                .push_bind(self.tags_any.clone())
                .push("::text[]");
        }
        if !self.tags_none.is_empty() {
            qb.push(" AND NOT c.tags && ")
                .push_bind(self.tags_none.clone())
                .push("::text[]");
        }
        if !self.attributes.is_empty() {
            qb.push(" AND c.custom_attributes @> ")
                .push_bind(Value::Object(self.attributes.clone()));
        }
        if !self.pipeline_stage_ids.is_empty() {
            qb.push(" AND EXISTS (SELECT 1 FROM deals d WHERE d.contact_id = c.id AND d.status = 'open' AND d.stage_id = ANY(")
                .push_bind(self.pipeline_stage_ids.clone())
                .push("))");
        }
        const LAST_ACTIVITY: &str = "(SELECT max(s.last_activity_at) FROM conversation_sessions s WHERE s.contact_id = c.id)";
        if let Some(after) = self.last_activity_after {
            qb.push(" AND ")
                .push(LAST_ACTIVITY)
                .push(" >= ")
                .push_bind(after);
        }
        if let Some(before) = self.last_activity_before {
            // Never talked (no session) counts as inactive.
            qb.push(" AND coalesce(")
                .push(LAST_ACTIVITY)
                .push(", '-infinity'::timestamptz) < ")
                .push_bind(before);
        }
        if let Some(channel_id) = self.channel_id {
            qb.push(" AND EXISTS (SELECT 1 FROM contact_identities i WHERE i.contact_id = c.id AND i.channel_id = ").push_bind(channel_id).push(")");
        }
    }
}

/// How many contacts of `tenant_id` the filter selects, and up to `sample` of them (newest first).
pub async fn preview(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    filter: &SegmentFilter,
    sample: i64,
) -> Result<(i64, Vec<Value>), sqlx::Error> {
    let mut qb = QueryBuilder::new("SELECT count(*) FROM contacts c WHERE c.tenant_id = ");
    qb.push_bind(tenant_id);
    filter.push_conditions(&mut qb);
    let count: i64 = qb.build().fetch_one(&mut *conn).await?.try_get(0)?;
    let mut qb = QueryBuilder::new(
        "SELECT jsonb_build_object('id', c.id, 'display_name', c.display_name, 'tags', c.tags, 'created_at', c.created_at)
           FROM contacts c WHERE c.tenant_id = ",
    );
    qb.push_bind(tenant_id);
    filter.push_conditions(&mut qb);
    qb.push(" ORDER BY c.created_at DESC, c.id DESC LIMIT ")
        .push_bind(sample);
    let rows = qb.build().fetch_all(&mut *conn).await?;
    let sample = rows
        .iter()
        .map(|r| r.try_get::<Value, _>(0))
        .collect::<Result<_, _>>()?;
    Ok((count, sample))
}

/// The next `limit` contact ids after `after` (by id), for resolving a segment in pages.
pub async fn page(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    filter: &SegmentFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut qb = QueryBuilder::new("SELECT c.id FROM contacts c WHERE c.tenant_id = ");
    qb.push_bind(tenant_id);
    filter.push_conditions(&mut qb);
    if let Some(after) = after {
        qb.push(" AND c.id > ").push_bind(after);
    }
    qb.push(" ORDER BY c.id LIMIT ").push_bind(limit);
    let rows = qb.build().fetch_all(&mut *conn).await?;
    rows.iter().map(|r| r.try_get::<Uuid, _>(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contradictions_and_oversized_filters_are_refused() {
        let ok: SegmentFilter = serde_json::from_value(
            serde_json::json!({"tags_all": ["vip"], "attributes": {"plan": "pro"}}),
        )
        .unwrap();
        assert!(ok.validate().is_ok());
        let both = SegmentFilter {
            tags_all: vec!["vip".into()],
            tags_none: vec!["vip".into()],
            ..Default::default()
        };
        assert!(both.validate().is_err());
        let nested: SegmentFilter =
            serde_json::from_value(serde_json::json!({"attributes": {"plan": {"a": 1}}})).unwrap();
        assert!(nested.validate().is_err());
        assert!(
            serde_json::from_value::<SegmentFilter>(serde_json::json!({"tag": "vip"})).is_err(),
            "unknown keys are errors"
        );
        let t = Utc::now();
        let backwards = SegmentFilter {
            last_activity_after: Some(t),
            last_activity_before: Some(t),
            ..Default::default()
        };
        assert!(backwards.validate().is_err());
    }
}
