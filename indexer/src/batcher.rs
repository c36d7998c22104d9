//! Bounded channel → batches → one committer. A batch keeps only the newest
//! write of each pubkey and is handed to the committer as soon as the
//! committer is free (after lingering at most `max_delay` for more updates),
//! or when it holds `max_updates` distinct pubkeys. While one batch commits the
//! next one fills, so encoding and receiving overlap the round trips, and the
//! batch size adapts to the load: small batches (low latency) when Postgres
//! keeps up, large ones (high throughput) when it does not. Batches commit one
//! at a time, in order, so the cursor each carries is only committed after
//! every update before it. A failed commit is retried until it succeeds: the
//! next batch fills up, the channel fills and the source waits
//! (backpressure); nothing is dropped.

use crate::{
    metrics::Metrics,
    update::{AccountUpdate, Event},
    writer::{Batch, LeaseEnding, LoggedEvent, WriteStats, Writer},
};
use solana_pubkey::Pubkey;
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, SystemTime},
};
use tokio::{
    sync::{mpsc, OwnedSemaphorePermit, Semaphore},
    time::Instant,
};
use tokio_util::sync::CancellationToken;

#[derive(Clone, Copy, Debug)]
pub struct BatchConfig {
    /// A batch is handed over once it holds this many distinct pubkeys, even
    /// if the committer is busy (it then waits for it, and the channel fills).
    pub max_updates: usize,
    /// Longest a batch waits for more updates once the committer is free
    /// (zero: hand it over at once).
    pub max_delay: Duration,
    /// First wait before retrying a failed commit; doubles up to 5 s.
    pub retry_delay: Duration,
    /// Connections a large batch is written over at once (`Writer::write_sharded`).
    pub writers: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_updates: 8192,
            max_delay: Duration::from_millis(1),
            retry_delay: Duration::from_millis(100),
            writers: 4,
        }
    }
}

/// The batch being filled.
#[derive(Debug, Default)]
pub struct Pending {
    newest: HashMap<Pubkey, AccountUpdate>,
    /// For a pubkey whose newest update is a closure: its newest live write
    /// in the batch, so the tombstone keeps what the account held.
    live_before_closure: HashMap<Pubkey, AccountUpdate>,
    endings: Vec<LeaseEnding>,
    events: Vec<LoggedEvent>,
    cursor: Option<u64>,
    opened_at: Option<Instant>,
    superseded: usize,
    /// When every update of the batch (superseded ones too) left the server.
    sent_at: Vec<SystemTime>,
}

impl Pending {
    /// Adds an event; returns whether the batch is full.
    pub fn push(&mut self, event: Event, max_updates: usize) -> bool {
        self.opened_at.get_or_insert_with(Instant::now);
        match event {
            Event::Account(update) => {
                self.sent_at.extend(update.created_at);
                match self.newest.get_mut(&update.pubkey) {
                    Some(held) if held.version() >= update.version() => {
                        self.superseded += 1;
                        if held.is_closed() && !update.is_closed() {
                            keep_newer(&mut self.live_before_closure, update);
                        }
                    }
                    Some(held) => {
                        self.superseded += 1;
                        let previous = std::mem::replace(held, update);
                        if !held.is_closed() {
                            // Alive again: the closure before it is history.
                            self.live_before_closure.remove(&held.pubkey);
                        } else if !previous.is_closed() {
                            keep_newer(&mut self.live_before_closure, previous);
                        }
                    }
                    None => {
                        self.newest.insert(update.pubkey, update);
                    }
                }
            }
            Event::Ending(ending) => self.endings.push(ending),
            Event::Logged(event) => self.events.push(event),
            Event::SlotComplete(slot) => {
                self.cursor = Some(self.cursor.map_or(slot, |c| c.max(slot)));
            }
        }
        self.is_full(max_updates)
    }

    pub fn is_full(&self, max_updates: usize) -> bool {
        self.newest.len() >= max_updates
    }

    pub fn is_empty(&self) -> bool {
        self.newest.is_empty()
            && self.endings.is_empty()
            && self.events.is_empty()
            && self.cursor.is_none()
    }

    pub fn deadline(&self, max_delay: Duration) -> Option<Instant> {
        self.opened_at.map(|t| t + max_delay)
    }

    /// Closes the batch; returns it with the count of updates it superseded.
    pub fn take(&mut self) -> (Batch, usize) {
        let (batch, superseded, _) = self.take_with_times();
        (batch, superseded)
    }

