//! What `GET /v1/leases…` and `GET /v1/nodes/{node}` answer: rows read by
//! column name into typed structs (`sqlx::FromRow`), turned into typed
//! views (`Serialize`). A renamed or retyped column fails loudly at the
//! first request, never shifts a field.

use crate::db::epoch_ms;
use anchor_lang::AccountDeserialize;
use iomesh::state::{Market, Node};
use serde::Serialize;
use serde_json::Value;

fn b58(bytes: &[u8]) -> String {
    bs58::encode(bytes).into_string()
}

/// The lease columns every lease view reads; `l` is the lease, `j` its job
/// spec, `s` its node's agent session, `a` its latest assignment.
pub const LEASE_SELECT: &str = concat!(
    "SELECT l.pubkey, l.status, l.node, l.renter, l.gpus, l.duration_secs, l.created_at, \
       l.activated_at, l.closed_slot, l.slot, j.sha256 AS spec_sha256, ",
    epoch_ms!("j.submitted_at"),
    " AS spec_submitted_at_ms, s.session_id IS NOT NULL AS agent_connected, \
       a.id AS assignment_id, a.attempt, a.state AS assignment_state, a.replica, ",
    epoch_ms!("a.created_at"),
    " AS assigned_at_ms, ",
    epoch_ms!("a.sent_at"),
    " AS sent_at_ms, ",
    epoch_ms!("a.acked_at"),
    " AS acked_at_ms, ",
    epoch_ms!("a.running_at"),
    " AS running_at_ms, ",
    epoch_ms!("a.activated_at"),
    " AS assignment_activated_at_ms, ",
    epoch_ms!("a.ended_at"),
    " AS ended_at_ms, ",
    epoch_ms!("a.last_seen_at"),
    " AS last_seen_at_ms, \
       a.last_error, a.activate_signature, a.failed_at, a.failure_signature, \
       j.ray_version AS wanted_ray, s.ray_version AS node_ray, s.ray_missing, \
       l.in_cluster IS TRUE AS in_cluster, \
       (SELECT count(*) FROM leases m WHERE l.in_cluster AND m.renter = l.renter \
          AND m.cluster_nonce = l.cluster_nonce AND m.in_cluster AND m.closed_slot IS NULL \
          AND NOT EXISTS (SELECT 1 FROM job_specs mj JOIN agent_sessions ms ON ms.node = m.node \
                WHERE mj.lease = m.pubkey AND mj.sha256 = m.job_spec_hash \
                  AND (mj.ray_version IS NULL OR mj.ray_version = ms.ray_version))) \
          AS unplaced_members \
     FROM leases l \
     LEFT JOIN job_specs j ON j.lease = l.pubkey \
     LEFT JOIN agent_sessions s ON s.node = l.node \
     LEFT JOIN LATERAL (SELECT * FROM assignments b WHERE b.lease = l.pubkey \
                        ORDER BY b.attempt DESC LIMIT 1) a ON true "
);

/// One row of [`LEASE_SELECT`].
#[derive(Debug, sqlx::FromRow)]
pub struct LeaseRow {
    pub pubkey: Vec<u8>,
    pub status: String,
    pub node: Vec<u8>,
    pub renter: Vec<u8>,
    pub gpus: i32,
    pub duration_secs: i64,
    pub created_at: i64,
    pub activated_at: i64,
    pub closed_slot: Option<i64>,
    pub slot: i64,
    pub spec_sha256: Option<Vec<u8>>,
    pub spec_submitted_at_ms: Option<i64>,
    pub agent_connected: bool,
    pub assignment_id: Option<i64>,
    pub attempt: Option<i32>,
    pub assignment_state: Option<String>,
    pub replica: Option<String>,
    pub assigned_at_ms: Option<i64>,
    pub sent_at_ms: Option<i64>,
    pub acked_at_ms: Option<i64>,
    pub running_at_ms: Option<i64>,
    pub assignment_activated_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub last_seen_at_ms: Option<i64>,
    pub last_error: Option<String>,
    pub activate_signature: Option<String>,
    pub failed_at: Option<i64>,
    pub failure_signature: Option<String>,
    pub wanted_ray: Option<String>,
    pub node_ray: Option<String>,
    pub ray_missing: Option<String>,
    pub in_cluster: bool,
    pub unplaced_members: i64,
}

