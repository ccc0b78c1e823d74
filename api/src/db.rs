//! Database access under row-level security, and the cursor pagination every list uses.
//!
//! The API logs in as a restricted role (`ventros_api`, created by migration 0009: a member of
//! `ventros_app` and nothing else) and assumes `ventros_app` on every connection: a role that owns
//! nothing and cannot bypass RLS. It refuses to start as a superuser or the schema owner; the worker
//! applies migrations. Each request's queries run in a transaction that sets `ventros.tenant_id`;
//! the policies compare every row's tenant with it. A handler that forgot its `WHERE tenant_id = …`
//! still sees only its tenant. Reports have a pool of their own, logged in as `ventros_report`,
//! which can read the reporting views and nothing else.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool, Postgres, QueryBuilder, Row, Transaction};
use uuid::Uuid;

use crate::error::ApiError;

/// The role every API connection runs as (created by migration 0004).
pub const APP_ROLE: &str = "ventros_app";
/// The API's login role (migration 0009).
pub const API_LOGIN: &str = "ventros_api";
/// The reports pool's login role (migration 0009).
pub const REPORT_LOGIN: &str = "ventros_report";

/// `database_url` with another user (the password, if any, stays: give each role its own URL in
/// production). The tests and the local stack derive the API's URLs from the owner's this way.
pub fn login_url(database_url: &str, user: &str) -> Result<String, sqlx::Error> {
    let mut url =
        reqwest::Url::parse(database_url).map_err(|e| sqlx::Error::Configuration(Box::new(e)))?;
    url.set_username(user)
        .map_err(|_| sqlx::Error::Configuration("the database URL cannot carry a user".into()))?;
    Ok(url.to_string())
}

/// Fails unless the pool's login role is neither a superuser nor able to bypass RLS nor the owner
/// of anything in the schema: the API must not be able to leave `ventros_app`'s limits.
async fn refuse_privileged_login(pool: &PgPool) -> Result<(), sqlx::Error> {
    let role = sqlx::query!(
        r#"SELECT r.rolname::text AS "user!", r.rolsuper AS "superuser!", r.rolbypassrls AS "bypass!",
                  EXISTS (SELECT FROM pg_class c WHERE c.relowner = r.oid AND c.relnamespace = 'public'::regnamespace) AS "owns!"
             FROM pg_roles r WHERE r.rolname = session_user"#,
    )
    .fetch_one(pool)
    .await?;
    let (user, superuser, bypass, owns) = (role.user, role.superuser, role.bypass, role.owns);
    if superuser || bypass || owns {
        return Err(sqlx::Error::Configuration(
            format!(
                "the API must not log in as {user}, a superuser, RLS-bypassing or schema-owning role: use the login role \
                 {API_LOGIN} (created by the migrations) in DATABASE_URL; the worker applies migrations"
            )
            .into(),
        ));
    }
    Ok(())
}

/// A pool whose connections run as [`APP_ROLE`]; refused for a privileged login.
pub async fn app_pool(database_url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = database_url.parse()?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET ROLE ventros_app").await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    refuse_privileged_login(&pool).await?;
    Ok(pool)
}

/// The reports pool: a few connections logged in as [`REPORT_LOGIN`], no statement cache, and
/// every statement the connection prepared (sqlx's `describe` names one) dropped when it goes back
/// to the pool, so no report's SQL stays visible to the next caller.
pub async fn report_pool(database_url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = database_url
        .parse::<PgConnectOptions>()?
        .statement_cache_capacity(0);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(2))
        .after_release(|conn, _| {
            Box::pin(async move {
                sqlx::raw_sql("DEALLOCATE ALL").execute(&mut *conn).await?;
                Ok(true)
            })
        })
        .connect_with(options)
        .await?;
    refuse_privileged_login(&pool).await?;
    Ok(pool)
}

