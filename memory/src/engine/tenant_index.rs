//! Tenant-wide vector search: an exact scan for a small tenant, a partial HNSW index of its own
//! for a large one.
//!
//! pgvector's HNSW has no tenant column. One index per model over every tenant, filtered
//! afterwards, explores neighbours of the whole table and loses recall as the table grows (0.67
//! recall@10 at 1M rows, a tenant holding a tenth of them). So a tenant's rows get their own
//! partial index once they are many ([`DEFAULT_TENANT_INDEX_MIN_ROWS`]); until then a tenant-wide
//! search reads them exactly (recall 1; tens of milliseconds at ten thousand rows). A background
//! pass builds the index CONCURRENTLY (ingestion goes on), searches switch to it only once
//! PostgreSQL marks it valid, and it is dropped when its tenant or its model is gone.
//!
//! Partial indexes are matched by the planner against the query's literals, so the tenant and the
//! model appear literally in the indexed query (both are validated identifiers: a UUID and
//! `[a-z0-9_]`).

use std::collections::HashMap;

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use uuid::Uuid;

use super::lists::{Scored, rows_to_keys};
use super::search::Key;
use super::{HitKind, MemoryEngine, MemoryError, SearchQuery};
use pgvector::Vector;

/// Rows of one model in one table from which a tenant gets its own HNSW index: an exact scan of
/// this many rows takes ~50 ms here; the index answers in a few.
pub const DEFAULT_TENANT_INDEX_MIN_ROWS: i64 = 10_000;
/// HNSW candidate list for a tenant's own index: recall@10 ≥ 0.95 at 100k rows (README "Memory").
/// 200 gave 0.971 with candle's f32 query vectors but 0.946–0.958 with the int8 ones (2026-12-06,
/// same database); 400 gives 0.967–0.969 for about 1 ms more (SQL p50 13.9 against 13.0 ms).
const TENANT_EF_SEARCH: u32 = 400;
/// Candidates fetched from the index before the exact re-rank picks the best `depth`.
const TENANT_CANDIDATES: usize = 100;
/// Memory for one index build: a tenant's graph (100k rows of 384 dimensions ≈ 200 MB) built in
/// memory is several times faster than one spilling to disk.
const BUILD_MEMORY: &str = "256MB";
/// The two tables searched, with the letter that starts their tenant indexes' names.
const TABLES: [(&str, char); 2] = [("memories", 'm'), ("memory_facts", 'f')];

/// What one maintenance pass changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TenantIndexPass {
    pub created: usize,
    pub dropped: usize,
}

/// `mhnsw_<tenant>_<model hash>` (`f…` for facts): PostgreSQL names stop at 63 bytes, a model id
/// may be 48, so the model is a hash here and literal in the index's predicate.
pub fn tenant_index_name(letter: char, model: &str, tenant: Uuid) -> String {
    format!("{letter}hnsw_{}_{:08x}", tenant.simple(), fnv1a(model))
}

/// The tenant a tenant index's name carries, if it is one of ours.
fn tenant_of(letter: char, name: &str) -> Option<(Uuid, String)> {
    let rest = name.strip_prefix(letter)?.strip_prefix("hnsw_")?;
    let (tenant, hash) = rest.split_once('_')?;
    Some((Uuid::try_parse(tenant).ok()?, hash.to_owned()))
}

/// A stable 32-bit hash (FNV-1a): the same model gives the same index name in every process.
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The model id goes into SQL literally (index predicates): only `[a-z0-9_]`, at most 48.
pub(crate) fn safe_model(model: &str) -> Result<&str, MemoryError> {
    if model.is_empty()
        || model.len() > 48
        || !model
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(MemoryError::Invalid(format!(
            "embedding model id {model:?} is not a safe identifier"
        )));
    }
    Ok(model)
}

/// One table's half of the tenant-wide query. `indexed`: the tenant's own index (tenant and
/// model literal, the indexed expression in ORDER BY); otherwise an exact scan (the untyped
/// expression keeps the planner off every HNSW index).
fn table_sql(table: &str, model: &str, dims: usize, tenant: Uuid, indexed: bool) -> String {
    let (kind, from, until) = match table {
        "memories" => ("m", "valid_from", "valid_until"),
        _ => ("f", "valid_at", "invalid_at"),
    };
    let (tenant, distance) = if indexed {
        (
            format!("'{tenant}'"),
            format!("embedding::vector({dims}) <=> $2::vector({dims})"),
        )
    } else {
        ("$1".to_owned(), "embedding <=> $2::vector".to_owned())
    };
    format!(
        "(SELECT '{kind}' AS kind, id, greatest(0, 1 - ({distance}))::float4 AS score FROM {table}
           WHERE embedding_model = '{model}' AND tenant_id = {tenant}
             AND (cardinality($3::text[]) = 0 OR memory_type = ANY($3))
             AND CASE WHEN $4::timestamptz IS NULL THEN {until} IS NULL
                      ELSE {from} <= $4 AND ({until} IS NULL OR {until} > $4) END
           ORDER BY {distance} LIMIT $5)"
    )
}

