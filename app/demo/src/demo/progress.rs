//! Live progress: what the demo's actors do, and every lease's journey as the
//! marketplace records it in Postgres (indexed chain state joined with the
//! scheduler's assignments), printed as it changes.

use anchor_lang::prelude::Pubkey;
use anyhow::Result;
use sqlx::{PgPool, Row};
use std::{
    collections::HashMap,
    io::Write,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio_util::sync::CancellationToken;

/// Lines stamped with the time since the demo started.
#[derive(Clone)]
pub struct Log {
    start: Instant,
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl Log {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Self {
            start: Instant::now(),
            out: Arc::new(Mutex::new(out)),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn say(&self, line: impl AsRef<str>) {
        let elapsed = self.start.elapsed().as_secs_f64();
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "[{elapsed:>6.1}s] {}", line.as_ref());
        let _ = out.flush();
    }

    /// Text without a time stamp (headings, tables).
    pub fn raw(&self, text: impl AsRef<str>) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "{}", text.as_ref());
        let _ = out.flush();
    }
}

/// Where a lease is, as Postgres says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Funded on-chain and indexed; no job spec yet.
    Indexed,
    /// Spec accepted; waiting for dispatch (or for its cluster).
    Queued,
    /// The agent acknowledged the assignment.
    Dispatched,
    /// The job process runs on the node.
    Running,
    /// Activated on-chain by the operator: billing.
    Active,
    /// The lease account is closed; the scheduler has yet to end its assignment.
    Closing,
    /// Closed, and the assignment ended in this state.
    Closed { assignment: String },
}

/// One poll of a lease.
#[derive(Clone, Debug)]
pub struct Observed {
    pub stage: Stage,
    /// Spec accepted → agent acknowledged, once acknowledged.
    pub dispatch_ms: Option<i64>,
}

/// Reads the stage of every lease in `leases` (absent ones are not indexed yet).
pub async fn observe(pool: &PgPool, leases: &[Pubkey]) -> Result<HashMap<Pubkey, Observed>> {
    let keys: Vec<Vec<u8>> = leases.iter().map(|l| l.to_bytes().to_vec()).collect();
    let rows = sqlx::query(
        "SELECT l.pubkey, l.status, l.closed_slot IS NOT NULL, j.lease IS NOT NULL, a.state, \
           (extract(epoch from a.acked_at - j.submitted_at) * 1000)::int8 \
         FROM leases l \
         LEFT JOIN job_specs j ON j.lease = l.pubkey \
         LEFT JOIN LATERAL (SELECT * FROM assignments b WHERE b.lease = l.pubkey \
                            ORDER BY b.attempt DESC LIMIT 1) a ON true \
         WHERE l.pubkey = ANY($1)",
    )
    .bind(&keys)
    .fetch_all(pool)
    .await?;
    let mut observed = HashMap::new();
    for row in rows {
        let key: Vec<u8> = row.try_get(0)?;
        let Ok(key) = <[u8; 32]>::try_from(key.as_slice()) else {
            continue;
        };
        let status: String = row.try_get(1)?;
        let closed: bool = row.try_get(2)?;
        let has_spec: bool = row.try_get(3)?;
        let assignment: Option<String> = row.try_get(4)?;
        let dispatch_ms: Option<i64> = row.try_get(5)?;
        let open = matches!(
            assignment.as_deref(),
            Some("created" | "sent" | "acked" | "running")
        );
        let stage = if closed && open {
            Stage::Closing
        } else if closed {
            Stage::Closed {
                assignment: assignment.unwrap_or_else(|| "none".into()),
            }
        } else if status == "active" {
            Stage::Active
        } else {
            match (assignment.as_deref(), dispatch_ms) {
                (Some("running"), _) => Stage::Running,
                (Some("acked"), _) => Stage::Dispatched,
                _ if has_spec => Stage::Queued,
                _ => Stage::Indexed,
            }
        };
        observed.insert(Pubkey::new_from_array(key), Observed { stage, dispatch_ms });
    }
    Ok(observed)
}

/// A lease the watcher follows: its label and how to describe its stages.
pub struct Watched {
    pub address: Pubkey,
    pub label: String,
    pub node_name: &'static str,
    pub in_cluster: bool,
    /// The node's agent, whose log of the job the watcher shows.
    pub agent: std::sync::Arc<iomesh_agent::agent::Agent>,
}

