//! The guard on free-form report SQL (`POST /api/v1/reports/query`, the MCP server's
//! `run_query`).
//!
//! Why it looks like this: an earlier guard checked one parser's tree and executed that parser's
//! re-printed text, and the two disagreed on a literal (`'\'''`), so PostgreSQL ran SQL nobody had
//! checked. Here the text is parsed with PostgreSQL's own grammar (libpg_query, the parser of the
//! server version we run) and the **very text that was checked** is what runs; the wrapper the API
//! adds around it is parsed again and must contain the identical tree.
//!
//! What passes: one `SELECT` (set operations, subqueries, joins, CTEs included) whose every node
//! kind is on an allowlist, whose relations are the `reporting` views or CTEs visible at that
//! query level (a CTE's own body does not see its name unless `RECURSIVE`, later siblings are not
//! visible to earlier ones, and a CTE declared in a subquery is not visible outside it: the same
//! scoping PostgreSQL applies), whose functions and casts are on allowlists. Everything else is
//! refused with the reason. The reporting role and the read-only transaction hold underneath.

use std::collections::HashSet;

use serde_json::Value;

/// The views free-form SQL may read (schema `reporting`).
pub const VIEWS: &[&str] = &[
    "channels",
    "contacts",
    "conversations",
    "messages",
    "agent_runs",
    "pipelines",
    "pipeline_stages",
    "deals",
    "campaigns",
    "campaign_recipients",
];

/// Functions free-form SQL may call: aggregates, window functions, date/time, text and math.
/// Nothing that reads or changes settings, touches files or the network, sleeps, or multiplies its
/// input (`repeat`, `lpad`, `format` widths, nested `replace`): results stay about as large as
/// the rows they come from.
pub const FUNCTIONS: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "stddev",
    "variance",
    "percentile_cont",
    "percentile_disc",
    "mode",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
    "coalesce",
    "nullif",
    "greatest",
    "least",
    "date_trunc",
    "date_part",
    "extract",
    "age",
    "now",
    "make_interval",
    "timezone",
    "to_char",
    "to_date",
    "to_timestamp",
    "lower",
    "upper",
    "length",
    "char_length",
    "substring",
    "substr",
    "split_part",
    "btrim",
    "ltrim",
    "rtrim",
    "concat",
    "concat_ws",
    "left",
    "right",
    "position",
    "starts_with",
    "round",
    "floor",
    "ceil",
    "ceiling",
    "abs",
    "trunc",
    "sign",
    "sqrt",
    "power",
    "ln",
    "log",
    "exp",
    "cardinality",
    "array_length",
    "array_position",
    "jsonb_array_length",
];

/// Types a value may be cast to.
const TYPES: &[&str] = &[
    "int2",
    "int4",
    "int8",
    "numeric",
    "float4",
    "float8",
    "text",
    "varchar",
    "bpchar",
    "bool",
    "date",
    "time",
    "timetz",
    "timestamp",
    "timestamptz",
    "interval",
    "uuid",
    "json",
    "jsonb",
];

/// Parse-tree node kinds a report may contain (libpg_query's names). Anything else, such as
/// `FROM function()`, `TABLESAMPLE`, XML or JSON table functions, `INTO`, locking clauses,
/// parameters or any statement but `SELECT`, is refused.
const NODES: &[&str] = &[
    "SelectStmt",
    "ResTarget",
    "ColumnRef",
    "String",
    "AStar",
    "AConst",
    "Integer",
    "Float",
    "Boolean",
    "AExpr",
    "BoolExpr",
    "NullTest",
    "BooleanTest",
    "FuncCall",
    "TypeCast",
    "RangeVar",
    "RangeSubselect",
    "JoinExpr",
    "Alias",
    "SortBy",
    "WindowDef",
    "CaseExpr",
    "CaseWhen",
    "CoalesceExpr",
    "MinMaxExpr",
    "SubLink",
    "CommonTableExpr",
    "List",
    "AIndirection",
    "AIndices",
    "AArrayExpr",
    "RowExpr",
    "GroupingSet",
    "SqlvalueFunction",
    "GroupingFunc",
];

/// Longest free-form SQL accepted.
pub const MAX_SQL_CHARS: usize = 8_000;

/// SQL that passed the guard: `sql` exactly as the caller wrote it, and the text that runs.
#[derive(Debug, Clone)]
pub struct Checked {
    pub sql: String,
    /// `SELECT row_to_json(q)::text FROM (<sql>) q LIMIT <limit>`, verified to hold `sql`'s tree.
    pub wrapped: String,
}

