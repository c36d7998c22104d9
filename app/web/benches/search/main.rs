//! The search benchmark (`scripts/bench-web`): the market API over a seeded
//! market of 100,000 nodes and 1,000,000 leases (most ended, with their
//! endings), heartbeat minutes and agent sessions, in a throwaway database.
//! For each common search: p50/p99 over HTTP on loopback, next to the
//! floor of any request (`/health`, one `SELECT 1` through the same stack)
//! and the target (p99 < 50 ms); then each query's plan (which indexes it
//! uses); and how long recomputing every node's scores takes.

use clap::Parser;
use iomesh_web::{
    http, scores,
    search::{self, Search, SearchParams, Sort},
};
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(name = "search")]
struct Args {
    /// Postgres server; the benchmark creates (and drops) its own database there.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    #[arg(long, default_value_t = 100_000)]
    nodes: i64,
    #[arg(long, default_value_t = 1_000_000)]
    leases: i64,
    /// Requests per search (after 20 of warm-up).
    #[arg(long, default_value_t = 300)]
    requests: usize,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

const TARGET_P99: Duration = Duration::from_millis(50);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let name = format!("iomesh_bench_web_{}", std::process::id());
    let pool = iomesh_db::create_database(&args.database_url, &name, 8).await?;
    let result = run(&args, &pool).await;
    pool.close().await;
    iomesh_db::drop_database(&args.database_url, &name).await?;
    result
}

