//! The slot ticker: advances the bank once per slot on wall-clock time.

use crate::bank::Chain;
pub use iomesh_client::clock::unix_now;
use std::{sync::Arc, time::Duration};
use tokio::{task::JoinHandle, time::MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Spawns the ticker; it stops when `shutdown` is cancelled.
pub fn spawn(chain: Arc<Chain>, slot: Duration, shutdown: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + slot, slot);
        // After a stall, keep slot length rather than bursting to catch up.
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = interval.tick() => {}
            }
            let chain = chain.clone();
            // Freezing hashes the bank: keep it off the async workers.
            match tokio::task::spawn_blocking(move || chain.advance(unix_now())).await {
                Ok(slots) => tracing::trace!(
                    slot = slots.processed,
                    root = slots.finalized,
                    "slot advanced"
                ),
                Err(err) => {
                    tracing::error!(%err, "slot advance failed; the clock stops");
                    break;
                }
            }
        }
    })
}