impl MemoryEngine {
    /// Nearest memories and facts of a whole tenant (see the module docs for how each table is
    /// read). Public for `ventros-memory-bench`, which measures its recall.
    pub async fn tenant_nearest(
        &self,
        tenant_id: Uuid,
        vector: &Vector,
        depth: usize,
    ) -> Result<Vec<(HitKind, Uuid, f32)>, MemoryError> {
        let q = SearchQuery {
            tenant_id,
            contact_id: None,
            query: String::new(),
            mode: super::Mode::Vector,
            limit: depth,
            memory_types: vec![],
            as_of: None,
            weights: self.default_weights(),
            include_embeddings: false,
        };
        Ok(self
            .tenant_vector_list(&q, vector, depth)
            .await?
            .into_iter()
            .map(|((kind, id), score)| (kind, id, score))
            .collect())
    }

    pub(super) async fn tenant_vector_list(
        &self,
        q: &SearchQuery,
        vector: &Vector,
        depth: usize,
    ) -> Result<Vec<(Key, f32)>, MemoryError> {
        let model = safe_model(self.model())?;
        let dims = self.embedder.dimensions();
        let names: Vec<String> = TABLES
            .iter()
            .map(|(_, letter)| tenant_index_name(*letter, model, q.tenant_id))
            .collect();
        // to_regclass: the index in this database's search path, as the query would see it.
        let ready: Vec<String> = sqlx::query_scalar!(
            r#"SELECT n AS "n!" FROM unnest($1::text[]) AS n
                JOIN pg_index i ON i.indexrelid = to_regclass(n) WHERE i.indisvalid"#,
            &names
        )
        .fetch_all(&self.pool)
        .await?;
        let sql = TABLES
            .iter()
            .zip(&names)
            .map(|((table, _), name)| {
                table_sql(table, model, dims, q.tenant_id, ready.contains(name))
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let mut tx = self.pool.begin().await?;
        if !ready.is_empty() {
            // Relaxed-order iterative scans return neighbours roughly in order (and go on when the
            // type or time filter removes some): fetch more and let the exact scores pick.
            sqlx::query!(
                r#"SELECT set_config('hnsw.ef_search', $1, true) AS "ef_search", set_config('hnsw.iterative_scan', 'relaxed_order', true) AS "iterative_scan""#,
                TENANT_EF_SEARCH.to_string()
            )
            .fetch_one(&mut *tx)
            .await?;
        }
        let rows = sqlx::query_as::<_, Scored>(AssertSqlSafe(sql))
            .bind(q.tenant_id)
            .bind(vector)
            .bind(&q.memory_types)
            .bind(q.as_of)
            .bind(depth.max(TENANT_CANDIDATES) as i64)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows_to_keys(rows))
    }

    /// Rows of this engine's model per table from which a tenant gets its own index.
    pub fn with_tenant_index_min_rows(mut self, rows: i64) -> Self {
        self.tenant_index_min_rows = rows.max(1);
        self
    }

    /// Builds the indexes of tenants that have grown past the threshold, rebuilds any a failed
    /// build left invalid, and drops those of deleted tenants and retired models. One worker at
    /// a time (an advisory lock); the others return at once.
    pub async fn maintain_tenant_indexes(&self) -> Result<TenantIndexPass, MemoryError> {
        let model = safe_model(self.model())?.to_owned();
        // Its own connection, closed afterwards: the session lock and settings never reach the pool.
        let mut conn = self.pool.acquire().await?.detach();
        let locked = sqlx::query_scalar!(
            r#"SELECT pg_try_advisory_lock(hashtext('ventros.memory.tenant_indexes')::bigint) AS "locked!""#
        )
        .fetch_one(&mut conn)
        .await?;
        let pass = if locked {
            sqlx::query(AssertSqlSafe(format!(
                "SET maintenance_work_mem = '{BUILD_MEMORY}'"
            )))
            .execute(&mut conn)
            .await?;
            let mut pass = TenantIndexPass::default();
            for (table, letter) in TABLES {
                self.maintain_table(&mut conn, table, letter, &model, &mut pass)
                    .await?;
            }
            pass
        } else {
            TenantIndexPass::default()
        };
        conn.close().await?;
        Ok(pass)
    }

    async fn maintain_table(
        &self,
        conn: &mut PgConnection,
        table: &str,
        letter: char,
        model: &str,
        pass: &mut TenantIndexPass,
    ) -> Result<(), MemoryError> {
        let existing: HashMap<String, bool> = sqlx::query!(
            r#"SELECT c.relname::text AS "name!", i.indisvalid AS "valid!" FROM pg_index i
                 JOIN pg_class c ON c.oid = i.indexrelid
                WHERE i.indrelid = to_regclass($1) AND starts_with(c.relname::text, $2)"#,
            table,
            format!("{letter}hnsw_")
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| (r.name, r.valid))
        .collect();
        // Gone: tenants deleted (their rows went with them) and models retired.
        let retired: Vec<String> = sqlx::query_scalar!(
            "SELECT model FROM embedding_spaces WHERE state = 'retired' AND model <> $1",
            model
        )
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|m| format!("{:08x}", fnv1a(m)))
        .collect();
        let tenants: Vec<Uuid> = sqlx::query_scalar!("SELECT id FROM tenants")
            .fetch_all(&mut *conn)
            .await?;
        for name in existing.keys() {
            let Some((tenant, hash)) = tenant_of(letter, name) else {
                continue;
            };
            if !tenants.contains(&tenant) || retired.contains(&hash) {
                drop_index(conn, name).await?;
                pass.dropped += 1;
            }
        }
        let grown: Vec<Uuid> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT tenant_id FROM {table} WHERE embedding_model = $1
              GROUP BY tenant_id HAVING count(*) >= $2 ORDER BY tenant_id"
        )))
        .bind(model)
        .bind(self.tenant_index_min_rows)
        .fetch_all(&mut *conn)
        .await?;
        let dims = self.embedder.dimensions();
        for tenant in grown {
            let name = tenant_index_name(letter, model, tenant);
            match existing.get(&name) {
                Some(true) => continue,
                // A build that failed half-way leaves an invalid index that writes still pay for.
                Some(false) => drop_index(conn, &name).await?,
                None => {}
            }
            sqlx::query(AssertSqlSafe(format!(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table}
                   USING hnsw ((embedding::vector({dims})) vector_cosine_ops) WITH (m = 16, ef_construction = 64)
                   WHERE embedding_model = '{model}' AND tenant_id = '{tenant}'"
            )))
            .execute(&mut *conn)
            .await?;
            tracing::info!(index = %name, "tenant vector index built");
            pass.created += 1;
        }
        Ok(())
    }
}

