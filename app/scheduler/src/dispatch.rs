//! The dispatcher: woken by the indexer's NOTIFY (and by job-spec submissions
//! and new sessions), with polling as the safety net. It claims pending,
//! funded leases with a job spec whose node's agent is connected to this
//! replica, in one transaction that inserts their assignments and gives each
//! a block of the node's job ports, then sends them.
//!
//! A `ray` job goes only to a node whose agent offers the Ray version it
//! names. A cluster lease is claimed only once every member is placed: the
//! cluster funded (the program refuses to activate it before), every
//! member's spec submitted and its node's agent connected (to any replica)
//! with a matching Ray. Its rank 0 (the member with the lowest address) is
//! claimed first; the others follow once rank 0 holds its ports, since
//! their assignments carry rank 0's address and first port (Ray's head,
//! torchrun's MASTER_PORT).
//!
//! At most one open assignment per lease is a unique index; `FOR UPDATE SKIP
//! LOCKED` keeps replicas from waiting on each other's candidates.

use crate::{error::Result, Shared};
use iomesh_agent_proto::{
    v1::{scheduler_message::Msg, Assignment, ClusterPeer, ClusterPlacement, SchedulerMessage},
    PORT_BLOCK,
};
use solana_pubkey::Pubkey;
use sqlx::{postgres::PgListener, Row};
use std::{sync::Arc, time::Duration};
use tokio::sync::mpsc::error::{SendTimeoutError, TrySendError};
use tracing::{debug, warn};

/// Channels whose NOTIFY wakes the dispatcher.
pub const INDEXER_CHANNEL: &str = iomesh_db::channels::INDEXER;
/// Sent by a replica that accepted a job spec, so the replica holding the node wakes.
pub const SCHEDULER_CHANNEL: &str = iomesh_db::channels::SCHEDULER;

/// A lease the agent refused is not offered again for this long.
const REFUSED_BACKOFF_SECS: i64 = 30;
/// How long a full agent queue may hold the dispatcher.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// The open members of the cluster of lease `l` (a SQL fragment).
macro_rules! members_of_l {
    ($m:literal) => {
        concat!(
            "leases ",
            $m,
            " WHERE ",
            $m,
            ".renter = l.renter AND ",
            $m,
            ".cluster_nonce = l.cluster_nonce \
               AND ",
            $m,
            ".in_cluster AND ",
            $m,
            ".closed_slot IS NULL"
        )
    };
}

const CLAIM: &str = concat!(
    "\
WITH candidates AS ( \
    SELECT l.pubkey, l.node, l.gpus, l.duration_secs, s.session_id, j.spec, \
           l.in_cluster IS TRUE AS in_cluster, l.renter, l.cluster_nonce::text AS cluster_nonce \
    FROM leases l \
    JOIN agent_sessions s ON s.node = l.node AND s.replica = $1 \
    JOIN job_specs j ON j.lease = l.pubkey AND j.sha256 = l.job_spec_hash \
    WHERE l.closed_slot IS NULL AND l.status = 'pending' \
      AND (j.ray_version IS NULL OR j.ray_version = s.ray_version) \
      AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.lease = l.pubkey \
            AND (a.ended_at IS NULL \
                 OR (a.state = 'refused' AND a.ended_at > now() - make_interval(secs => $3)))) \
      AND NOT EXISTS (SELECT 1 FROM markets m WHERE m.closed_slot IS NULL \
            AND l.created_at + m.activation_timeout_secs <= extract(epoch from now())::int8) \
      AND (l.in_cluster IS NOT TRUE OR (EXISTS (SELECT 1 FROM clusters c \
            WHERE c.renter = l.renter AND c.nonce = l.cluster_nonce \
              AND c.closed_slot IS NULL AND c.completed_at > 0) \
          AND NOT EXISTS (SELECT 1 FROM ",
    members_of_l!("m"),
    " AND NOT EXISTS ( \
                SELECT 1 FROM job_specs mj JOIN agent_sessions ms ON ms.node = m.node \
                WHERE mj.lease = m.pubkey AND mj.sha256 = m.job_spec_hash \
                  AND (mj.ray_version IS NULL OR mj.ray_version = ms.ray_version))) \
          AND (l.pubkey = (SELECT h.pubkey FROM ",
    members_of_l!("h"),
    " ORDER BY h.pubkey LIMIT 1) \
               OR EXISTS (SELECT 1 FROM assignments ha WHERE ha.ended_at IS NULL \
                   AND ha.port_base IS NOT NULL \
                   AND ha.lease = (SELECT h.pubkey FROM ",
    members_of_l!("h"),
    " ORDER BY h.pubkey LIMIT 1))))) \
    ORDER BY l.slot, l.pubkey \
    LIMIT $2 \
    FOR UPDATE OF l SKIP LOCKED \
), inserted AS ( \
    INSERT INTO assignments (lease, node, attempt, replica, session_id, state) \
    SELECT c.pubkey, c.node, \
           COALESCE((SELECT max(a.attempt) FROM assignments a WHERE a.lease = c.pubkey), 0) + 1, \
           $1, c.session_id, 'created' \
    FROM candidates c \
    ON CONFLICT DO NOTHING \
    RETURNING id, lease, node, attempt, session_id \
), phased AS ( \
    INSERT INTO job_phases (lease, attempt, phase, at) \
    SELECT lease, attempt, 'assigned', now() FROM inserted ON CONFLICT DO NOTHING \
) \
SELECT i.id, i.lease, i.node, i.attempt, i.session_id, c.gpus, c.duration_secs, c.spec, \
       c.in_cluster, c.renter, c.cluster_nonce \
FROM inserted i JOIN candidates c ON c.pubkey = i.lease"
);