async fn run(args: &Args, pool: &PgPool) -> anyhow::Result<()> {
    let started = Instant::now();
    seed(pool, args.nodes, args.leases).await?;
    println!(
        "seeded {} nodes, {} leases (90 % ended), {} heartbeat minutes, {} agent sessions in {:.1} s",
        args.nodes,
        args.leases,
        count(pool, "node_uptime_minutes").await?,
        count(pool, "agent_sessions").await?,
        started.elapsed().as_secs_f64()
    );
    let refresh = Instant::now();
    scores::refresh(pool, scores::now()).await?;
    println!(
        "scores of every node recomputed (node_reliability → node_scores) in {:.2} s",
        refresh.elapsed().as_secs_f64()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = format!("http://{}", listener.local_addr()?);
    let server = axum::serve(listener, http::router(pool.clone()));
    tokio::spawn(async move { server.await });
    let client = reqwest::Client::new();

    let searches: [(&str, SearchParams); 6] = [
        ("cheapest first (no filter)", SearchParams::default()),
        (
            "one model, cheapest first",
            SearchParams {
                gpu_model: Some("H100".into()),
                ..Default::default()
            },
        ),
        (
            "most reliable first",
            SearchParams {
                sort: Some(Sort::Reliability),
                ..Default::default()
            },
        ),
        (
            "8 GPUs free now, 24 h, all-in cost",
            SearchParams {
                gpus: Some(8),
                hours: Some(24),
                free_now: Some(true),
                sort: Some(Sort::TotalCost),
                ..Default::default()
            },
        ),
        (
            "region + 40 GiB VRAM + max $2/h",
            SearchParams {
                region: Some("eu-west".into()),
                min_vram_mib: Some(40_960),
                max_price_usd_micros: Some(2_000_000),
                ..Default::default()
            },
        ),
        (
            "scored nodes only, page 5",
            SearchParams {
                min_score_bps: Some(1),
                page: Some(5),
                ..Default::default()
            },
        ),
    ];

    println!(
        "\n{:<40} {:>9} {:>9} {:>6}   (target p99 < {} ms)",
        "request",
        "p50 ms",
        "p99 ms",
        "rows",
        TARGET_P99.as_millis()
    );
    let (p50, p99, _) = latencies(&client, &format!("{api}/health"), args.requests).await?;
    row("floor: /health (SELECT 1)", p50, p99, None);
    for (what, params) in &searches {
        let url = format!("{api}/api/v1/nodes?{}", query_string(params));
        let (p50, p99, rows) = latencies(&client, &url, args.requests).await?;
        row(what, p50, p99, Some(rows));
    }

    println!("\nplans (EXPLAIN ANALYZE):");
    for (what, params) in searches {
        let search = Search::new(params).map_err(anyhow::Error::msg)?;
        let mut explain =
            QueryBuilder::<Postgres>::new("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) ");
        search::push_query(&mut explain, &search);
        println!("- {what}");
        for line in explain.build().fetch_all(pool).await? {
            println!("    {}", line.get::<String, _>(0));
        }
    }
    Ok(())
}

fn row(what: &str, p50: Duration, p99: Duration, rows: Option<usize>) {
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    let verdict = if p99 < TARGET_P99 { "✔" } else { "✘" };
    println!(
        "{what:<40} {:>9.2} {:>9.2} {:>6}   {verdict}",
        ms(p50),
        ms(p99),
        rows.map_or(String::from("-"), |r| r.to_string())
    );
}

/// p50 and p99 of `requests` sequential GETs of `url`, and the rows the last returned.
async fn latencies(
    client: &reqwest::Client,
    url: &str,
    requests: usize,
) -> anyhow::Result<(Duration, Duration, usize)> {
    let mut rows = 0;
    let mut times = Vec::with_capacity(requests);
    for i in 0..requests + 20 {
        let started = Instant::now();
        let response = client.get(url).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        let body: serde_json::Value = response.json().await?;
        if i >= 20 {
            times.push(started.elapsed());
        }
        rows = body["nodes"].as_array().map_or(0, Vec::len);
    }
    times.sort();
    let at = |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
    Ok((at(0.50), at(0.99), rows))
}

fn query_string(p: &SearchParams) -> String {
    let mut pairs: Vec<String> = Vec::new();
    let mut add = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            pairs.push(format!("{key}={}", value.replace(' ', "%20")));
        }
    };
    add("gpu_model", p.gpu_model.clone());
    add("region", p.region.clone());
    add("min_vram_mib", p.min_vram_mib.map(|v| v.to_string()));
    add("gpus", p.gpus.map(|v| v.to_string()));
    add("hours", p.hours.map(|v| v.to_string()));
    add(
        "max_price_usd_micros",
        p.max_price_usd_micros.map(|v| v.to_string()),
    );
    add("free_now", p.free_now.map(|v| v.to_string()));
    add("min_score_bps", p.min_score_bps.map(|v| v.to_string()));
    add(
        "sort",
        p.sort.map(|s| {
            serde_json::to_value(s)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        }),
    );
    add("page", p.page.map(|v| v.to_string()));
    pairs.join("&")
}

async fn count(pool: &PgPool, table: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await?)
}

