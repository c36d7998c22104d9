//! A job's phases as the renter sees them: assigned → starting → running →
//! exited (exit code) / stopped (reason) / refused (reason), each with its
//! time, from `job_phases` (written as the dispatcher assigns and the agent
//! reports). Everyone sees the current phase; the renter, with its token,
//! sees exit codes, reasons and the history.

use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Phase {
    pub attempt: i32,
    pub phase: String,
    /// Unix milliseconds.
    pub at_ms: i64,
    pub exit_code: Option<i32>,
    pub detail: Option<String>,
}

/// Phases after which an attempt reaches no other.
const TERMINAL: &str = "('exited', 'stopped', 'refused')";

/// Records what the agent of `node` reports of `lease`'s job, on the
/// latest attempt sent to that node (even when the scheduler has already
/// ended the assignment: the agent's report of how the job ended, with its
/// exit code, arrives after the closure was seen). Once an attempt has
/// ended, later reports of it are ignored: a job never runs again after it
/// exited.
pub async fn record_reported(
    pool: &PgPool,
    lease: &[u8],
    node: &[u8],
    phase: &str,
    at_ms: i64,
    exit_code: Option<i32>,
    detail: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO job_phases (lease, attempt, phase, at, exit_code, detail) \
         SELECT a.lease, a.attempt, $3, to_timestamp($4::float8 / 1000), $5, $6 \
         FROM assignments a \
         WHERE a.id = (SELECT max(id) FROM assignments WHERE lease = $1 AND node = $2) \
           AND NOT EXISTS (SELECT 1 FROM job_phases p \
             WHERE p.lease = a.lease AND p.attempt = a.attempt AND p.phase IN {TERMINAL}) \
         ON CONFLICT DO NOTHING"
    ))
    .bind(lease)
    .bind(node)
    .bind(phase)
    .bind(at_ms)
    .bind(exit_code)
    .bind(detail)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records that the scheduler ended these assignments (the lease closed
/// on-chain) with a reason each, unless the agent already reported how
/// their jobs ended; a silent node's job would otherwise look running.
pub async fn record_stopped(
    tx: &mut sqlx::PgConnection,
    assignment_ids: &[i64],
    reasons: &[String],
) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO job_phases (lease, attempt, phase, at, detail) \
         SELECT a.lease, a.attempt, 'stopped', now(), u.reason \
         FROM UNNEST($1::int8[], $2::text[]) AS u(id, reason) JOIN assignments a ON a.id = u.id \
         WHERE NOT EXISTS (SELECT 1 FROM job_phases p \
             WHERE p.lease = a.lease AND p.attempt = a.attempt AND p.phase IN {TERMINAL}) \
         ON CONFLICT DO NOTHING"
    ))
    .bind(assignment_ids)
    .bind(reasons)
    .execute(tx)
    .await?;
    Ok(())
}

/// Order of phases within one attempt (the terminal ones last).
const RANK: &str =
    "CASE phase WHEN 'assigned' THEN 0 WHEN 'starting' THEN 1 WHEN 'running' THEN 2 ELSE 3 END";

/// The phases of `lease`'s latest attempt, in order.
pub async fn of_lease(pool: &PgPool, lease: &[u8]) -> sqlx::Result<Vec<Phase>> {
    sqlx::query_as(&format!(
        "SELECT attempt, phase, (extract(epoch from at) * 1000)::int8 AS at_ms, exit_code, detail \
         FROM job_phases WHERE lease = $1 \
           AND attempt = (SELECT max(attempt) FROM job_phases WHERE lease = $1) \
         ORDER BY {RANK}, at"
    ))
    .bind(lease)
    .fetch_all(pool)
    .await
}

/// lease, attempt, phase, at_ms, exit_code, detail.
type PhaseRow = (Vec<u8>, i32, String, i64, Option<i32>, Option<String>);

/// The current phase of each of `leases` that has one.
pub async fn current(pool: &PgPool, leases: &[Vec<u8>]) -> sqlx::Result<HashMap<Vec<u8>, Phase>> {
    let rows: Vec<PhaseRow> = sqlx::query_as(&format!(
        "SELECT DISTINCT ON (lease) lease, attempt, phase, (extract(epoch from at) * 1000)::int8, \
           exit_code, detail \
         FROM job_phases WHERE lease = ANY($1) ORDER BY lease, attempt DESC, {RANK} DESC, at DESC"
    ))
    .bind(leases)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(lease, attempt, phase, at_ms, exit_code, detail)| {
            (
                lease,
                Phase {
                    attempt,
                    phase,
                    at_ms,
                    exit_code,
                    detail,
                },
            )
        })
        .collect())
}

/// The `job` field of a lease view: the current phase for anyone; exit code,
/// reason and (when given) the history for the renter.
pub fn view(current: Option<&Phase>, history: Option<&[Phase]>, detailed: bool) -> Value {
    let Some(current) = current else {
        return json!({ "phase": Value::Null });
    };
    if !detailed {
        return json!({ "phase": current.phase, "detailed": false });
    }
    let mut job = json!({
        "phase": current.phase,
        "detailed": true,
        "attempt": current.attempt,
        "at_ms": current.at_ms,
        "exit_code": current.exit_code,
        "detail": current.detail,
    });
    if let Some(history) = history {
        job["phases"] = json!(history);
    }
    job
}
