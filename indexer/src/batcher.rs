//! Bounded channel → batches. A batch closes at `max_updates` distinct pubkeys
//! or `max_delay` after its first update, keeps only the newest write of each
//! pubkey, and is retried until it commits: while it retries the channel fills
//! and the source waits (backpressure), nothing is dropped.

use crate::{
    metrics::Metrics,
    update::{AccountUpdate, Event},
    writer::{Batch, WriteStats, Writer},
};
use solana_pubkey::Pubkey;
use std::{
    collections::HashMap,
    time::{Duration, SystemTime},
};
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::CancellationToken;

#[derive(Clone, Copy, Debug)]
pub struct BatchConfig {
    pub max_updates: usize,
    pub max_delay: Duration,
    /// First wait before retrying a failed commit; doubles up to 5 s.
    pub retry_delay: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_updates: 4096,
            max_delay: Duration::from_millis(20),
            retry_delay: Duration::from_millis(100),
        }
    }
}

/// The batch being filled.
#[derive(Debug, Default)]
pub struct Pending {
    newest: HashMap<Pubkey, AccountUpdate>,
    cursor: Option<u64>,
    opened_at: Option<Instant>,
    superseded: usize,
}

impl Pending {
    /// Adds an event; returns whether the batch is full.
    pub fn push(&mut self, event: Event, max_updates: usize) -> bool {
        self.opened_at.get_or_insert_with(Instant::now);
        match event {
            Event::Account(update) => match self.newest.get_mut(&update.pubkey) {
                Some(held) if held.version() >= update.version() => self.superseded += 1,
                Some(held) => {
                    *held = update;
                    self.superseded += 1;
                }
                None => {
                    self.newest.insert(update.pubkey, update);
                }
            },
            Event::SlotComplete(slot) => {
                self.cursor = Some(self.cursor.map_or(slot, |c| c.max(slot)));
            }
        }
        self.newest.len() >= max_updates
    }

    pub fn is_empty(&self) -> bool {
        self.newest.is_empty() && self.cursor.is_none()
    }

    pub fn deadline(&self, max_delay: Duration) -> Option<Instant> {
        self.opened_at.map(|t| t + max_delay)
    }

    /// Closes the batch; returns it with the count of updates it superseded.
    pub fn take(&mut self) -> (Batch, usize) {
        let pending = std::mem::take(self);
        let mut updates: Vec<AccountUpdate> = pending.newest.into_values().collect();
        // A stable order keeps row locks in one order across writers.
        updates.sort_unstable_by(|a, b| a.pubkey.cmp(&b.pubkey));
        (
            Batch {
                updates,
                cursor: pending.cursor,
            },
            pending.superseded,
        )
    }
}

/// Drains `events` into `writer` until every sender is gone, then flushes what
/// is pending and returns. `shutdown` only stops retrying a commit that keeps failing.
pub async fn run(
    mut events: mpsc::Receiver<Event>,
    writer: Writer,
    config: BatchConfig,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> crate::Result<()> {
    let mut pending = Pending::default();
    loop {
        let deadline = pending.deadline(config.max_delay);
        let full = tokio::select! {
            event = events.recv() => match event {
                Some(event) => {
                    if let Event::Account(_) = event {
                        metrics.updates_received.inc();
                    }
                    pending.push(event, config.max_updates)
                }
                None => {
                    if !pending.is_empty() {
                        commit(&writer, &mut pending, &config, &metrics, &shutdown).await?;
                    }
                    return Ok(());
                }
            },
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => true,
        };
        if full {
            commit(&writer, &mut pending, &config, &metrics, &shutdown).await?;
        }
    }
}

async fn commit(
    writer: &Writer,
    pending: &mut Pending,
    config: &BatchConfig,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) -> crate::Result<WriteStats> {
    let (batch, superseded) = pending.take();
    metrics.updates_skipped.inc_by(superseded as u64);
    let mut delay = config.retry_delay;
    loop {
        let started = Instant::now();
        match writer.write(&batch).await {
            Ok(stats) => {
                record(metrics, &batch, &stats, started.elapsed());
                return Ok(stats);
            }
            Err(err) => {
                metrics.batch_failures.inc();
                tracing::warn!(%err, updates = batch.updates.len(), retry_in = ?delay,
                    "batch commit failed; retrying the same batch");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.cancelled() => {
                        tracing::error!(%err, "shutting down with an uncommitted batch; \
                            the cursor was not moved, so it is replayed on restart");
                        return Err(err);
                    }
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

fn record(metrics: &Metrics, batch: &Batch, stats: &WriteStats, took: Duration) {
    metrics.updates_written.inc_by(stats.written as u64);
    metrics.updates_skipped.inc_by(stats.skipped as u64);
    if stats.unknown > 0 {
        metrics
            .raw_accounts
            .with_label_values(&["unknown"])
            .inc_by(stats.unknown as u64);
    }
    if stats.undecodable > 0 {
        metrics
            .raw_accounts
            .with_label_values(&["undecodable"])
            .inc_by(stats.undecodable as u64);
    }
    metrics.batch_size.observe(batch.updates.len() as f64);
    metrics.batch_seconds.observe(took.as_secs_f64());
    if let Some(cursor) = batch.cursor {
        metrics.observe_committed_slot(cursor);
    }
    let now = SystemTime::now();
    for created in batch.updates.iter().filter_map(|u| u.created_at) {
        if let Ok(latency) = now.duration_since(created) {
            metrics
                .commit_latency_seconds
                .observe(latency.as_secs_f64());
        }
    }
    tracing::debug!(updates = batch.updates.len(), written = stats.written,
        skipped = stats.skipped, closed = stats.closed, slot = ?stats.highest_slot,
        took_ms = took.as_millis() as u64, "batch committed");
}
