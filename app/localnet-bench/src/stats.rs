//! Latency samples and the figures printed from them.

use std::time::Duration;

/// What one workload measured: how many operations finished in how long,
/// and the latency of each.
#[derive(Debug)]
pub struct Figures {
    pub name: String,
    pub concurrency: usize,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
    pub errors: u64,
}

impl Figures {
    pub fn new(name: impl Into<String>, concurrency: usize, elapsed: Duration) -> Self {
        Self {
            name: name.into(),
            concurrency,
            elapsed,
            latencies: Vec::new(),
            errors: 0,
        }
    }

    pub fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// The latency at quantile `q` (0..=1), nearest-rank.
    pub fn percentile(&self, q: f64) -> Duration {
        percentile(&self.latencies, q)
    }
}

/// Nearest-rank percentile of unsorted samples; zero when there are none.
pub fn percentile(samples: &[Duration], q: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Prints the figures as one aligned table with the target beside each row.
pub fn print_table(rows: &[(Figures, String)]) {
    println!(
        "{:<44} {:>7} {:>9} {:>11} {:>9} {:>9} {:>7}  target",
        "workload", "clients", "ops", "ops/s", "p50 ms", "p99 ms", "errors"
    );
    for (f, target) in rows {
        println!(
            "{:<44} {:>7} {:>9} {:>11.0} {:>9.3} {:>9.3} {:>7}  {}",
            f.name,
            f.concurrency,
            f.latencies.len(),
            f.per_second(),
            millis(f.percentile(0.50)),
            millis(f.percentile(0.99)),
            f.errors,
            target
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&samples, 1.0), Duration::from_millis(100));
        assert_eq!(percentile(&samples[..1], 0.99), Duration::from_millis(100));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }
}
