//! The indexer's benchmark (`scripts/bench-indexer`): one workload of real encoded lease accounts (many
//! pubkeys, hot ones updated often) served over real gRPC by a local Geyser
//! server, written to Postgres three ways: the indexer's pipeline; a naive
//! baseline that upserts each update in its own statement; and the ceiling, a
//! binary COPY of the same decoded rows into a plain table. Not a timed test: it prints figures.

use anchor_lang::AccountSerialize;
use futures::StreamExt;
use iomesh::state::{AccountSpace, Lease, LeaseStatus};
use iomesh_indexer::{
    batcher::{self, BatchConfig},
    decode::{self, Kind},
    metrics::Metrics,
    source::{self},
    tables::{self, Rows},
    writer::Writer,
};
use solana_pubkey::Pubkey;
use sqlx::PgPool;
use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
mod geyser;

use geyser::{indexer_source, serve, slot_update};
use yellowstone_grpc_client::{GeyserGrpcClient, GeyserStream, SubscribeRequestSink};
use yellowstone_grpc_proto::prelude::{
    subscribe_update::UpdateOneof, SubscribeRequest, SubscribeUpdate, SubscribeUpdateAccount,
    SubscribeUpdateAccountInfo,
};

/// Streams one workload of real encoded lease updates over real gRPC into
/// Postgres three ways (the indexer's pipeline, a naive one-upsert-per-update
/// baseline, a binary COPY ceiling), then once more at a fixed rate for the
/// commit latency, and prints the figures side by side. Each run gets a fresh
/// database on the server of --database-url.
#[derive(clap::Parser, Clone, Debug)]
#[command(name = "pipeline")]
pub struct BenchArgs {
    /// Postgres server; each run gets a fresh database on it (iomesh_bench_*).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Account updates per full-speed run.
    #[arg(long, default_value_t = 200_000)]
    pub updates: usize,
    /// Distinct lease accounts (80% of the updates go to the hottest 10%).
    #[arg(long, default_value_t = 20_000)]
    pub pubkeys: usize,
    /// Updates per slot (a confirmed slot status follows each slot's updates).
    #[arg(long, default_value_t = 2_000)]
    pub slot_updates: usize,
    /// Rate of the latency run, updates per second.
    #[arg(long, default_value_t = 10_000)]
    pub latency_rate: u64,
    /// Length of the latency run, seconds.
    #[arg(long, default_value_t = 10)]
    pub latency_secs: u64,
    /// Updates the naive baseline writes (it is slow; its rate is what counts).
    #[arg(long, default_value_t = 20_000)]
    pub naive_updates: usize,
    /// The indexer's batch bound, as `run --batch-max-updates`.
    #[arg(long, default_value_t = BatchConfig::default().max_updates)]
    pub batch_max_updates: usize,
    /// The indexer's linger, as `run --batch-max-delay-ms`.
    #[arg(long, default_value_t = 1)]
    pub batch_max_delay_ms: u64,
    /// Connections a large batch is written over, as `run --writers`.
    #[arg(long, default_value_t = BatchConfig::default().writers)]
    pub writers: usize,
}

/// The workload: lease updates of a skewed set of pubkeys, with a confirmed
/// slot status after each slot's content.
fn workload(args: &BenchArgs, count: usize) -> Vec<SubscribeUpdate> {
    let keys: Vec<Pubkey> = (0..args.pubkeys).map(|_| Pubkey::new_unique()).collect();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut out = Vec::with_capacity(count + count / args.slot_updates + 1);
    let mut slot = 1_000u64;
    for i in 0..count {
        // 80% of the updates go to 10% of the accounts (running leases settling).
        let r = next();
        let hot = (args.pubkeys / 10).max(1);
        let index = if r % 10 < 8 {
            (r >> 8) as usize % hot
        } else {
            (r >> 8) as usize % args.pubkeys
        };
        let lease = Lease {
            version: 1,
            bump: 255,
            status: LeaseStatus::Active,
            fee_bps: 25,
            gpus: 1 + (index % 8) as u16,
            renter: keys[(index + 1) % keys.len()],
            payer: keys[(index + 2) % keys.len()],
            node: keys[(index + 3) % keys.len()],
            mint: keys[0],
            nonce: index as u64,
            rate_per_gpu_hour: 2_000_000,
            deposited: 2_000_000 * 8,
            paid_out: i as u64,
            created_at: 1_700_000_000,
            activated_at: 1_700_000_060,
            settled_until: 1_700_000_060 + i as i64,
            duration_secs: 3_600,
            job_spec_hash: [7; 32],
            in_cluster: false,
            cluster_nonce: 0,
            cluster_funding_deadline: 0,
            reserved: [0; 132],
        };
        let mut data = Vec::with_capacity(Lease::SPACE);
        lease.try_serialize(&mut data).expect("serialize");
        out.push(SubscribeUpdate {
            filters: vec!["program".into()],
            created_at: None,
            update_oneof: Some(UpdateOneof::Account(SubscribeUpdateAccount {
                account: Some(SubscribeUpdateAccountInfo {
                    pubkey: keys[index].to_bytes().to_vec(),
                    lamports: 2_700_000,
                    owner: iomesh::ID.to_bytes().to_vec(),
                    executable: false,
                    rent_epoch: u64::MAX,
                    data,
                    write_version: i as u64,
                    txn_signature: None,
                }),
                slot,
                is_startup: false,
                bank_id: None,
            })),
        });
        if (i + 1) % args.slot_updates == 0 || i + 1 == count {
            out.push(slot_update(slot));
            slot += 1;
        }
    }
    out
}