/// Checks `sql` and builds the statement that returns its rows as JSON, at most `limit`.
pub fn check(sql: &str, limit: usize) -> Result<Checked, String> {
    if sql.trim().is_empty() || sql.chars().count() > MAX_SQL_CHARS {
        return Err(format!("sql must be 1 to {MAX_SQL_CHARS} characters"));
    }
    let tree = select_tree(sql)?;
    Guard.node(&tree, &Scope::default())?;
    // The query on its own lines: a trailing `--` comment cannot swallow the wrapper.
    let wrapped = format!("SELECT row_to_json(q)::text FROM (\n{sql}\n) q LIMIT {limit}");
    let outer = parse_one(&wrapped)
        .map_err(|_| "the query does not stand on its own inside a subquery".to_owned())?;
    let inner = outer
        .pointer("/node/SelectStmt/from_clause/0/node/RangeSubselect/subquery")
        .ok_or_else(|| "the query does not stand on its own inside a subquery".to_owned())?;
    if without_locations(inner) != without_locations(&tree) {
        return Err("the query reads differently inside a subquery".into());
    }
    Ok(Checked {
        sql: sql.to_owned(),
        wrapped,
    })
}

/// The one statement of `sql`, which must be a `SELECT`, as a JSON parse tree.
fn select_tree(sql: &str) -> Result<Value, String> {
    let tree = parse_one(sql)?;
    if tree.pointer("/node/SelectStmt").is_none() {
        return Err("only a SELECT is allowed: reports never write".into());
    }
    Ok(tree)
}

fn parse_one(sql: &str) -> Result<Value, String> {
    let parsed = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).map_err(|e| match e {
        pg_query::Error::Parse(message) => format!("not valid SQL: {message}"),
        other => format!("not valid SQL: {other}"),
    })?;
    let [statement] = parsed.protobuf.stmts.as_slice() else {
        return Err("exactly one statement, a SELECT, is allowed".into());
    };
    let node = statement
        .stmt
        .as_ref()
        .ok_or_else(|| "an empty statement".to_owned())?;
    serde_json::to_value(node).map_err(|e| format!("the parse tree could not be read: {e}"))
}

/// The tree without source positions (the same query at another offset has the same tree).
fn without_locations(value: &Value) -> Value {
    match value {
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| k.as_str() != "location")
            .map(|(k, v)| (k.clone(), without_locations(v)))
            .collect(),
        Value::Array(items) => Value::Array(items.iter().map(without_locations).collect()),
        other => other.clone(),
    }
}

/// The CTE names visible at one query level.
#[derive(Debug, Default, Clone)]
struct Scope {
    ctes: HashSet<String>,
}

impl Scope {
    fn with(&self, names: &[String]) -> Scope {
        let mut scope = self.clone();
        scope.ctes.extend(names.iter().cloned());
        scope
    }
}

struct Guard;

impl Guard {
    /// Any JSON value of the tree: a `Node` (`{"node": {"Kind": …}}`), a plain message or a list.
    fn node(&self, value: &Value, scope: &Scope) -> Result<(), String> {
        match value {
            Value::Object(map) => {
                if let (1, Some(Value::Object(inner))) = (map.len(), map.get("node")) {
                    let Some((kind, body)) = inner.iter().next().filter(|_| inner.len() == 1)
                    else {
                        return Err("an unreadable parse tree".into());
                    };
                    return self.kind(kind, body, scope);
                }
                self.fields(map, scope, &[])
            }
            Value::Array(items) => items.iter().try_for_each(|item| self.node(item, scope)),
            _ => Ok(()),
        }
    }

    /// The fields of a message, except those the caller handles itself.
    fn fields(
        &self,
        map: &serde_json::Map<String, Value>,
        scope: &Scope,
        skip: &[&str],
    ) -> Result<(), String> {
        for (key, value) in map {
            if skip.contains(&key.as_str()) {
                continue;
            }
            match key.as_str() {
                // Messages embedded without a `Node` wrapper.
                "type_name" if value.is_object() => self.type_name(value)?,
                "into_clause" if !value.is_null() => {
                    return Err("SELECT INTO is not allowed: reports never write".into());
                }
                "locking_clause" if value.as_array().is_some_and(|a| !a.is_empty()) => {
                    return Err("locking clauses (FOR UPDATE/SHARE) are not allowed".into());
                }
                _ => {}
            }
            if let Some(relname) = value.as_object().filter(|m| m.contains_key("relname")) {
                self.relation(relname, scope)?;
            }
            self.node(value, scope)?;
        }
        Ok(())
    }