/// A lease with its job spec, where dispatching it stands, and (set by the
/// handler) its job's phase.
#[derive(Debug, Serialize)]
pub struct LeaseView {
    pub lease: String,
    /// The on-chain status, or `closed` for a tombstone.
    pub status: String,
    pub node: String,
    pub renter: String,
    pub gpus: i32,
    pub duration_secs: i64,
    pub created_at: i64,
    pub activated_at: i64,
    pub slot: i64,
    pub job_spec: JobSpecView,
    pub dispatch: DispatchView,
    pub job: Value,
}

#[derive(Debug, Serialize)]
pub struct JobSpecView {
    pub submitted: bool,
    /// Hex.
    pub sha256: Option<String>,
    pub submitted_at_ms: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct DispatchView {
    pub state: String,
    /// Why the lease is in that state (what it waits for).
    pub reason: String,
    pub assignment: Option<AssignmentView>,
}

#[derive(Debug, Serialize)]
pub struct AssignmentView {
    pub id: i64,
    pub attempt: Option<i32>,
    pub state: Option<String>,
    pub replica: Option<String>,
    pub created_at_ms: Option<i64>,
    pub sent_at_ms: Option<i64>,
    pub acked_at_ms: Option<i64>,
    pub running_at_ms: Option<i64>,
    pub activated_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub last_seen_at_ms: Option<i64>,
    pub last_error: Option<String>,
    pub activate_signature: Option<String>,
    /// Set once a replica reported the silent agent on-chain.
    pub failure_report: Option<FailureReport>,
}

#[derive(Debug, Serialize)]
pub struct FailureReport {
    pub failed_at: i64,
    pub signature: Option<String>,
}

impl LeaseRow {
    /// Where the lease is in its journey, and why it waits if it does.
    fn dispatch_state(&self) -> (String, String) {
        let closed = self.closed_slot.is_some();
        let open = self.assignment_id.is_some() && self.ended_at_ms.is_none();
        let ray_mismatch = match (&self.wanted_ray, &self.node_ray) {
            (Some(wanted), Some(offered)) if wanted != offered => Some(format!(
                "the job needs Ray {wanted}; the node's agent offers Ray {offered}"
            )),
            (Some(wanted), None) => Some(format!(
                "the job needs Ray {wanted}; the node has none ({})",
                self.ray_missing
                    .as_deref()
                    .unwrap_or("its agent reports no Ray")
            )),
            _ => None,
        };
        let (state, reason): (&str, String) = if closed {
            ("closed", "the lease was closed on-chain".into())
        } else if open {
            (
                self.assignment_state.as_deref().unwrap_or("assigned"),
                "assigned to its node's agent".into(),
            )
        } else if self.status == "active" {
            (
                "active",
                "active on-chain without an open assignment".into(),
            )
        } else if self.spec_sha256.is_none() {
            (
                "awaiting_job_spec",
                "the renter has not submitted the job spec".into(),
            )
        } else if !self.agent_connected {
            ("awaiting_agent", "the node's agent is not connected".into())
        } else if let Some(mismatch) = ray_mismatch {
            ("no_matching_ray", mismatch)
        } else if self.in_cluster && self.unplaced_members > 0 {
            (
                "awaiting_cluster",
                format!(
                    "{} lease(s) of its cluster not placed yet (job spec, agent or Ray \
                     missing): no member starts before every one is",
                    self.unplaced_members
                ),
            )
        } else {
            ("queued", "waiting for the dispatcher".into())
        };
        (state.to_owned(), reason)
    }

