//! Every Prometheus metric of the indexer, registered up front.

use prometheus::{
    exponential_buckets, Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Account updates received from a source (stream or reconcile).
    pub updates_received: IntCounter,
    /// Updates committed (newer than what Postgres held).
    pub updates_written: IntCounter,
    /// Updates not written: superseded inside a batch or not newer than Postgres.
    pub updates_skipped: IntCounter,
    /// Accounts kept raw, by reason (`unknown`, `undecodable`).
    pub raw_accounts: IntCounterVec,
    pub batch_size: Histogram,
    pub batch_seconds: Histogram,
    /// From the update leaving the server to its commit.
    pub commit_latency_seconds: Histogram,
    pub batch_failures: IntCounter,
    /// Newest slot the server reported.
    pub chain_slot: IntGauge,
    /// The resume cursor: every update up to it is committed.
    pub committed_slot: IntGauge,
    pub slot_lag: IntGauge,
    pub reconnects: IntCounter,
    /// 1 while a subscription is streaming.
    pub stream_connected: IntGauge,
    pub gaps: IntCounter,
    pub reconcile_runs: IntCounter,
    /// Backfills from transaction history started (resumes included).
    pub backfills: IntCounter,
    /// Transactions applied by backfills.
    pub backfill_transactions: IntCounter,
    /// Slots the running backfill still has to apply.
    pub backfill_remaining_slots: IntGauge,
    /// Slot ranges recorded as unrecoverable history.
    pub history_gaps: IntCounter,
    /// Slots in them.
    pub history_gap_slots: IntCounter,
}

impl Metrics {
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("iomesh_indexer".into()), None).expect("a valid prefix");
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
                .expect("valid metric");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric");
            h
        };
        let raw_accounts = IntCounterVec::new(
            Opts::new(
                "raw_accounts_total",
                "Account updates kept raw because they did not decode, by reason",
            ),
            &["reason"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(raw_accounts.clone()))
            .expect("unique metric");
        // 0.5 ms to about 4 s in 25 % steps: fine enough for p50 / p99.
        let seconds = exponential_buckets(0.0005, 1.25, 41).expect("valid buckets");
        Self {
            updates_received: counter("updates_received_total", "Account updates received"),
            updates_written: counter("updates_written_total", "Account updates committed"),
            updates_skipped: counter(
                "updates_skipped_total",
                "Account updates superseded in a batch or older than the stored row",
            ),
            raw_accounts,
            batch_size: histogram(
                "batch_size",
                "Updates per committed batch",
                exponential_buckets(1.0, 2.0, 18).expect("valid buckets"),
            ),
            batch_seconds: histogram("batch_seconds", "Time to commit one batch", seconds.clone()),
            commit_latency_seconds: histogram(
                "commit_latency_seconds",
                "From an update leaving the server to its commit",
                seconds,
            ),
            batch_failures: counter(
                "batch_failures_total",
                "Batch commits that failed and were retried",
            ),
            chain_slot: gauge("chain_slot", "Newest slot the server reported"),
            committed_slot: gauge(
                "committed_slot",
                "Resume cursor: every update up to it is committed",
            ),
            slot_lag: gauge(
                "slot_lag",
                "Slots between the server's newest and the committed cursor",
            ),
            reconnects: counter("reconnects_total", "Stream reconnections"),
            stream_connected: gauge("stream_connected", "1 while a subscription is streaming"),
            gaps: counter(
                "gaps_total",
                "Stream gaps the server could not replay (each reconciled)",
            ),
            reconcile_runs: counter("reconcile_runs_total", "getProgramAccounts reconciliations"),
            backfills: counter(
                "backfills_total",
                "Backfills from transaction history started (resumes included)",
            ),
            backfill_transactions: counter(
                "backfill_transactions_total",
                "Program transactions applied from history",
            ),
            backfill_remaining_slots: gauge(
                "backfill_remaining_slots",
                "Slots the running backfill has still to apply",
            ),
            history_gaps: counter(
                "history_gaps_total",
                "Slot ranges whose history the RPC no longer had (recorded in indexer_gaps)",
            ),
            history_gap_slots: counter(
                "history_gap_slots_total",
                "Slots in the unrecoverable ranges",
            ),
            registry,
        }
    }

    /// Sets the chain slot and recomputes the lag.
    pub fn observe_chain_slot(&self, slot: u64) {
        if slot as i64 > self.chain_slot.get() {
            self.chain_slot.set(slot as i64);
        }
        self.update_lag();
    }

    pub fn observe_committed_slot(&self, slot: u64) {
        if slot as i64 > self.committed_slot.get() {
            self.committed_slot.set(slot as i64);
        }
        self.update_lag();
    }

    fn update_lag(&self) {
        let lag = self.chain_slot.get() - self.committed_slot.get();
        self.slot_lag.set(lag.max(0));
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into a Vec");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
