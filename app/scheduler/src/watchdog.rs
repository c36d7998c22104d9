//! The chain side of running leases:
//! * an active lease whose agent has been silent past the market's failure
//!   grace is reported failed on-chain (`report_failure`, signed by the
//!   scheduler authority) with the last time service was seen, so the renter
//!   stops paying;
//! * a lease the chain has closed (cancelled, failed, expired, ended) has its
//!   open assignment ended and its agent told to stop; so has every other
//!   member of its cluster, which cannot act as one without it.

use crate::{error::Result, Shared};
use iomesh_agent_proto::v1::{scheduler_message::Msg, SchedulerMessage, Stop, StopReason};
use iomesh_client::client::Client;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use sqlx::Row;
use std::{sync::Arc, time::Duration};
use tracing::{info, warn};

/// A claimed report is retried after this long if the lease is still active.
const REPORT_RETRY_SECS: f64 = 30.0;
/// An unacknowledged assignment of a replaced session is released after this long.
const STALE_SECS: f64 = 5.0;
/// Reports sent per round.
const REPORTS_PER_ROUND: i64 = 16;

pub struct Reporter {
    pub client: Client,
    pub authority: Keypair,
}

impl Reporter {
    /// A reporter whose key the market names as its scheduler authority:
    /// with any other key every report_failure would be refused, so the
    /// replica says so at start instead. An unreachable chain is only
    /// warned about (dispatch does not need it; reports retry).
    pub async fn for_market(client: Client, authority: Keypair) -> Result<Self> {
        match client.market().await {
            Ok(market) if market.scheduler_authority != authority.pubkey() => {
                return Err(crate::error::Error::Config(format!(
                    "the scheduler keypair {} is not the market's scheduler authority {} \
                     (on {}): report_failure would be refused; pass the authority's keypair \
                     (`iomesh market show` names it) or run without --keypair",
                    authority.pubkey(),
                    market.scheduler_authority,
                    client.url()
                )));
            }
            Ok(_) => {}
            Err(err) => {
                warn!(%err, "cannot read the market to check the scheduler keypair");
            }
        }
        Ok(Self { client, authority })
    }
}

pub async fn run(shared: Arc<Shared>, reporter: Option<Reporter>) -> Result<()> {
    let every = Duration::from_millis(shared.config.watchdog_ms);
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(err) = stop_closed(&shared).await {
            warn!(%err, "closed-lease sweep failed");
        }
        if let Err(err) = release_stale(&shared).await {
            warn!(%err, "stale-assignment sweep failed");
        }
        if let Some(reporter) = &reporter {
            if let Err(err) = report_silent(&shared, reporter).await {
                warn!(%err, "heartbeat watchdog failed");
            }
        }
    }
}

fn stop(shared: &Shared, node: &Pubkey, session_id: &str, lease: &Pubkey, reason: StopReason) {
    if let Some(session) = shared
        .sessions
        .get(node)
        .filter(|s| s.session_id == session_id)
    {
        let sent = session.outbound.try_send(Ok(SchedulerMessage {
            msg: Some(Msg::Stop(Stop {
                lease: lease.to_string(),
                reason: reason as i32,
            })),
        }));
        if sent.is_ok() {
            shared.metrics.stops_sent_total.inc();
        }
    }
}

/// A member of this run of lease `l`'s cluster (created since the cluster
/// account was) that has ended: closed, or failed or cancelled on-chain.
const CLUSTER_MEMBER_ENDED: &str = "\
    l.in_cluster AND EXISTS (SELECT 1 FROM clusters c JOIN leases m \
        ON m.renter = c.renter AND m.cluster_nonce = c.nonce AND m.in_cluster \
      WHERE c.renter = l.renter AND c.nonce = l.cluster_nonce \
        AND l.created_at >= c.created_at AND m.created_at >= c.created_at \
        AND m.pubkey <> l.pubkey \
        AND (m.closed_slot IS NOT NULL OR m.status NOT IN ('pending', 'active')))";