    /// The view, with `job` left null for the handler to fill.
    pub fn into_view(self) -> LeaseView {
        let (state, reason) = self.dispatch_state();
        let assignment = self.assignment_id.map(|id| AssignmentView {
            id,
            attempt: self.attempt,
            state: self.assignment_state.clone(),
            replica: self.replica.clone(),
            created_at_ms: self.assigned_at_ms,
            sent_at_ms: self.sent_at_ms,
            acked_at_ms: self.acked_at_ms,
            running_at_ms: self.running_at_ms,
            activated_at_ms: self.assignment_activated_at_ms,
            ended_at_ms: self.ended_at_ms,
            last_seen_at_ms: self.last_seen_at_ms,
            last_error: self.last_error.clone(),
            activate_signature: self.activate_signature.clone(),
            failure_report: self.failed_at.map(|failed_at| FailureReport {
                failed_at,
                signature: self.failure_signature.clone(),
            }),
        });
        LeaseView {
            lease: b58(&self.pubkey),
            status: if self.closed_slot.is_some() {
                "closed".into()
            } else {
                self.status
            },
            node: b58(&self.node),
            renter: b58(&self.renter),
            gpus: self.gpus,
            duration_secs: self.duration_secs,
            created_at: self.created_at,
            activated_at: self.activated_at,
            slot: self.slot,
            job_spec: JobSpecView {
                submitted: self.spec_sha256.is_some(),
                sha256: self.spec_sha256.as_deref().map(hex::encode),
                submitted_at_ms: self.spec_submitted_at_ms,
            },
            dispatch: DispatchView {
                state,
                reason,
                assignment,
            },
            job: Value::Null,
        }
    }
}

/// A node with its agent session; `$1` is the node's address.
pub const NODE_SELECT: &str = concat!(
    "SELECT n.pubkey, n.status, n.closed_slot, n.gpu_count, n.gpus_in_use, n.operator, n.data, \
       n.gpu_model, n.region, n.open_leases, s.replica, s.agent_version, ",
    epoch_ms!("s.connected_at"),
    " AS connected_at_ms, ",
    epoch_ms!("s.last_heartbeat_at"),
    " AS last_heartbeat_at_ms, s.gpus::text AS session_gpus, \
       (SELECT count(*) FROM assignments a WHERE a.node = n.pubkey AND a.ended_at IS NULL) \
          AS open_assignments, \
       s.ray_version, s.ray_missing, s.advertised_address, s.job_ports_first, s.job_ports_last \
     FROM nodes n LEFT JOIN agent_sessions s ON s.node = n.pubkey WHERE n.pubkey = $1"
);

/// One row of [`NODE_SELECT`].
#[derive(Debug, sqlx::FromRow)]
pub struct NodeRow {
    pub pubkey: Vec<u8>,
    pub status: String,
    pub closed_slot: Option<i64>,
    pub gpu_count: i32,
    pub gpus_in_use: i32,
    pub operator: Vec<u8>,
    pub data: Vec<u8>,
    pub gpu_model: String,
    pub region: String,
    pub open_leases: i64,
    pub replica: Option<String>,
    pub agent_version: Option<String>,
    pub connected_at_ms: Option<i64>,
    pub last_heartbeat_at_ms: Option<i64>,
    pub session_gpus: Option<String>,
    pub open_assignments: i64,
    pub ray_version: Option<String>,
    pub ray_missing: Option<String>,
    pub advertised_address: Option<String>,
    pub job_ports_first: Option<i32>,
    pub job_ports_last: Option<i32>,
}

/// The market fields a node's view depends on.
#[derive(Debug, sqlx::FromRow)]
pub struct MarketRow {
    pub paused: bool,
    pub data: Vec<u8>,
}

/// A node, whether it gets work and every reason it does not.
#[derive(Debug, Serialize)]
pub struct NodeView {
    pub node: String,
    pub operator: String,
    /// The on-chain status, or `retired` once the account is closed.
    pub status: String,
    pub online: bool,
    pub gets_work: bool,
    pub no_work_reasons: Vec<&'static str>,
    pub gpu_model: String,
    pub region: String,
    pub gpu_count: i32,
    pub gpus_in_use: i32,
    pub open_leases: i64,
    pub staked: Option<u64>,
    pub meets_stake: Option<bool>,
    pub session: Option<SessionView>,
    pub capabilities: Option<Capabilities>,
    pub open_assignments: i64,
}

#[derive(Debug, Serialize)]
pub struct SessionView {
    pub replica: Option<String>,
    pub agent_version: Option<String>,
    pub connected_at_ms: Option<i64>,
    pub last_heartbeat_at_ms: Option<i64>,
    /// The GPUs the agent reported, as it reported them.
    pub gpus: Option<Value>,
}

/// What the node runs besides processes: `ray` jobs only with a Ray, of the
/// version they name.
#[derive(Debug, Serialize)]
pub struct Capabilities {
    pub ray_version: Option<String>,
    pub ray_jobs: String,
    pub advertised_address: Option<String>,
    /// First and last port the agent hands to jobs.
    pub job_ports: Option<[i32; 2]>,
}

impl NodeRow {
    pub fn into_view(self, market: Option<&MarketRow>) -> NodeView {
        let retired = self.closed_slot.is_some();
        let online = self.replica.is_some();
        let mut reasons: Vec<&'static str> = Vec::new();
        if retired {
            reasons.push("retired: the node account is closed on-chain");
        }
        if !online {
            reasons.push("offline: no agent session");
        }
        if self.status == "paused" {
            reasons.push("paused by its owner: new leases are refused");
        }
        if market.is_some_and(|m| m.paused) {
            reasons.push("the market is paused");
        }
        let node = (!self.data.is_empty())
            .then(|| Node::try_deserialize(&mut self.data.as_slice()).ok())
            .flatten();
        let stake_per_gpu = market
            .and_then(|m| Market::try_deserialize(&mut m.data.as_slice()).ok())
            .map(|m| m.stake_per_gpu);
        let meets_stake = match (&node, stake_per_gpu) {
            (Some(node), Some(per_gpu)) => node.meets_stake(per_gpu).ok(),
            _ => None,
        };
        if meets_stake == Some(false) {
            reasons.push("no stake: staked IO is below the market's stake per GPU");
        }
        if !retired && self.gpus_in_use >= self.gpu_count {
            reasons.push("at capacity: every GPU is leased");
        }
        let capabilities = online.then(|| Capabilities {
            ray_jobs: match &self.ray_version {
                Some(version) => format!("takes `ray` jobs that name Ray {version}"),
                None => format!(
                    "takes no `ray` jobs: {}",
                    self.ray_missing
                        .as_deref()
                        .unwrap_or("its agent reports no Ray")
                ),
            },
            ray_version: self.ray_version.clone(),
            advertised_address: self.advertised_address.clone(),
            job_ports: self
                .job_ports_first
                .zip(self.job_ports_last)
                .map(<[i32; 2]>::from),
        });
        let session = online.then(|| SessionView {
            replica: self.replica.clone(),
            agent_version: self.agent_version.clone(),
            connected_at_ms: self.connected_at_ms,
            last_heartbeat_at_ms: self.last_heartbeat_at_ms,
            gpus: self
                .session_gpus
                .as_deref()
                .and_then(|g| serde_json::from_str(g).ok()),
        });
        NodeView {
            node: b58(&self.pubkey),
            operator: b58(&self.operator),
            status: if retired {
                "retired".into()
            } else {
                self.status
            },
            online,
            gets_work: reasons.is_empty(),
            no_work_reasons: reasons,
            gpu_model: self.gpu_model,
            region: self.region,
            gpu_count: self.gpu_count,
            gpus_in_use: self.gpus_in_use,
            open_leases: self.open_leases,
            staked: node.as_ref().map(|n| n.staked),
            meets_stake,
            session,
            capabilities,
            open_assignments: self.open_assignments,
        }
    }
}