    fn take_with_times(&mut self) -> (Batch, usize, Vec<SystemTime>) {
        let pending = std::mem::take(self);
        let mut updates: Vec<AccountUpdate> = pending.newest.into_values().collect();
        // A stable order keeps row locks in one order across writers.
        updates.sort_unstable_by_key(|u| u.pubkey);
        let mut live_before_closure: Vec<AccountUpdate> =
            pending.live_before_closure.into_values().collect();
        live_before_closure.sort_unstable_by_key(|u| u.pubkey);
        (
            Batch {
                updates,
                cursor: pending.cursor,
                endings: pending.endings,
                events: pending.events,
                live_before_closure,
            },
            pending.superseded,
            pending.sent_at,
        )
    }
}

/// Keeps `update` in `live` unless a newer write of its pubkey is there.
fn keep_newer(live: &mut HashMap<Pubkey, AccountUpdate>, update: AccountUpdate) {
    match live.get(&update.pubkey) {
        Some(kept) if kept.version() >= update.version() => {}
        _ => {
            live.insert(update.pubkey, update);
        }
    }
}

/// Most events taken from the channel at once.
const RECEIVE_CHUNK: usize = 1024;

/// A closed batch on its way to the committer.
struct Closed {
    batch: Batch,
    superseded: usize,
    sent_at: Vec<SystemTime>,
    /// Held until the batch is committed: the committer is busy meanwhile.
    _busy: OwnedSemaphorePermit,
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
    let free = Arc::new(Semaphore::new(1));
    let (to_committer, batches) = mpsc::channel::<Closed>(1);
    let mut committer = tokio::spawn(commit_loop(
        batches,
        writer,
        config,
        metrics.clone(),
        shutdown,
    ));
    let mut pending = Pending::default();
    let mut inbox = Vec::with_capacity(RECEIVE_CHUNK);
    let mut open = true;
    loop {
        if !open && pending.is_empty() {
            drop(to_committer);
            return committer.await.expect("committer task");
        }
        let full = pending.is_full(config.max_updates);
        let room = config
            .max_updates
            .saturating_sub(pending.newest.len())
            .max(1);
        // A full batch, or the last one, goes as soon as the committer is free;
        // otherwise it lingers up to max_delay first.
        let linger_until = (!full && open)
            .then(|| pending.deadline(config.max_delay))
            .flatten();
        let handover = async {
            if let Some(at) = linger_until {
                tokio::time::sleep_until(at).await;
            }
            free.clone().acquire_owned().await.expect("never closed")
        };
        tokio::select! {
            biased;
            // The committer only stops early when a commit failed for good.
            ended = &mut committer => {
                return ended.expect("committer task").and(Err(crate::Error::Config(
                    "the committer stopped while batches were pending".into(),
                )));
            }
            busy = handover, if !pending.is_empty() => {
                let (batch, superseded, sent_at) = pending.take_with_times();
                let closed = Closed { batch, superseded, sent_at, _busy: busy };
                if to_committer.send(closed).await.is_err() {
                    return committer.await.expect("committer task");
                }
            }
            // Events are taken in bulk, and never past a full batch.
            received = events.recv_many(&mut inbox, RECEIVE_CHUNK.min(room)), if open && !full => {
                if received == 0 {
                    open = false;
                }
                for event in inbox.drain(..) {
                    if let Event::Account(_) = event {
                        metrics.updates_received.inc();
                    }
                    pending.push(event, config.max_updates);
                }
            }
        }
    }
}

/// Commits batches one at a time, in the order they were closed.
async fn commit_loop(
    mut batches: mpsc::Receiver<Closed>,
    writer: Writer,
    config: BatchConfig,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> crate::Result<()> {
    while let Some(closed) = batches.recv().await {
        metrics.updates_skipped.inc_by(closed.superseded as u64);
        commit(&writer, &closed.batch, &config, &metrics, &shutdown).await?;
        record_latency(&metrics, &closed.sent_at);
    }
    Ok(())
}

fn record_latency(metrics: &Metrics, sent_at: &[SystemTime]) {
    let now = SystemTime::now();
    for sent in sent_at {
        if let Ok(latency) = now.duration_since(*sent) {
            metrics
                .commit_latency_seconds
                .observe(latency.as_secs_f64());
        }
    }
}

async fn commit(
    writer: &Writer,
    batch: &Batch,
    config: &BatchConfig,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) -> crate::Result<WriteStats> {
    let mut delay = config.retry_delay;
    loop {
        let started = Instant::now();
        match writer.write_sharded(batch, config.writers).await {
            Ok(stats) => {
                record(metrics, batch, &stats, started.elapsed());
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
    tracing::debug!(updates = batch.updates.len(), written = stats.written,
        skipped = stats.skipped, closed = stats.closed, slot = ?stats.highest_slot,
        took_ms = took.as_millis() as u64, "batch committed");
}