/// The seeded market, written with set-based SQL (the indexer's writer
/// would take minutes for a million rows and is benchmarked on its own):
/// eight GPU models over five regions, prices from $0.20 to $4.20 per
/// GPU-hour, one node in fifty paused, nine in ten with an agent connected;
/// leases over the last 60 days, nine in ten ended (one in twenty failed,
/// one in twenty cancelled, one in twenty expired); 30 heartbeat minutes a
/// node.
async fn seed(pool: &PgPool, nodes: i64, leases: i64) -> anyhow::Result<()> {
    let now = scores::now();
    let statements = [
        "INSERT INTO nodes (pubkey, version, owner, operator, status, gpu_model, region, gpu_count, \
            gpus_in_use, vram_mib, price_usd_micros_per_gpu_hour, min_lease_secs, max_lease_secs, \
            open_leases, leases_served, failures, gpu_seconds_delivered, registered_at, data, lamports, \
            slot, write_version, staked, unstaking, unstake_ready_at, slashes_pending, slash_count) \
         SELECT decode(lpad(to_hex(i), 64, '0'), 'hex'), 1, '\\x00'::BYTEA, \
            decode(lpad(to_hex(i), 64, '0'), 'hex'), \
            CASE WHEN i % 50 = 0 THEN 'paused' ELSE 'available' END, \
            (ARRAY['RTX 4090','RTX 3090','A100','H100','L40S','RTX 4080','A6000','T4'])[1 + i % 8], \
            (ARRAY['eu-west','us-east','us-west','ap-south','eu-central'])[1 + (i / 8) % 5], \
            (ARRAY[1, 2, 4, 8])[1 + (i / 40) % 4], 0, \
            (ARRAY[24576, 24576, 81920, 81920, 49152, 16384, 49152, 16384])[1 + i % 8], \
            200000 + (i * 7919) % 4000000, 60 * (1 + i % 3), 30 * 86400, 0, 0, 0, 0, \
            $2 - (i % 200) * 86400 - 3600, '\\x'::BYTEA, 1, 1, 1, 0, 0, 0, 0, (i % 97 = 0)::INT \
         FROM generate_series(1, $1) AS i",
        "UPDATE nodes SET gpus_in_use = LEAST(gpu_count, (get_byte(pubkey, 31) % 3))",
        "INSERT INTO leases (pubkey, version, status, renter, payer, node, mint, nonce, fee_bps, gpus, \
            rate_per_gpu_hour, deposited, paid_out, created_at, activated_at, settled_until, \
            duration_secs, job_spec_hash, data, lamports, slot, write_version, closed_slot, in_cluster, \
            cluster_nonce, cluster_funding_deadline) \
         SELECT decode(lpad(to_hex(i), 48, '0') || lpad(to_hex(i % $3 + 1), 16, '0'), 'hex'), 1, \
            CASE WHEN i % 20 = 3 THEN 'pending' ELSE 'active' END, '\\x01'::BYTEA, '\\x01'::BYTEA, \
            decode(lpad(to_hex(i % $3 + 1), 64, '0'), 'hex'), '\\x02'::BYTEA, i, 25, 1 + i % 4, \
            2000000, 2000000, 0, $2 - (i % 60) * 86400 - 7200, \
            CASE WHEN i % 20 = 3 THEN 0 ELSE $2 - (i % 60) * 86400 - 7200 + 10 + i % 300 END, \
            0, 3600, '\\x00'::BYTEA, '\\x'::BYTEA, 1, 1, 1, \
            CASE WHEN i % 10 = 0 THEN NULL ELSE 2 END, false, 0, 0 \
         FROM generate_series(1, $1) AS i",
        "INSERT INTO lease_endings (lease, slot, signature, node, reason, paid_out, refunded, billed_until) \
         SELECT pubkey, 2, 's', node, \
            CASE WHEN activated_at = 0 THEN 'expired' \
                 WHEN nonce % 20 = 1 THEN 'failed' WHEN nonce % 20 = 2 THEN 'cancelled' \
                 ELSE 'completed' END, 0, 0, \
            CASE WHEN activated_at = 0 THEN 0 \
                 WHEN nonce % 20 IN (1, 2) THEN activated_at + 1200 ELSE activated_at + 3600 END \
         FROM leases WHERE closed_slot IS NOT NULL",
        "INSERT INTO node_uptime_minutes (node, minute) \
         SELECT n.pubkey, ($1 / 60 - 1 - m * 37 - (get_byte(n.pubkey, 31) % 30)) * 60 \
         FROM nodes n, generate_series(0, 29) AS m",
        "INSERT INTO scheduler_replicas (id) VALUES ('bench')",
        "INSERT INTO agent_sessions (node, operator, replica, session_id) \
         SELECT pubkey, operator, 'bench', encode(pubkey, 'hex') FROM nodes \
         WHERE get_byte(pubkey, 31) % 10 <> 0",
        "ANALYZE",
    ];
    for (i, statement) in statements.iter().enumerate() {
        let query = sqlx::query(statement);
        let query = match i {
            0 => query.bind(nodes).bind(now),
            2 => query.bind(leases).bind(now).bind(nodes),
            4 => query.bind(now),
            _ => query,
        };
        query.execute(pool).await?;
    }
    Ok(())
}