    fn kind(&self, kind: &str, body: &Value, scope: &Scope) -> Result<(), String> {
        if !NODES.contains(&kind) {
            return Err(format!("{} is not allowed in reports", describe(kind)));
        }
        let map = body
            .as_object()
            .ok_or_else(|| "an unreadable parse tree".to_owned())?;
        match kind {
            "SelectStmt" => return self.select(map, scope),
            "RangeVar" => self.relation(map, scope)?,
            "FuncCall" => self.function(map)?,
            // CURRENT_DATE … LOCALTIMESTAMP(n); not CURRENT_USER, SESSION_USER and the like.
            "SqlvalueFunction"
                if !map
                    .get("op")
                    .and_then(Value::as_i64)
                    .is_some_and(|op| (1..=9).contains(&op)) =>
            {
                return Err(
                    "only date and time keywords (CURRENT_DATE, CURRENT_TIMESTAMP, …) are allowed"
                        .into(),
                );
            }
            "AExpr" => {
                let name = strings(map.get("name"));
                let allowed = match name.as_slice() {
                    [_] => true,
                    [schema, _] => schema == "pg_catalog",
                    _ => false,
                };
                if !allowed {
                    return Err("operators from other schemas are not allowed".into());
                }
            }
            _ => {}
        }
        self.fields(map, scope, &[])
    }

