//! The indexer's running pipeline: the gRPC source feeding a bounded channel,
//! the batcher committing it through the writer. One place builds it for the
//! binary, the in-process users (the demo) and the tests.

use crate::{
    batcher::{self, BatchConfig},
    metrics::Metrics,
    reconcile::Reconciler,
    source::{self, SourceConfig},
    writer::Writer,
};
use sqlx::PgPool;
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;

pub struct PipelineConfig {
    pub source: SourceConfig,
    pub batch: BatchConfig,
    /// Updates buffered between the source and the batcher.
    pub channel_capacity: usize,
    /// Names this indexer's cursor row.
    pub cursor_id: String,
}

pub struct Pipeline {
    pub metrics: Metrics,
    shutdown: CancellationToken,
    batcher_abort: CancellationToken,
    source: JoinHandle<crate::Result<()>>,
    batcher: JoinHandle<crate::Result<()>>,
}

impl Pipeline {
    /// Starts streaming into `pool` (migrated); `reconciler` reads the chain
    /// over JSON-RPC when the stream cannot be trusted to be complete.
    pub fn spawn(
        pool: PgPool,
        config: PipelineConfig,
        reconciler: Reconciler,
        metrics: Metrics,
    ) -> Self {
        let shutdown = CancellationToken::new();
        let batcher_abort = CancellationToken::new();
        let writer = Writer::new(pool, config.source.program_id, config.cursor_id);
        let (events, receiver) = mpsc::channel(config.channel_capacity);
        // The batcher stops once the source drops its sender; it is only told
        // to give up on a commit that keeps failing by `abort_batcher`.
        let batcher = tokio::spawn(batcher::run(
            receiver,
            writer.clone(),
            config.batch,
            metrics.clone(),
            batcher_abort.clone(),
        ));
        let source = tokio::spawn(source::run(
            config.source,
            writer,
            reconciler,
            events,
            metrics.clone(),
            shutdown.clone(),
        ));
        Self {
            metrics,
            shutdown,
            batcher_abort,
            source,
            batcher,
        }
    }

    /// Cancelling it makes the batcher give up on a commit that keeps failing
    /// (a second Ctrl-C); what is pending is then lost, and streamed again
    /// from the cursor at the next start.
    pub fn batcher_abort(&self) -> CancellationToken {
        self.batcher_abort.clone()
    }

    /// Graceful stop: the source ends, the batcher commits what is pending.
    pub async fn stop(self) -> crate::Result<()> {
        self.shutdown.cancel();
        let source = self.source.await;
        let batcher = self.batcher.await;
        for (task, result) in [("source", source), ("batcher", batcher)] {
            result.map_err(|join| {
                crate::Error::Config(format!("the indexer's {task} task panicked: {join}"))
            })??;
        }
        Ok(())
    }
}