/// A transaction in which RLS shows `tenant_id`'s rows only.
pub async fn tenant_tx(
    pool: &PgPool,
    tenant_id: Uuid,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "SELECT set_config('ventros.tenant_id', $1, true)",
        tenant_id.to_string()
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(tx)
}

/// How many times a transaction PostgreSQL cancelled to break a deadlock is run in all.
const DEADLOCK_ATTEMPTS: usize = 3;

/// Runs `tx` (one whole transaction, begun and committed inside it) again when PostgreSQL
/// cancelled it to break a deadlock (SQLSTATE 40P01), up to three times in all. A delete whose
/// cascade reaches rows a workflow is writing at that moment (a contact's memories while they are
/// ingested, a document's passages while it is indexed) can meet such a writer in the opposite
/// lock order; nothing of the cancelled attempt was committed, so running it again is safe.
pub async fn retry_on_deadlock<T, F, Fut>(mut tx: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let mut attempt = 1;
    loop {
        match tx().await {
            Err(err) if attempt < DEADLOCK_ATTEMPTS && err.is_deadlock() => attempt += 1,
            result => return result,
        }
    }
}

/// A position in a list: the sort value and id of the last item returned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        B64URL.encode(format!(
            "{}|{}",
            self.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            self.id
        ))
    }

    pub fn decode(raw: &str) -> Result<Cursor, ApiError> {
        let invalid = || ApiError::BadRequest("cursor is not one this API returned".into());
        let text =
            String::from_utf8(B64URL.decode(raw).map_err(|_| invalid())?).map_err(|_| invalid())?;
        let (at, id) = text.split_once('|').ok_or_else(invalid)?;
        Ok(Cursor {
            at: DateTime::parse_from_rfc3339(at)
                .map_err(|_| invalid())?
                .with_timezone(&Utc),
            id: Uuid::parse_str(id).map_err(|_| invalid())?,
        })
    }
}

/// A validated sort: one of a list's timestamp columns, ascending or descending (`-column`).
#[derive(Debug, Clone, Copy)]
pub struct Sort {
    pub column: &'static str,
    pub descending: bool,
}

impl Sort {
    /// Parses `column` or `-column` against the columns a list allows; the first is the default.
    pub fn parse(
        raw: Option<&str>,
        allowed: &[&'static str],
        default_descending: bool,
    ) -> Result<Sort, ApiError> {
        let Some(raw) = raw else {
            return Ok(Sort {
                column: allowed[0],
                descending: default_descending,
            });
        };
        let (name, descending) = match raw.strip_prefix('-') {
            Some(name) => (name, true),
            None => (raw, false),
        };
        let column = allowed.iter().find(|c| **c == name).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "sort must be one of {} (prefix - for descending)",
                allowed.join(", ")
            ))
        })?;
        Ok(Sort { column, descending })
    }
}

/// Checks `limit` (default 50, at most 200).
pub fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1 to 200".into()));
    }
    Ok(limit)
}

/// One page of a list, as every list endpoint returns it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// A short, complete list (a tenant's pipelines, a contact's identities): no cursor.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct List<T> {
    pub items: Vec<T>,
}

/// Builds the keyset-paginated query around `inner` (a complete `SELECT … FROM … WHERE …` whose
/// rows have an `id` and the sort column): `select` is what the outer query returns of each row.
fn page_query(
    select: &str,
    sort: Sort,
    cursor: Option<Cursor>,
    limit: i64,
    inner: impl FnOnce(&mut QueryBuilder<Postgres>),
) -> QueryBuilder<Postgres> {
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new("SELECT ");
    qb.push(select)
        .push(", t.id AS cursor_id, t.")
        .push(sort.column)
        .push(" AS cursor_at FROM (");
    inner(&mut qb);
    qb.push(") t");
    let (cmp, dir) = if sort.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(c) = cursor {
        qb.push(format_args!(" WHERE (t.{}, t.id) {cmp} (", sort.column))
            .push_bind(c.at)
            .push(", ")
            .push_bind(c.id)
            .push(")");
    }
    qb.push(format_args!(
        " ORDER BY t.{col} {dir}, t.id {dir} LIMIT ",
        col = sort.column
    ))
    .push_bind(limit + 1);
    qb
}