    /// A `SELECT` at one query level: its CTEs, then the rest with them in scope.
    fn select(&self, map: &serde_json::Map<String, Value>, scope: &Scope) -> Result<(), String> {
        let mut inner = scope.clone();
        if let Some(with) = map.get("with_clause").and_then(Value::as_object) {
            let recursive = with
                .get("recursive")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let ctes: Vec<&serde_json::Map<String, Value>> = with
                .get("ctes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    c.pointer("/node/CommonTableExpr")
                        .and_then(Value::as_object)
                })
                .collect();
            let names: Vec<String> = ctes
                .iter()
                .map(|c| {
                    c.get("ctename")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect();
            for (i, cte) in ctes.iter().enumerate() {
                let visible = if recursive {
                    scope.with(&names)
                } else {
                    scope.with(&names[..i])
                };
                self.fields(cte, &visible, &[])?;
            }
            inner = scope.with(&names);
        }
        for side in ["larg", "rarg"] {
            if let Some(branch) = map.get(side).and_then(Value::as_object) {
                self.select(branch, &inner)?;
            }
        }
        self.fields(map, &inner, &["with_clause", "larg", "rarg"])
    }

    fn relation(&self, map: &serde_json::Map<String, Value>, scope: &Scope) -> Result<(), String> {
        let text = |k: &str| {
            map.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (catalog, schema, name) = (text("catalogname"), text("schemaname"), text("relname"));
        let allowed = catalog.is_empty()
            && match schema.as_str() {
                "" => scope.ctes.contains(&name) || VIEWS.contains(&name.as_str()),
                "reporting" => VIEWS.contains(&name.as_str()),
                _ => false,
            };
        if allowed {
            Ok(())
        } else {
            let full = [catalog, schema, name]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(".");
            Err(format!(
                "{full} is not a reporting view; the views are: {}",
                VIEWS.join(", ")
            ))
        }
    }

    fn function(&self, map: &serde_json::Map<String, Value>) -> Result<(), String> {
        let name = strings(map.get("funcname"));
        let allowed = match name.as_slice() {
            [name] => FUNCTIONS.contains(&name.as_str()),
            [schema, name] => schema == "pg_catalog" && FUNCTIONS.contains(&name.as_str()),
            _ => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(format!(
                "function {} is not allowed in reports",
                name.join(".")
            ))
        }
    }

    fn type_name(&self, value: &Value) -> Result<(), String> {
        let name = strings(value.get("names"));
        let allowed = match name.as_slice() {
            [name] => TYPES.contains(&name.as_str()),
            [schema, name] => schema == "pg_catalog" && TYPES.contains(&name.as_str()),
            _ => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(format!(
                "casts to {} are not allowed; the types are: {}",
                name.join("."),
                TYPES.join(", ")
            ))
        }
    }
}

/// The `sval`s of a list of `String` nodes (qualified names).
fn strings(list: Option<&Value>) -> Vec<String> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| {
            n.pointer("/node/String/sval")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

/// A readable name for a refused node kind.
fn describe(kind: &str) -> String {
    match kind {
        "RangeFunction" => "a function in FROM".into(),
        "RangeTableSample" => "TABLESAMPLE".into(),
        "LockingClause" => "a locking clause (FOR UPDATE/SHARE)".into(),
        "ParamRef" => "a parameter ($1)".into(),
        k if k.ends_with("Stmt") => format!("{k} (only a SELECT is allowed: reports never write)"),
        k => k.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    fn ok(sql: &str) {
        assert!(check(sql, 10).is_ok(), "{sql}: {:?}", check(sql, 10).err());
    }

    fn refused(sql: &str, why: &str) {
        let err = check(sql, 10).expect_err(sql);
        assert!(err.contains(why), "{sql}: {err}");
    }

    #[test]
    fn ordinary_reports_pass() {
        ok("SELECT channel_id, count(*) FROM messages WHERE direction = 'inbound' GROUP BY 1");
        ok(
            "WITH t AS (SELECT contact_id FROM reporting.deals) SELECT count(*) FROM t JOIN contacts c ON c.id = t.contact_id",
        );
        ok(
            "SELECT date_trunc('day', at) d, count(*) FROM messages GROUP BY d ORDER BY d -- trailing comment",
        );
        ok("SELECT * FROM (SELECT intent, avg(confidence) FROM agent_runs GROUP BY intent) x");
        ok(
            "SELECT extract(epoch FROM now() - at)::int, at AT TIME ZONE 'America/Sao_Paulo' FROM messages WHERE at > now() - interval '7 days'",
        );
        ok("SELECT status FROM deals UNION ALL SELECT status FROM campaigns ORDER BY 1");
        ok(
            "WITH RECURSIVE n AS (SELECT 1 AS i UNION ALL SELECT i + 1 FROM n WHERE i < 3) SELECT * FROM n",
        );
        ok("SELECT '\\''' AS a, ' AS x, 1 --' AS d");
        ok(
            "SELECT CASE WHEN count(*) > 0 THEN 'y' ELSE 'n' END, current_date FROM contacts WHERE display_name ILIKE 'a%'",
        );
    }

    #[test]
    fn writes_and_other_statements_are_refused() {
        refused("DELETE FROM contacts", "only a SELECT");
        refused("SELECT 1; DROP TABLE contacts", "exactly one statement");
        refused(
            "UPDATE reporting.contacts SET display_name = 'x'",
            "only a SELECT",
        );
        refused("SELECT * INTO copy FROM messages", "INTO");
        refused("SELECT * FROM messages FOR UPDATE", "locking");
        refused(
            "WITH x AS (DELETE FROM messages RETURNING *) SELECT * FROM x",
            "only a SELECT",
        );
        refused("SET ROLE none", "only a SELECT");
    }

    #[test]
    fn only_reporting_views_functions_and_types() {
        refused("SELECT * FROM public.contacts", "not a reporting view");
        refused("SELECT * FROM api_keys", "not a reporting view");
        refused("SELECT * FROM pg_catalog.pg_roles", "not a reporting view");
        refused("SELECT set_config('role', 'none', true)", "set_config");
        refused(
            "SELECT (SELECT current_setting('ventros.tenant_id'))",
            "current_setting",
        );
        refused("SELECT pg_read_file('/etc/passwd')", "pg_read_file");
        refused("SELECT * FROM generate_series(1, 10)", "a function in FROM");
        refused("SELECT format('%1000000000s', 'x')", "format");
        refused("SELECT 'pg_authid'::regclass", "casts to regclass");
        refused("SELECT current_user", "date and time");
        refused("SELECT $1", "parameter");
        refused("SELECT 1 OPERATOR(public.+) 1", "operators");
    }

    #[test]
    fn ctes_are_scoped_per_query_level() {
        // A CTE's own body does not see its name: this `pg_roles` is the catalog.
        refused(
            "WITH pg_roles AS (SELECT * FROM pg_roles) SELECT * FROM pg_roles",
            "pg_roles is not a reporting view",
        );
        // A CTE declared in a subquery is not visible outside it.
        refused(
            "SELECT * FROM (WITH pg_settings AS (SELECT 1) SELECT 1) x, pg_settings",
            "pg_settings is not a reporting view",
        );
        refused(
            "SELECT (WITH pg_stat_activity AS (SELECT 1) SELECT 1) FROM pg_stat_activity",
            "pg_stat_activity",
        );
        // A later sibling is not visible to an earlier one.
        refused(
            "WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a",
            "b is not a reporting view",
        );
        // A schema-qualified name is never a CTE.
        refused(
            "WITH pg_roles AS (SELECT 1) SELECT * FROM pg_catalog.pg_roles",
            "not a reporting view",
        );
        ok(
            "WITH a AS (SELECT 1 AS x), b AS (SELECT * FROM a) SELECT * FROM b, (SELECT * FROM a) s",
        );
    }

    #[test]
    fn what_runs_is_what_was_checked() {
        // The literal that fooled the old guard: PostgreSQL reads one string, and so do we.
        let checked = check(
            "SELECT '\\''' AS a, ' AS x, (SELECT count(*) FROM api_keys) --' AS d",
            5,
        )
        .unwrap();
        assert!(checked.wrapped.contains(&checked.sql));
        // One string literal to PostgreSQL, so one to the guard: nothing is read.
        ok("SELECT '\\'' AS a, (SELECT count(*) FROM api_keys) AS b --'");
        refused(
            "SELECT E'\\'' AS a, (SELECT count(*) FROM api_keys) AS b --'",
            "api_keys",
        );
        // Text that closes the wrapper's parenthesis does not parse alone.
        refused("SELECT 1) q, (SELECT * FROM api_keys", "not valid SQL");
        refused("SELECT 1 /* unterminated", "not valid SQL");
    }
}