/// How often the watcher shows what the running jobs print.
const JOB_OUTPUT_EVERY: Duration = Duration::from_secs(15);

/// Prints every stage change of `leases` until `stop`; polls every 200 ms.
pub async fn watch(
    pool: PgPool,
    log: Log,
    leases: Arc<Mutex<Vec<Watched>>>,
    stop: CancellationToken,
) {
    let mut last: HashMap<Pubkey, Stage> = HashMap::new();
    let mut dispatch_told: Vec<Pubkey> = Vec::new();
    let mut job_output_at = Instant::now() + JOB_OUTPUT_EVERY;
    let mut last_round = false;
    while !last_round {
        // One more round after the stop, so the final changes are shown.
        tokio::select! {
            _ = stop.cancelled() => last_round = true,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        let followed: Vec<(
            Pubkey,
            String,
            &'static str,
            bool,
            std::sync::Arc<iomesh_agent::agent::Agent>,
        )> = leases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|l| {
                (
                    l.address,
                    l.label.clone(),
                    l.node_name,
                    l.in_cluster,
                    l.agent.clone(),
                )
            })
            .collect();
        let addresses: Vec<Pubkey> = followed.iter().map(|f| f.0).collect();
        let Ok(observed) = observe(&pool, &addresses).await else {
            continue;
        };
        if Instant::now() >= job_output_at {
            job_output_at = Instant::now() + JOB_OUTPUT_EVERY;
            for (address, label, _, _, agent) in &followed {
                let active = observed
                    .get(address)
                    .is_some_and(|o| o.stage == Stage::Active);
                let last = || super::scenario::job_output(agent, address).pop();
                if let (true, Some(line)) = (active, active.then(last).flatten()) {
                    log.say(format!("{label}  job output: {}", printable(&line)));
                }
            }
        }
        for (address, label, node, in_cluster, _) in &followed {
            let Some(now) = observed.get(address) else {
                continue;
            };
            // A poll may miss a short stage; the dispatch latency is told once
            // whatever stage it is first seen in.
            if let (Some(ms), false) = (now.dispatch_ms, dispatch_told.contains(address)) {
                dispatch_told.push(*address);
                log.say(format!(
                    "{label}  dispatched to {node}'s agent {ms} ms after its job spec was accepted"
                ));
            }
            if last.get(address) == Some(&now.stage) {
                continue;
            }
            if now.stage != Stage::Dispatched {
                log.say(format!(
                    "{label}  {}",
                    describe(&now.stage, node, *in_cluster)
                ));
            }
            last.insert(*address, now.stage.clone());
        }
    }
}

fn describe(stage: &Stage, node: &str, in_cluster: bool) -> String {
    match stage {
        Stage::Indexed => "funded on-chain, indexed into Postgres".into(),
        Stage::Queued if in_cluster => {
            "job spec accepted; dispatched once every lease of its cluster is funded".into()
        }
        Stage::Queued => "job spec accepted by the scheduler; queued".into(),
        Stage::Dispatched => format!("assigned to {node}'s agent"),
        Stage::Running => format!("job running on {node}"),
        Stage::Active => "activated on-chain by the node's operator: billing per second".into(),
        Stage::Closing => "lease closed on-chain".into(),
        Stage::Closed { assignment } => {
            format!("the scheduler saw the closure: assignment {assignment}, job stopped")
        }
    }
}

/// A job's line as a terminal should show it: its escape sequences (colours,
/// cursor moves) and other control characters dropped.
fn printable(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, ended by a letter; else ESC and one more.
            if chars.next_if_eq(&'[').is_some() {
                while chars.next().is_some_and(|c| !c.is_ascii_alphabetic()) {}
            } else {
                chars.next();
            }
        } else if c == '\t' {
            out.push(' ');
        } else if !c.is_control() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod printable_tests {
    use super::printable;

    #[test]
    fn job_lines_lose_their_escape_sequences_and_control_characters() {
        assert_eq!(
            printable("saved to: \u{1b}[1m/tmp/ray/x.log\u{1b}[22m\u{1b}[26m\tdone\u{7}"),
            "saved to: /tmp/ray/x.log done"
        );
        assert_eq!(printable("step 3: ok"), "step 3: ok");
    }
}
