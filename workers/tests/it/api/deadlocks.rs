//! A delete whose cascade meets a workflow's writes in the opposite lock order is cancelled by
//! PostgreSQL (SQLSTATE 40P01); the API runs such a transaction again instead of answering 500.

use std::sync::atomic::{AtomicUsize, Ordering};

use ventros_api::db::retry_on_deadlock;
use ventros_api::error::ApiError;

use crate::support;

/// One transaction that PostgreSQL cancels, as it does the victim of a deadlock, on its first
/// `fail_first` runs, and commits a row otherwise.
async fn attempt(
    pool: &sqlx::PgPool,
    runs: &AtomicUsize,
    fail_first: usize,
    code: &str,
) -> Result<usize, ApiError> {
    let run = runs.fetch_add(1, Ordering::SeqCst);
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO deadlock_probe (run) VALUES ($1)")
        .bind(run as i32)
        .execute(&mut *tx)
        .await?;
    if run < fail_first {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DO $$ BEGIN RAISE EXCEPTION 'cancelled' USING ERRCODE = '{code}'; END $$"
        )))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(run)
}

#[tokio::test]
async fn a_transaction_cancelled_to_break_a_deadlock_runs_again_and_nothing_else_does() {
    let (pool, _) = support::fresh_database().await;
    sqlx::raw_sql("CREATE TABLE deadlock_probe (run int NOT NULL)")
        .execute(&pool)
        .await
        .expect("probe table");
    let committed = || async {
        sqlx::query_scalar::<_, Vec<i32>>(
            "SELECT coalesce(array_agg(run ORDER BY run), '{}') FROM deadlock_probe",
        )
        .fetch_one(&pool)
        .await
        .expect("probe rows")
    };

    // Cancelled twice (40P01 = deadlock_detected), committed on the third run.
    let runs = AtomicUsize::new(0);
    let done = retry_on_deadlock(|| attempt(&pool, &runs, 2, "40P01")).await;
    assert_eq!(done.expect("the third run commits"), 2);
    assert_eq!(
        committed().await,
        vec![2],
        "the cancelled runs left nothing"
    );

    // Three cancellations: the third error is the answer.
    let runs = AtomicUsize::new(0);
    let err = retry_on_deadlock(|| attempt(&pool, &runs, 3, "40P01"))
        .await
        .expect_err("three deadlocks give up");
    assert!(err.is_deadlock());
    assert_eq!(runs.load(Ordering::SeqCst), 3);

    // Any other failure is not run again (a unique violation would only fail twice more).
    let runs = AtomicUsize::new(0);
    let err = retry_on_deadlock(|| attempt(&pool, &runs, 1, "23505"))
        .await
        .expect_err("a unique violation is an answer");
    assert!(!err.is_deadlock());
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(committed().await, vec![2]);
}
