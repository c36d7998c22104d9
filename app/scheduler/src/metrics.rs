//! Prometheus metrics, registered up front.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub sessions: IntGauge,
    pub handshakes_refused_total: IntCounter,
    pub assignments_sent_total: IntCounter,
    pub assignments_released_total: IntCounter,
    pub dispatch_seconds: Histogram,
    pub failures_reported_total: IntCounter,
    pub stops_sent_total: IntCounter,
    pub tunnels_opened_total: IntCounter,
    /// Tunnels carrying bytes now.
    pub tunnels_open: IntGauge,
    /// Bytes through tunnels, by lease and direction (to_job, from_job).
    pub tunnel_bytes_total: IntCounterVec,
    pub log_records_total: IntCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let sessions = IntGauge::new(
            "iomesh_scheduler_sessions",
            "Agents connected to this replica",
        )
        .expect("metric");
        let handshakes_refused_total = IntCounter::new(
            "iomesh_scheduler_handshakes_refused_total",
            "Agent connections refused at the handshake",
        )
        .expect("metric");
        let assignments_sent_total = IntCounter::new(
            "iomesh_scheduler_assignments_sent_total",
            "Assignments sent to agents",
        )
        .expect("metric");
        let assignments_released_total = IntCounter::new(
            "iomesh_scheduler_assignments_released_total",
            "Assignments released because their agent went away before the job started",
        )
        .expect("metric");
        let dispatch_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "iomesh_scheduler_dispatch_seconds",
                "One dispatch round: claim in Postgres and send to the agents",
            )
            .buckets(vec![0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0]),
        )
        .expect("metric");
        let failures_reported_total = IntCounter::new(
            "iomesh_scheduler_failures_reported_total",
            "report_failure transactions confirmed",
        )
        .expect("metric");
        let stops_sent_total = IntCounter::new(
            "iomesh_scheduler_stops_sent_total",
            "Stop messages sent to agents",
        )
        .expect("metric");
        let tunnels_opened_total = IntCounter::new(
            "iomesh_scheduler_tunnels_opened_total",
            "Tunnels to jobs' ports opened through their agents",
        )
        .expect("metric");
        let tunnels_open = IntGauge::new(
            "iomesh_scheduler_tunnels_open",
            "Tunnels to jobs' ports open now",
        )
        .expect("metric");
        let tunnel_bytes_total = IntCounterVec::new(
            Opts::new(
                "iomesh_scheduler_tunnel_bytes_total",
                "Bytes through tunnels to jobs' ports",
            ),
            &["lease", "direction"],
        )
        .expect("metric");
        let log_records_total = IntCounter::new(
            "iomesh_scheduler_log_records_total",
            "Job log records sent to renters",
        )
        .expect("metric");
        for m in [
            Box::new(sessions.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(handshakes_refused_total.clone()),
            Box::new(assignments_sent_total.clone()),
            Box::new(assignments_released_total.clone()),
            Box::new(dispatch_seconds.clone()),
            Box::new(failures_reported_total.clone()),
            Box::new(stops_sent_total.clone()),
            Box::new(tunnels_opened_total.clone()),
            Box::new(tunnels_open.clone()),
            Box::new(tunnel_bytes_total.clone()),
            Box::new(log_records_total.clone()),
        ] {
            registry.register(m).expect("register metric");
        }
        Self {
            registry,
            sessions,
            handshakes_refused_total,
            assignments_sent_total,
            assignments_released_total,
            dispatch_seconds,
            failures_reported_total,
            stops_sent_total,
            tunnels_opened_total,
            tunnels_open,
            tunnel_bytes_total,
            log_records_total,
        }
    }

    /// The byte counters of `lease`'s tunnels: (to the job, from the job).
    pub fn tunnel_bytes(&self, lease: &solana_pubkey::Pubkey) -> (IntCounter, IntCounter) {
        let lease = lease.to_string();
        (
            self.tunnel_bytes_total
                .with_label_values(&[lease.as_str(), "to_job"]),
            self.tunnel_bytes_total
                .with_label_values(&[lease.as_str(), "from_job"]),
        )
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&self.registry.gather(), &mut out)
            .expect("encode metrics");
        out
    }
}