/// Splits the `limit + 1` rows fetched into the page and the cursor of its last row.
fn into_page<T>(
    rows: &[sqlx::postgres::PgRow],
    limit: i64,
    item: impl Fn(&sqlx::postgres::PgRow) -> Result<T, sqlx::Error>,
) -> Result<Page<T>, ApiError> {
    let mut items = Vec::with_capacity(rows.len().min(limit as usize));
    let mut next_cursor = None;
    for (i, row) in rows.iter().enumerate() {
        if i as i64 == limit {
            break;
        }
        items.push(item(row)?);
        if i as i64 == limit - 1 && rows.len() as i64 > limit {
            next_cursor = Some(
                Cursor {
                    at: row.try_get("cursor_at")?,
                    id: row.try_get("cursor_id")?,
                }
                .encode(),
            );
        }
    }
    Ok(Page { items, next_cursor })
}

/// One page of a list of typed rows: `T` reads its columns by name from `inner`'s rows.
pub async fn fetch_page_as<T>(
    tx: &mut sqlx::PgConnection,
    sort: Sort,
    cursor: Option<&str>,
    limit: i64,
    inner: impl FnOnce(&mut QueryBuilder<Postgres>),
) -> Result<Page<T>, ApiError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    let cursor = cursor.map(Cursor::decode).transpose()?;
    let mut qb = page_query("t.*", sort, cursor, limit, inner);
    let rows = qb.build().fetch_all(&mut *tx).await?;
    into_page(&rows, limit, |row| T::from_row(row))
}

/// One page of a list, each row as a JSON object (`to_jsonb`): for the endpoints whose responses
/// are not typed yet.
pub async fn fetch_page(
    tx: &mut sqlx::PgConnection,
    sort: Sort,
    cursor: Option<&str>,
    limit: i64,
    inner: impl FnOnce(&mut QueryBuilder<Postgres>),
) -> Result<Value, ApiError> {
    let cursor = cursor.map(Cursor::decode).transpose()?;
    let mut qb = page_query("to_jsonb(t) AS item", sort, cursor, limit, inner);
    let rows = qb.build().fetch_all(&mut *tx).await?;
    let page = into_page(&rows, limit, |row| row.try_get::<Value, _>("item"))?;
    Ok(json!({"items": page.items, "next_cursor": page.next_cursor}))
}

/// Runs `sql` (which returns one `to_jsonb` column) and returns the object, or 404 with `what`.
pub async fn fetch_one_json<'q>(
    tx: &mut sqlx::PgConnection,
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    what: impl FnOnce() -> String,
) -> Result<Value, ApiError> {
    let row = query
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{} not found", what())))?;
    Ok(row.try_get::<Value, _>(0)?)
}

/// Runs a statement that must touch a row; touching none means the record does not exist (404).
pub async fn execute_found<'q>(
    tx: &mut sqlx::PgConnection,
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    what: impl FnOnce() -> String,
) -> Result<(), ApiError> {
    if query.execute(&mut *tx).await?.rows_affected() == 0 {
        return Err(ApiError::NotFound(format!("{} not found", what())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            at: DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap(),
            id: Uuid::from_u128(9),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("not-a-cursor").is_err());
        assert!(Cursor::decode(&B64URL.encode("x|y")).is_err());
    }

    #[test]
    fn sorts_are_validated() {
        let allowed = ["created_at", "updated_at"];
        assert_eq!(
            Sort::parse(None, &allowed, true).unwrap().column,
            "created_at"
        );
        let s = Sort::parse(Some("-updated_at"), &allowed, false).unwrap();
        assert!(s.descending && s.column == "updated_at");
        assert!(Sort::parse(Some("name; DROP TABLE x"), &allowed, true).is_err());
    }
}