async fn drop_index(conn: &mut PgConnection, name: &str) -> Result<(), MemoryError> {
    sqlx::query(AssertSqlSafe(format!(
        "DROP INDEX CONCURRENTLY IF EXISTS {name}"
    )))
    .execute(&mut *conn)
    .await?;
    tracing::info!(index = %name, "tenant vector index dropped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_postgres_and_round_trip() {
        let tenant = Uuid::new_v4();
        let model = "a".repeat(48);
        let name = tenant_index_name('f', &model, tenant);
        assert!(name.len() <= 63, "{name} is longer than PostgreSQL keeps");
        assert_eq!(
            tenant_of('f', &name),
            Some((tenant, format!("{:08x}", fnv1a(&model))))
        );
        // Another table's index, and names that are not ours, are not read as ours.
        assert_eq!(tenant_of('m', &name), None);
        assert_eq!(tenant_of('m', "memories_hnsw_minilm_l6_v2"), None);
        assert_ne!(
            tenant_index_name('m', "minilm_l6_v2", tenant),
            tenant_index_name('m', "e5_small", tenant)
        );
    }

    #[test]
    fn only_plain_model_ids_reach_sql() {
        assert!(safe_model("minilm_l6_v2").is_ok());
        for bad in ["", "x'; DROP TABLE memories; --", "Mini", &"a".repeat(49)] {
            assert!(safe_model(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_exact_scan_stays_off_the_hnsw_indexes() {
        let tenant = Uuid::new_v4();
        let exact = table_sql("memories", "minilm_l6_v2", 384, tenant, false);
        assert!(exact.contains("ORDER BY embedding <=> $2::vector LIMIT"));
        assert!(!exact.contains(&tenant.to_string()));
        let indexed = table_sql("memory_facts", "minilm_l6_v2", 384, tenant, true);
        assert!(indexed.contains(&format!("tenant_id = '{tenant}'")));
        assert!(indexed.contains("ORDER BY embedding::vector(384) <=> $2::vector(384) LIMIT"));
        assert!(indexed.contains("invalid_at IS NULL"));
    }
}