/// Gives assignment $1 the lowest block of its node's job ports that no
/// other open assignment of the node holds (NULL when none is free or the
/// agent offers no ports).
const ALLOCATE_PORTS: &str = "\
UPDATE assignments SET port_base = ( \
    SELECT b FROM agent_sessions s, \
         generate_series(s.job_ports_first, s.job_ports_last - $2 + 1, $2) AS b \
    WHERE s.node = assignments.node \
      AND NOT EXISTS (SELECT 1 FROM assignments o WHERE o.node = s.node \
            AND o.ended_at IS NULL AND o.port_base = b) \
    ORDER BY b LIMIT 1) \
WHERE id = $1 RETURNING port_base";

/// A cluster's open members in rank order, with where each runs.
const MEMBERS: &str = "\
SELECT m.pubkey, m.gpus, s.advertised_address, a.port_base \
FROM leases m \
LEFT JOIN agent_sessions s ON s.node = m.node \
LEFT JOIN assignments a ON a.lease = m.pubkey AND a.ended_at IS NULL \
WHERE m.renter = $1 AND m.cluster_nonce = $2::numeric AND m.in_cluster AND m.closed_slot IS NULL \
ORDER BY m.pubkey";

/// Runs until shutdown.
pub async fn run(shared: Arc<Shared>) -> Result<()> {
    let listener = tokio::spawn(listen(shared.clone()));
    loop {
        loop {
            match dispatch_once(&shared).await {
                Ok(n) if n as i64 >= shared.config.dispatch_batch => continue,
                Ok(_) => break,
                Err(err) => {
                    warn!(%err, "dispatch round failed; retrying after the poll interval");
                    break;
                }
            }
        }
        tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(shared.config.poll()) => {}
        }
    }
    listener.abort();
    Ok(())
}

/// LISTENs on the indexer's and the scheduler's channels; every notification wakes the dispatcher.
async fn listen(shared: Arc<Shared>) {
    loop {
        let mut listener = match PgListener::connect_with(&shared.pool).await {
            Ok(l) => l,
            Err(err) => {
                warn!(%err, "LISTEN connection failed; polling meanwhile");
                tokio::time::sleep(shared.config.poll()).await;
                continue;
            }
        };
        if let Err(err) = listener
            .listen_all([INDEXER_CHANNEL, SCHEDULER_CHANNEL])
            .await
        {
            warn!(%err, "LISTEN failed; polling meanwhile");
            tokio::time::sleep(shared.config.poll()).await;
            continue;
        }
        // A notification may have been missed while (re)connecting.
        shared.wake.notify_one();
        loop {
            match listener.recv().await {
                Ok(_) => shared.wake.notify_one(),
                Err(err) => {
                    warn!(%err, "LISTEN connection lost; reconnecting");
                    break;
                }
            }
        }
    }
}