/// Ends the open assignments of leases the chain has closed, and of the
/// other members of a cluster one of whose leases ended, and tells their
/// agents (when connected here) to stop. Assignments of replicas that are
/// gone are swept by whoever gets them first.
pub async fn stop_closed(shared: &Shared) -> Result<usize> {
    let mut tx = shared.pool.begin().await?;
    let rows = sqlx::query(&format!(
        "SELECT a.id, a.lease, a.node, a.session_id, a.failure_reported_at IS NOT NULL, \
           l.activated_at > 0 AND l.activated_at + l.duration_secs <= extract(epoch from l.updated_at)::int8, \
           l.closed_slot IS NULL \
         FROM assignments a JOIN leases l ON l.pubkey = a.lease \
         WHERE a.ended_at IS NULL AND (l.closed_slot IS NOT NULL OR ({CLUSTER_MEMBER_ENDED})) \
           AND (a.replica = $1 OR NOT EXISTS (SELECT 1 FROM scheduler_replicas r WHERE r.id = a.replica)) \
         LIMIT 1000 FOR UPDATE OF a SKIP LOCKED"
    ))
    .bind(&shared.replica_id)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(rows.len());
    let mut stops = Vec::with_capacity(rows.len());
    for row in &rows {
        ids.push(row.try_get::<i64, _>(0)?);
        let lease = crate::error::pubkey("assignments.lease", row.try_get::<&[u8], _>(1)?)?;
        let node = crate::error::pubkey("assignments.node", row.try_get::<&[u8], _>(2)?)?;
        let session_id: String = row.try_get(3)?;
        let reason = if row.try_get::<bool, _>(6)? {
            StopReason::ClusterMemberEnded
        } else if row.try_get::<bool, _>(4)? {
            StopReason::FailedReported
        } else if row.try_get::<Option<bool>, _>(5)?.unwrap_or(false) {
            StopReason::Ended
        } else {
            StopReason::Cancelled
        };
        stops.push((node, session_id, lease, reason));
    }
    let reasons: Vec<String> = stops
        .iter()
        .map(|(_, _, _, reason)| stop_reason_for_renter(*reason).to_string())
        .collect();
    crate::phases::record_stopped(&mut tx, &ids, &reasons).await?;
    sqlx::query(
        "UPDATE assignments a SET state = 'ended', ended_at = now(), \
           last_error = COALESCE(a.last_error, u.reason) \
         FROM UNNEST($1::int8[], $2::text[]) AS u(id, reason) WHERE a.id = u.id",
    )
    .bind(&ids)
    .bind(&reasons)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    for (node, session_id, lease, reason) in &stops {
        info!(%lease, %node, ?reason, "stopping the job of a closed lease or of a cluster that lost a member");
        stop(shared, node, session_id, lease, *reason);
    }
    Ok(stops.len())
}

/// Why a job stopped, as its renter reads it.
fn stop_reason_for_renter(reason: StopReason) -> &'static str {
    match reason {
        StopReason::FailedReported => "stopped: the node was reported failed on-chain",
        StopReason::Ended => "stopped: the lease's paid time ended",
        StopReason::ClusterMemberEnded => {
            "stopped: another lease of its cluster ended (failed, cancelled or closed), so the cluster cannot act as one"
        }
        _ => "stopped: the lease was cancelled or closed on-chain",
    }
}

/// Assignments sent through a session that has since been replaced, and not
/// acknowledged within a few seconds, never reached the agent's new
/// connection: they are released so the dispatcher sends them again.
pub async fn release_stale(shared: &Shared) -> Result<u64> {
    let released = sqlx::query(
        "UPDATE assignments a SET state = 'released', ended_at = now(), \
           last_error = 'its session was replaced before the agent acknowledged' \
         FROM agent_sessions s \
         WHERE s.node = a.node AND s.session_id <> a.session_id AND a.ended_at IS NULL \
           AND a.state IN ('created', 'sent') AND a.created_at < now() - make_interval(secs => $1)",
    )
    .bind(STALE_SECS)
    .execute(&shared.pool)
    .await?
    .rows_affected();
    shared.metrics.assignments_released_total.inc_by(released);
    Ok(released)
}