/// A fresh database with the migrations applied.
async fn fresh_database(server_url: &str, name: &str) -> PgPool {
    iomesh_db::create_database(server_url, name, 12)
        .await
        .expect("a fresh database on the benchmark's server")
}

/// Resets the peak resident set (Linux) so each run reports its own.
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_memory_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Commit latencies: exact samples, or the indexer's own histogram.
enum Latencies {
    None,
    Samples(Vec<f64>),
    Histogram(Vec<(f64, u64)>),
}

struct Figures {
    name: String,
    updates: usize,
    seconds: f64,
    latencies: Latencies,
    peak_mib: f64,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.updates as f64 / self.seconds
    }
    /// The p-quantile of the commit latency, in milliseconds.
    fn percentile(&self, p: f64) -> Option<f64> {
        match &self.latencies {
            Latencies::None => None,
            Latencies::Samples(samples) if samples.is_empty() => None,
            Latencies::Samples(samples) => {
                let mut sorted = samples.clone();
                sorted.sort_by(f64::total_cmp);
                let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
                Some(sorted[i] * 1_000.0)
            }
            Latencies::Histogram(buckets) => histogram_quantile(buckets, p).map(|s| s * 1_000.0),
        }
    }
}

/// The indexer's own pipeline: gRPC source → bounded channel → batcher → writer.
async fn run_indexer(
    pool: PgPool,
    updates: Arc<Vec<SubscribeUpdate>>,
    rate: Option<u64>,
    batch: BatchConfig,
    name: String,
) -> Figures {
    let count = updates
        .iter()
        .filter(|u| matches!(u.update_oneof, Some(UpdateOneof::Account(_))))
        .count();
    let (addr, stop) = serve(updates, rate).await;
    let metrics = Metrics::new();
    let writer = Writer::new(pool, iomesh::ID, "bench");
    let (events, receiver) = mpsc::channel(65_536);
    reset_peak_memory();
    let started = Instant::now();
    let batcher = tokio::spawn(batcher::run(
        receiver,
        writer,
        batch,
        metrics.clone(),
        CancellationToken::new(),
    ));
    let (config, reconciler) = indexer_source(addr);
    let ended = source::stream(
        &config,
        0,
        &reconciler,
        &events,
        &metrics,
        &CancellationToken::new(),
    )
    .await;
    drop(events);
    batcher
        .await
        .expect("batcher task")
        .expect("batches commit");
    let seconds = started.elapsed().as_secs_f64();
    stop.cancel();
    tracing::debug!(?ended, "bench stream ended");
    let latencies = Latencies::Histogram(histogram_buckets(&metrics));
    Figures {
        name,
        updates: count,
        seconds,
        latencies,
        peak_mib: peak_memory_mib(),
    }
}

/// The commit-latency histogram's buckets: (upper bound, cumulative count).
fn histogram_buckets(metrics: &Metrics) -> Vec<(f64, u64)> {
    use prometheus::core::Collector;
    let mut buckets = Vec::new();
    for family in metrics.commit_latency_seconds.collect() {
        for metric in family.get_metric() {
            for bucket in metric.get_histogram().get_bucket() {
                buckets.push((bucket.upper_bound(), bucket.cumulative_count()));
            }
        }
    }
    buckets
}