/// One claim-and-send round; returns how many leases were claimed.
pub async fn dispatch_once(shared: &Shared) -> Result<usize> {
    if shared.sessions.is_empty() {
        return Ok(0);
    }
    let timer = shared.metrics.dispatch_seconds.start_timer();
    let mut tx = shared.pool.begin().await?;
    let rows = sqlx::query(CLAIM)
        .bind(&shared.replica_id)
        .bind(shared.config.dispatch_batch)
        .bind(REFUSED_BACKOFF_SECS as f64)
        .fetch_all(&mut *tx)
        .await?;
    let mut port_bases = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: i64 = row.try_get(0)?;
        let base: Option<i32> = sqlx::query_scalar(ALLOCATE_PORTS)
            .bind(id)
            .bind(i32::from(PORT_BLOCK))
            .fetch_one(&mut *tx)
            .await?;
        port_bases.push(base);
    }
    tx.commit().await?;
    if rows.is_empty() {
        timer.stop_and_discard();
        return Ok(0);
    }
    let mut sent = Vec::with_capacity(rows.len());
    let mut lost: Vec<(i64, String)> = Vec::new();
    let mut heads_claimed = false;
    for (row, port_base) in rows.iter().zip(port_bases) {
        let id: i64 = row.try_get(0)?;
        let lease = crate::error::pubkey("assignments.lease", row.try_get::<&[u8], _>(1)?)?;
        let node = crate::error::pubkey("assignments.node", row.try_get::<&[u8], _>(2)?)?;
        let attempt: i32 = row.try_get(3)?;
        let session_id: &str = row.try_get(4)?;
        let gpus: i32 = row.try_get(5)?;
        let duration_secs: i64 = row.try_get(6)?;
        let spec: Vec<u8> = row.try_get(7)?;
        let cluster = if row.try_get::<bool, _>(8)? {
            let renter: Vec<u8> = row.try_get(9)?;
            let nonce: String = row.try_get(10)?;
            let placement = placement(shared, &lease, &renter, &nonce).await?;
            heads_claimed |= placement.rank == 0;
            Some(placement)
        } else {
            None
        };
        let Some(session) = shared
            .sessions
            .get(&node)
            .filter(|s| s.session_id == session_id)
        else {
            lost.push((id, "the agent's session ended before sending".into()));
            continue;
        };
        let message = Ok(SchedulerMessage {
            msg: Some(Msg::Assignment(Assignment {
                assignment_id: id.to_string(),
                lease: lease.to_string(),
                attempt: attempt as u32,
                gpu_count: gpus as u32,
                job_spec: spec,
                duration_secs: duration_secs as u64,
                port_base: port_base.map_or(0, |b| b as u32),
                port_count: port_base.map_or(0, |_| u32::from(PORT_BLOCK)),
                cluster,
            })),
        });
        let delivered = match session.outbound.try_send(message) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(_)) => Err("the agent's stream closed".to_string()),
            Err(TrySendError::Full(message)) => {
                match session.outbound.send_timeout(message, SEND_TIMEOUT).await {
                    Ok(()) => Ok(()),
                    Err(SendTimeoutError::Closed(_)) => {
                        Err("the agent's stream closed".to_string())
                    }
                    Err(SendTimeoutError::Timeout(_)) => {
                        Err("the agent's queue stayed full".to_string())
                    }
                }
            }
        };
        match delivered {
            Ok(()) => {
                debug!(%lease, %node, attempt, "assignment sent");
                sent.push(id)
            }
            Err(reason) => lost.push((id, reason)),
        }
    }
    if !sent.is_empty() {
        sqlx::query(
            "UPDATE assignments SET sent_at = COALESCE(sent_at, now()), \
               state = CASE WHEN state = 'created' THEN 'sent' ELSE state END \
             WHERE id = ANY($1)",
        )
        .bind(&sent)
        .execute(&shared.pool)
        .await?;
        shared
            .metrics
            .assignments_sent_total
            .inc_by(sent.len() as u64);
    }
    if !lost.is_empty() {
        let (ids, reasons): (Vec<i64>, Vec<String>) = lost.into_iter().unzip();
        sqlx::query(
            "UPDATE assignments a SET state = 'released', ended_at = now(), last_error = u.reason \
             FROM UNNEST($1::int8[], $2::text[]) AS u(id, reason) \
             WHERE a.id = u.id AND a.ended_at IS NULL",
        )
        .bind(&ids)
        .bind(&reasons)
        .execute(&shared.pool)
        .await?;
        shared
            .metrics
            .assignments_released_total
            .inc_by(ids.len() as u64);
    }
    timer.observe_duration();
    if heads_claimed {
        // The other members can be claimed now that rank 0 holds its ports.
        shared.wake.notify_one();
    }
    Ok(rows.len())
}

/// Where `lease` sits in its cluster: its rank, every member's address and
/// GPUs, and rank 0's address and first port.
async fn placement(
    shared: &Shared,
    lease: &Pubkey,
    renter: &[u8],
    nonce: &str,
) -> Result<ClusterPlacement> {
    let members = sqlx::query(MEMBERS)
        .bind(renter)
        .bind(nonce)
        .fetch_all(&shared.pool)
        .await?;
    let mut placement = ClusterPlacement::default();
    for (rank, member) in members.iter().enumerate() {
        let address: Option<String> = member.try_get(2)?;
        let member_lease = crate::error::pubkey("leases.pubkey", member.try_get::<&[u8], _>(0)?)?;
        if member_lease == *lease {
            placement.rank = rank as u32;
        }
        if rank == 0 {
            placement.master_addr = address.clone().unwrap_or_default();
            placement.master_port = member.try_get::<Option<i32>, _>(3)?.unwrap_or(0) as u32;
        }
        placement.peers.push(ClusterPeer {
            rank: rank as u32,
            lease: member_lease.to_string(),
            address: address.unwrap_or_default(),
            gpus: member.try_get::<i32, _>(1)? as u32,
        });
    }
    Ok(placement)
}

/// Wakes the dispatcher of every replica (after a job spec is accepted).
pub async fn notify_replicas(shared: &Shared, lease: &Pubkey) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(SCHEDULER_CHANNEL)
        .bind(lease.to_string())
        .execute(&shared.pool)
        .await?;
    Ok(())
}
