//! `GET /api/v1/reports`: what can be run — the named reports with their parameters, the views
//! free-form SQL may read with their columns, and the limits every report runs under.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::{MAX_BYTES, MAX_ROWS, REPORTS, STATEMENT_TIMEOUT};
use crate::AppState;
use crate::auth::Principal;
use crate::db::tenant_tx;
use crate::error::ApiError;
use crate::sql_guard::{FUNCTIONS, VIEWS};

#[derive(Debug, Serialize, ToSchema)]
pub struct NamedReport {
    pub name: &'static str,
    pub description: &'static str,
    /// Parameter name (or `from, to`) → what it takes.
    pub params: BTreeMap<&'static str, &'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ViewColumn {
    pub name: String,
    /// The PostgreSQL type (`uuid`, `text`, `timestamp with time zone`, ...).
    #[serde(rename = "type")]
    pub data_type: String,
}

/// A reporting view: one tenant's rows, without message text, phone numbers or secrets.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportingView {
    pub name: &'static str,
    pub columns: Vec<ViewColumn>,
}

/// The limits every report runs under.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryLimits {
    pub max_rows: usize,
    pub max_bytes: usize,
    /// For example `5s`.
    pub statement_timeout: &'static str,
    /// The functions free-form SQL may call.
    pub functions: Vec<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportCatalog {
    pub reports: Vec<NamedReport>,
    pub views: Vec<ReportingView>,
    pub query: QueryLimits,
}

/// The catalog: named reports with their parameters, and the views free-form SQL may read with
/// their columns.
#[utoipa::path(get, path = "/api/v1/reports", tag = "reports",
    responses((status = 200, description = "Named reports and the reporting views", body = ReportCatalog)))]
pub async fn catalog(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<ReportCatalog>, ApiError> {
    // information_schema lists what the current role may read: ask as the role reports run as.
    let mut tx = tenant_tx(&state.reports.pool, principal.tenant_id).await?;
    let columns = sqlx::query!(
        r#"SELECT table_name::text AS "table!", column_name::text AS "column!", data_type::text AS "data_type!"
             FROM information_schema.columns
            WHERE table_schema = 'reporting' ORDER BY table_name, ordinal_position"#
    )
    .fetch_all(&mut *tx)
    .await?;
    let views = VIEWS
        .iter()
        .map(|view| ReportingView {
            name: view,
            columns: columns
                .iter()
                .filter(|c| c.table == *view)
                .map(|c| ViewColumn {
                    name: c.column.clone(),
                    data_type: c.data_type.clone(),
                })
                .collect(),
        })
        .collect();
    let reports = REPORTS
        .iter()
        .map(|r| NamedReport {
            name: r.name,
            description: r.description,
            params: r.params.iter().copied().collect(),
        })
        .collect();
    Ok(Json(ReportCatalog {
        reports,
        views,
        query: QueryLimits {
            max_rows: MAX_ROWS,
            max_bytes: MAX_BYTES,
            statement_timeout: STATEMENT_TIMEOUT,
            functions: FUNCTIONS.to_vec(),
        },
    }))
}