/// A quantile of a histogram, interpolated linearly inside its bucket (as
/// Prometheus' histogram_quantile does); buckets are 25% wide.
fn histogram_quantile(buckets: &[(f64, u64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut lower = (0.0, 0u64);
    for &(upper, count) in buckets {
        if count as f64 >= rank {
            let inside = (rank - lower.1 as f64) / (count - lower.1).max(1) as f64;
            return Some(lower.0 + (upper - lower.0) * inside);
        }
        lower = (upper, count);
    }
    Some(lower.0)
}

/// A stock Yellowstone client subscribed to everything the server streams.
async fn subscribe_everything(addr: SocketAddr) -> (SubscribeRequestSink, GeyserStream) {
    GeyserGrpcClient::build_from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect")
        .subscribe_with_request(Some(SubscribeRequest::default()))
        .await
        .expect("subscribe")
}

/// What most hand-written indexers do: each update upserted in its own statement.
async fn run_naive(pool: PgPool, updates: Arc<Vec<SubscribeUpdate>>) -> Figures {
    let (addr, stop) = serve(updates, None).await;
    let sql = tables::upsert_sql(&tables::LEASES);
    let (_sink, mut stream) = subscribe_everything(addr).await;
    reset_peak_memory();
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut count = 0;
    while let Some(Ok(update)) = stream.next().await {
        let Some(UpdateOneof::Account(account)) = update.update_oneof else {
            continue;
        };
        let info = account.account.expect("account");
        let iomesh_indexer::decode::Decoded::Lease(lease) =
            iomesh_indexer::decode::decode(&iomesh::ID, &iomesh::ID, &info.data)
        else {
            continue;
        };
        let mut rows = Rows::new(&tables::LEASES, 1);
        let mut row = rows.row(&info.pubkey);
        tables::push_decoded(&mut row, &iomesh_indexer::decode::Decoded::Lease(lease));
        row.finish(
            &info.data,
            info.lamports as i64,
            account.slot as i64,
            info.write_version as i64,
        );
        let mut query = sqlx::query(&sql);
        for values in rows.into_columns() {
            query = match values {
                tables::Values::Bytea(v) => query.bind(v),
                tables::Values::Bool(v) => query.bind(v),
                tables::Values::Int4(v) => query.bind(v),
                tables::Values::Int8(v) => query.bind(v),
                tables::Values::Text(v) => query.bind(v),
            };
        }
        query.execute(&pool).await.expect("naive upsert");
        count += 1;
        if let Some(created) = update.created_at.and_then(|t| SystemTime::try_from(t).ok()) {
            latencies.push(
                SystemTime::now()
                    .duration_since(created)
                    .unwrap_or_default()
                    .as_secs_f64(),
            );
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    stop.cancel();
    Figures {
        name: "naive (one upsert per update)".into(),
        updates: count,
        seconds,
        latencies: Latencies::Samples(latencies),
        peak_mib: peak_memory_mib(),
    }
}

/// The ceiling: the same rows the indexer writes (decoded into the leases
/// table's columns, raw data and slot/write_version) as one binary COPY into
/// a plain logged table. COPY cannot resolve repeats, so the table has no key:
/// this is the cost of getting the bytes in, with none of the guards.
async fn run_copy(pool: PgPool, updates: Arc<Vec<SubscribeUpdate>>) -> Figures {
    let table = tables::table_of(Kind::Lease).expect("leases table");
    sqlx::query(&tables::copy_target_sql(table, "bench_copy"))
        .execute(&pool)
        .await
        .expect("copy table");
    let (addr, stop) = serve(updates, None).await;
    let (_sink, mut stream) = subscribe_everything(addr).await;
    reset_peak_memory();
    let started = Instant::now();
    let mut conn = pool.acquire().await.expect("connection");
    let mut copy = conn
        .copy_in_raw("COPY bench_copy FROM STDIN (FORMAT binary)")
        .await
        .expect("copy in");
    let mut buffer: Vec<u8> = b"PGCOPY\n\xff\r\n\0".to_vec();
    buffer.extend_from_slice(&0i32.to_be_bytes());
    buffer.extend_from_slice(&0i32.to_be_bytes());
    const CHUNK: usize = 4096;
    let mut rows = Rows::new(table, CHUNK);
    let mut count = 0;
    while let Some(Ok(update)) = stream.next().await {
        let Some(UpdateOneof::Account(account)) = update.update_oneof else {
            continue;
        };
        let info = account.account.expect("account");
        let owner = Pubkey::try_from(info.owner.as_slice()).expect("owner");
        let decoded = decode::decode(&iomesh::ID, &owner, &info.data);
        assert_eq!(decoded.kind(), Kind::Lease, "the workload is leases");
        let mut row = rows.row(&info.pubkey);
        tables::push_decoded(&mut row, &decoded);
        row.finish(
            &info.data,
            info.lamports as i64,
            account.slot as i64,
            info.write_version as i64,
        );
        count += 1;
        if rows.len() == CHUNK {
            let full = std::mem::replace(&mut rows, Rows::new(table, CHUNK));
            tables::encode_copy_rows(&full.into_columns(), &mut buffer);
            copy.send(std::mem::take(&mut buffer))
                .await
                .expect("copy data");
        }
    }
    tables::encode_copy_rows(&rows.into_columns(), &mut buffer);
    buffer.extend_from_slice(&(-1i16).to_be_bytes());
    copy.send(buffer).await.expect("copy data");
    copy.finish().await.expect("copy commit");
    let seconds = started.elapsed().as_secs_f64();
    stop.cancel();
    Figures {
        name: "ceiling (binary COPY)".into(),
        updates: count,
        seconds,
        latencies: Latencies::None,
        peak_mib: peak_memory_mib(),
    }
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.updates > 0 && args.pubkeys > 0 && args.slot_updates > 0 && args.latency_rate > 0,
        "--updates, --pubkeys, --slot-updates and --latency-rate must be positive"
    );
    let batch = BatchConfig {
        max_updates: args.batch_max_updates,
        max_delay: Duration::from_millis(args.batch_max_delay_ms),
        writers: args.writers,
        ..BatchConfig::default()
    };
    anyhow::ensure!((1..=8).contains(&batch.writers), "--writers must be 1..=8");
    println!(
        "workload: {} lease updates over {} pubkeys (80% to the hottest 10%), {} per slot; \
         batches of at most {} pubkeys, {} ms linger, {} writer connections; build: {}",
        args.updates,
        args.pubkeys,
        args.slot_updates,
        batch.max_updates,
        args.batch_max_delay_ms,
        batch.writers,
        if cfg!(debug_assertions) {
            "debug (figures are lower than a release build)"
        } else {
            "optimised"
        }
    );
    let full = Arc::new(workload(&args, args.updates));
    let naive = Arc::new(workload(&args, args.naive_updates.min(args.updates)));
    let paced_count = (args.latency_rate as usize * args.latency_secs as usize).max(1);
    let paced = Arc::new(workload(&args, paced_count));

    // The three full-speed runs share the workload and the machine, back to back.
    let iomesh = run_indexer(
        fresh_database(&args.database_url, "iomesh_bench_indexer").await,
        full.clone(),
        None,
        batch,
        "iomesh indexer".into(),
    )
    .await;
    let naive = run_naive(
        fresh_database(&args.database_url, "iomesh_bench_naive").await,
        naive,
    )
    .await;
    let copy = run_copy(
        fresh_database(&args.database_url, "iomesh_bench_copy").await,
        full,
    )
    .await;
    let paced = run_indexer(
        fresh_database(&args.database_url, "iomesh_bench_paced").await,
        paced,
        Some(args.latency_rate),
        batch,
        format!("iomesh indexer at {} updates/s", args.latency_rate),
    )
    .await;

    println!(
        "{:<34} {:>10} {:>12} {:>10} {:>10} {:>10}",
        "run", "updates", "updates/s", "p50 ms", "p99 ms", "peak MiB"
    );
    for f in [&iomesh, &naive, &copy, &paced] {
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        println!(
            "{:<34} {:>10} {:>12.0} {:>10} {:>10} {:>10.0}",
            f.name,
            f.updates,
            f.rate(),
            ms(f.percentile(0.5)),
            ms(f.percentile(0.99)),
            f.peak_mib
        );
    }
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let p99 = paced.percentile(0.99).unwrap_or(f64::INFINITY);
    println!(
        "iomesh: {:.0} updates/s (target >= 50000: {}); {:.1}x naive (target >= 10x: {}); \
         {:.0}% of the COPY ceiling (target >= 40%: {}); p99 commit latency at {} updates/s \
         {:.1} ms (target < 100 ms: {})",
        iomesh.rate(),
        verdict(iomesh.rate() >= 50_000.0),
        iomesh.rate() / naive.rate(),
        verdict(iomesh.rate() / naive.rate() >= 10.0),
        100.0 * iomesh.rate() / copy.rate(),
        verdict(iomesh.rate() / copy.rate() >= 0.4),
        args.latency_rate,
        p99,
        verdict(p99 < 100.0),
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // `cargo test --all-targets` runs bench targets without `--bench`.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("pipeline: a benchmark; run it with scripts/bench-indexer");
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args = <BenchArgs as clap::Parser>::parse_from(args.into_iter().filter(|a| a != "--bench"));
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}