/// Reports, on-chain, active leases whose agent has been silent past the
/// market's failure grace. The claim (failure_reported_at) is committed
/// before sending, so two replicas never report the same lease at once.
///
/// The failure time is the last second service was seen, rounded down: a
/// cast would round to the nearest second and bill up to half a second the
/// renter never got.
pub async fn report_silent(shared: &Shared, reporter: &Reporter) -> Result<usize> {
    let mut tx = shared.pool.begin().await?;
    let rows = sqlx::query(
        "SELECT a.id, a.lease, a.node, a.session_id, l.activated_at, \
           floor(extract(epoch from COALESCE(a.last_seen_at, a.running_at, a.acked_at, a.sent_at, a.created_at)))::int8 \
         FROM leases l \
         JOIN assignments a ON a.id = (SELECT max(b.id) FROM assignments b WHERE b.lease = l.pubkey) \
         JOIN markets m ON m.closed_slot IS NULL \
         WHERE l.closed_slot IS NULL AND l.status = 'active' \
           AND a.state IN ('acked', 'sent', 'running', 'failed', 'ended') \
           AND COALESCE(a.last_seen_at, a.running_at, a.acked_at, a.sent_at, a.created_at) \
               < now() - make_interval(secs => m.failure_grace_secs) \
           AND l.activated_at + l.duration_secs > extract(epoch from now())::int8 \
           AND (a.failure_reported_at IS NULL \
                OR a.failure_reported_at < now() - make_interval(secs => $1)) \
         LIMIT $2 FOR UPDATE OF a SKIP LOCKED",
    )
    .bind(REPORT_RETRY_SECS)
    .bind(REPORTS_PER_ROUND)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?;
    sqlx::query("UPDATE assignments SET failure_reported_at = now() WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;

    let mut reported = 0;
    for row in &rows {
        let id: i64 = row.try_get(0)?;
        let lease = crate::error::pubkey("assignments.lease", row.try_get::<&[u8], _>(1)?)?;
        let node = crate::error::pubkey("assignments.node", row.try_get::<&[u8], _>(2)?)?;
        let session_id: String = row.try_get(3)?;
        let activated_at: i64 = row.try_get(4)?;
        let seen: i64 = row.try_get(5)?;
        // The program accepts activated_at ≤ failed_at ≤ now.
        let failed_at = seen.max(activated_at);
        match send_report(reporter, &lease, failed_at).await {
            Ok(signature) => {
                reported += 1;
                shared.metrics.failures_reported_total.inc();
                info!(%lease, %node, failed_at, %signature, "agent silent past the failure grace; failure reported");
                sqlx::query(
                    // The report says why the assignment ended, even if the
                    // closed-lease sweep ended it first.
                    "UPDATE assignments SET state = 'failed', \
                       ended_at = COALESCE(ended_at, now()), last_error = $2, \
                       failed_at = $3, failure_signature = $4 WHERE id = $1",
                )
                .bind(id)
                .bind(format!(
                    "agent silent since {failed_at} (unix s); report_failure {signature}"
                ))
                .bind(failed_at)
                .bind(signature.to_string())
                .execute(&shared.pool)
                .await?;
                stop(
                    shared,
                    &node,
                    &session_id,
                    &lease,
                    StopReason::FailedReported,
                );
            }
            Err(err) => {
                warn!(%lease, %err, "report_failure failed; retried later");
                sqlx::query("UPDATE assignments SET last_error = $2 WHERE id = $1")
                    .bind(id)
                    .bind(format!("report_failure failed: {err}"))
                    .execute(&shared.pool)
                    .await?;
            }
        }
    }
    Ok(reported)
}

async fn send_report(
    reporter: &Reporter,
    lease: &Pubkey,
    failed_at: i64,
) -> Result<solana_signature::Signature> {
    let (keys, _) = reporter.client.lease_keys(lease).await?;
    let authority = reporter.authority.pubkey();
    let mut ixs = reporter
        .client
        .create_missing_token_accounts(&authority, &keys.mint, &keys.ending_payees())
        .await?;
    ixs.push(keys.report_failure(&authority, failed_at));
    Ok(reporter.client.send(&ixs, &reporter.authority, &[]).await?)
}
