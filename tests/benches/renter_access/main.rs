//! The renter access benchmark: how much a renter loses by reaching its job
//! through iomesh (scheduler → the agent's outbound gRPC connection → the
//! job's loopback) instead of dialing it directly, on one machine with the
//! real stack: localnet, indexer, Postgres, a scheduler replica and the agent
//! running the job in its bubblewrap sandbox.
//!
//! - TCP throughput: a 128 MiB echo directly to the job's port (the baseline)
//!   and through `iomesh lease forward` (the release-built CLI); then one
//!   way, a 128 MiB HTTP download from the job. Each also through three
//!   plain TCP relays over the same four connections the tunnel crosses:
//!   what that topology costs on one machine, whatever the relay does.
//! - Latency of a small HTTP request: directly, through `lease forward`, and
//!   through the scheduler's `/v1/leases/{lease}/ports/{port}/…` path with a
//!   browser session cookie; added latency is the difference to direct.
//! - Log streaming: lines per second from a job to a client following
//!   `GET …/logs?follow=true`, every line checked present and in order; the
//!   ceiling is the same job writing into a pipe this process reads.
//!
//! Run with `scripts/bench-access` (an optimised build). `cargo test
//! --all-targets` builds it and runs nothing.

use iomesh_tests::{
    chain::create_lease,
    stack::{
        connected, free_port, job_binary, lease_forward, listening, peak_kib, replica, run_lease,
        spec, stack, start_agent, token,
    },
};
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    process::{Command, Stdio},
    time::Instant,
};

/// Bytes echoed per throughput run, and runs per path (the median is shown).
const ECHO_BYTES: usize = 128 << 20;
const ECHO_RUNS: usize = 3;
/// Sequential requests per latency series (after a warm-up of 50).
const HTTP_REQUESTS: usize = 1_000;
/// Lines the log job prints.
const LOG_LINES: u64 = 200_000;

fn main() -> anyhow::Result<()> {
    // `cargo test --all-targets` runs bench targets without `--bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("renter_access: a benchmark; run it with scripts/bench-access");
        return Ok(());
    }
    let database_url = std::env::var("DATABASE_URL")
        .map_err(|_| anyhow::anyhow!("DATABASE_URL is not set (scripts/bench-access sets it)"))?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(&database_url))
}

async fn run(database_url: &str) -> anyhow::Result<()> {
    let name = format!("iomesh_bench_access_{}", std::process::id());
    let pool = iomesh_db::create_database(database_url, &name, 32).await?;
    let result = measure(&pool).await;
    pool.close().await;
    iomesh_db::drop_database(database_url, &name).await?;
    result
}

async fn measure(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    eprintln!("starting localnet, indexer, scheduler and a sandboxing agent…");
    let s = stack(pool).await;
    let replica = replica(pool, &s, "bench", None).await;
    let agent = start_agent(&s.chain, &s.node, &replica.grpc_url(), &s.state).await;
    connected(pool, &s.node.address, "bench").await;
    let http = replica.http_url();

    let (http_port, tcp_port) = (free_port(), free_port());
    let testjob = job_binary("iomesh-testjob");
    let testjob = testjob.to_str().unwrap();
    let server = spec(
        &[
            testjob,
            "serve",
            &http_port.to_string(),
            &tcp_port.to_string(),
        ],
        &[http_port, tcp_port],
    );
    let lease = create_lease(&s.chain, &s.node, &s.renter, 1, 1, &server).await;
    run_lease(pool, &http, &s.client, &agent, &lease, &server, &s.renter).await;
    listening(http_port).await;
    listening(tcp_port).await;

    let keypair_file = s.state.path().join("renter.json");
    solana_keypair::write_keypair_file(&s.renter, &keypair_file)
        .map_err(|e| anyhow::anyhow!("writing the renter keypair: {e}"))?;
    let (mut tcp_forward, tcp_local) = lease_forward(&http, &keypair_file, &lease, tcp_port);
    let (mut http_forward, http_local) = lease_forward(&http, &keypair_file, &lease, http_port);

    println!(
        "iomesh renter access benchmark ({} cores; debug assertions {})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) {
            "ON: figures are not representative"
        } else {
            "off"
        }
    );

    // 1. Throughput.
    let direct_addr = SocketAddr::from(([127, 0, 0, 1], tcp_port));
    let direct = median_rate(direct_addr).await?;
    let forwarded = median_rate(tcp_local).await?;
    let forward_peak_mib = peak_kib(tcp_forward.id()) as f64 / 1024.0;
    // The tunnel crosses four TCP connections (renter -> CLI -> scheduler
    // -> agent -> job) where the baseline crosses one; on one machine every
    // byte is copied into and out of the kernel at each. Three plain relays
    // (read, write, nothing else) over the same four connections show what
    // that topology alone costs here: the ceiling of any relay.
    let relayed = median_rate(relay_chain(direct_addr, 3)?).await?;
    println!();
    println!(
        "TCP echo, {} MiB each way, median of {ECHO_RUNS} runs",
        ECHO_BYTES >> 20
    );
    println!("{:<44} {:>12}", "path", "MiB/s");
    println!("{:<44} {:>12.1}", "direct loopback (baseline)", direct);
    println!(
        "{:<44} {:>12.1}   {:.0} % of direct (target >= 50 %), lease forward peak RSS {:.1} MiB",
        "iomesh lease forward",
        forwarded,
        forwarded / direct * 100.0,
        forward_peak_mib
    );
    print_relays(relayed, direct, forwarded);

    // One way: the job's HTTP server sends a large body (a download).
    let http_addr = SocketAddr::from(([127, 0, 0, 1], http_port));
    let direct_down = median_download(http_addr).await?;
    let forwarded_down = median_download(http_local).await?;
    let relayed_down = median_download(relay_chain(http_addr, 3)?).await?;
    println!();
    println!(
        "download (HTTP GET of {} MiB from the job), median of {ECHO_RUNS} runs",
        ECHO_BYTES >> 20
    );
    println!("{:<44} {:>12}", "path", "MiB/s");
    println!("{:<44} {:>12.1}", "direct loopback (baseline)", direct_down);
    println!(
        "{:<44} {:>12.1}   {:.0} % of direct",
        "iomesh lease forward",
        forwarded_down,
        forwarded_down / direct_down * 100.0
    );
    print_relays(relayed_down, direct_down, forwarded_down);

    // 2. Latency of a small HTTP request.
    let direct_url = format!("http://127.0.0.1:{http_port}/echo");
    let forward_url = format!("http://{http_local}/echo");
    let path_url = format!("{http}/v1/leases/{lease}/ports/{http_port}/echo");
    let plain = reqwest::Client::new();
    let browser = reqwest::Client::builder().cookie_store(true).build()?;
    // The session cookie, as a browser gets it: one token in the query.
    let first = browser
        .get(format!(
            "{path_url}?iomesh_token={}",
            token(&s.renter, &lease, 60)
        ))
        .send()
        .await?;
    anyhow::ensure!(
        first.status().is_success(),
        "opening a port session: {}",
        first.status()
    );
    let direct_ms = latencies(&plain, &direct_url).await?;
    let forward_ms = latencies(&plain, &forward_url).await?;
    let path_ms = latencies(&browser, &path_url).await?;
    let (d50, d99) = (percentile(&direct_ms, 50.0), percentile(&direct_ms, 99.0));
    println!();
    println!("HTTP GET /echo, {HTTP_REQUESTS} sequential requests on a kept-alive connection");
    println!(
        "{:<44} {:>8} {:>8} {:>10} {:>10}",
        "path", "p50 ms", "p99 ms", "+p50 ms", "+p99 ms"
    );
    println!(
        "{:<44} {:>8.3} {:>8.3} {:>10} {:>10}",
        "direct loopback (baseline)", d50, d99, "-", "-"
    );
    for (label, series) in [
        ("iomesh lease forward", &forward_ms),
        ("scheduler /v1/leases/…/ports/… (cookie)", &path_ms),
    ] {
        let (p50, p99) = (percentile(series, 50.0), percentile(series, 99.0));
        println!(
            "{:<44} {:>8.3} {:>8.3} {:>10.3} {:>10.3}   (target +p99 < 5 ms)",
            label,
            p50,
            p99,
            p50 - d50,
            p99 - d99
        );
    }
    let _ = tcp_forward.kill();
    let _ = http_forward.kill();
    let _ = tcp_forward.wait();
    let _ = http_forward.wait();

    // 3. Log streaming. The job waits before printing so that the client
    // follows it live, not from a backlog on disk.
    let script = format!("sleep 3; exec {testjob} lines {LOG_LINES}");
    let printer = spec(&["sh", "-c", &script], &[]);
    let log_lease = create_lease(&s.chain, &s.node, &s.renter, 2, 1, &printer).await;
    run_lease(
        pool, &http, &s.client, &agent, &log_lease, &printer, &s.renter,
    )
    .await;
    let followed = follow_logs(&http, &s.renter, &log_lease).await?;
    let ceiling = pipe_rate(testjob)?;
    println!();
    println!("log streaming, {LOG_LINES} lines");
    println!("{:<44} {:>12} {:>8}", "path", "lines/s", "lost");
    println!(
        "{:<44} {:>12.0} {:>8}",
        "job -> pipe read here (ceiling)", ceiling, 0
    );
    println!(
        "{:<44} {:>12.0} {:>8}   (target >= 20000 lines/s without loss)",
        "job -> agent -> scheduler -> follow client", followed.rate, followed.lost
    );

    agent.shutdown.cancel();
    replica.stop().await?;
    s.indexer.stop().await;
    Ok(())
}

/// MiB/s of the median of `ECHO_RUNS` echo runs against `addr`.
async fn median_rate(addr: SocketAddr) -> anyhow::Result<f64> {
    let mut rates = Vec::new();
    for _ in 0..ECHO_RUNS {
        rates.push(tokio::task::spawn_blocking(move || echo_rate(addr)).await??);
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[rates.len() / 2])
}

/// Sends `ECHO_BYTES` while reading them back; MiB/s of the whole exchange.
fn echo_rate(addr: SocketAddr) -> anyhow::Result<f64> {
    let stream = TcpStream::connect(addr)?;
    let mut writer = stream.try_clone()?;
    let started = Instant::now();
    let send = std::thread::spawn(move || -> std::io::Result<()> {
        let chunk = vec![0x5au8; 256 << 10];
        let mut left = ECHO_BYTES;
        while left > 0 {
            let n = left.min(chunk.len());
            writer.write_all(&chunk[..n])?;
            left -= n;
        }
        writer.shutdown(std::net::Shutdown::Write)
    });
    let mut received = 0usize;
    let mut buffer = vec![0u8; 256 << 10];
    loop {
        let n = (&stream).read(&mut buffer)?;
        if n == 0 {
            break;
        }
        received += n;
    }
    send.join().expect("sender thread")?;
    anyhow::ensure!(
        received == ECHO_BYTES,
        "echoed {received} of {ECHO_BYTES} bytes"
    );
    Ok((ECHO_BYTES >> 20) as f64 / started.elapsed().as_secs_f64())
}

/// The row of the plain relays: their rate against direct, and the
/// tunnel's against theirs.
fn print_relays(relayed: f64, direct: f64, forwarded: f64) {
    println!(
        "{:<44} {:>12.1}   {:.0} % of direct; lease forward is {:.0} % of it",
        "3 plain TCP relays, same 4 connections",
        relayed,
        relayed / direct * 100.0,
        forwarded / relayed * 100.0
    );
}

/// `hops` relays in a row in front of `target`, each a listener that
/// carries every connection to the next with two threads copying through a
/// 128 KiB buffer (what a relay cannot do with less). Returns the first
/// relay's address. The threads end with the process.
fn relay_chain(target: SocketAddr, hops: usize) -> anyhow::Result<SocketAddr> {
    let mut next = target;
    for _ in 0..hops {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        let entry = listener.local_addr()?;
        let to = next;
        std::thread::spawn(move || {
            for accepted in listener.incoming() {
                let Ok(inbound) = accepted else { return };
                let Ok(outbound) = TcpStream::connect(to) else {
                    return;
                };
                for (from, into) in [
                    (inbound.try_clone(), outbound.try_clone()),
                    (outbound.try_clone(), inbound.try_clone()),
                ] {
                    let (Ok(mut from), Ok(mut into)) = (from, into) else {
                        return;
                    };
                    std::thread::spawn(move || {
                        let mut buffer = vec![0u8; 128 << 10];
                        while let Ok(n) = from.read(&mut buffer) {
                            if n == 0 || into.write_all(&buffer[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = into.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        });
        next = entry;
    }
    Ok(next)
}

/// MiB/s of the median of `ECHO_RUNS` downloads of `ECHO_BYTES` from `addr`.
async fn median_download(addr: SocketAddr) -> anyhow::Result<f64> {
    let mut rates = Vec::new();
    for _ in 0..ECHO_RUNS {
        rates.push(tokio::task::spawn_blocking(move || download_rate(addr)).await??);
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[rates.len() / 2])
}

/// One HTTP/1.1 GET of `ECHO_BYTES` from the test job's `/bytes`, read to
/// the end; MiB/s of the body from the request to its last byte.
fn download_rate(addr: SocketAddr) -> anyhow::Result<f64> {
    let mut stream = TcpStream::connect(addr)?;
    let started = Instant::now();
    write!(
        stream,
        "GET /bytes?n={ECHO_BYTES} HTTP/1.1\r\nHost: job\r\nConnection: close\r\n\r\n"
    )?;
    let mut buffer = vec![0u8; 256 << 10];
    let mut received = 0usize;
    loop {
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        received += n;
    }
    anyhow::ensure!(
        received > ECHO_BYTES,
        "received {received} bytes for a body of {ECHO_BYTES}"
    );
    Ok((ECHO_BYTES >> 20) as f64 / started.elapsed().as_secs_f64())
}

/// Milliseconds of each of `HTTP_REQUESTS` sequential GETs (after a warm-up).
async fn latencies(client: &reqwest::Client, url: &str) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::with_capacity(HTTP_REQUESTS);
    for i in 0..HTTP_REQUESTS + 50 {
        let started = Instant::now();
        let response = client.get(url).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        response.bytes().await?;
        if i >= 50 {
            samples.push(started.elapsed().as_secs_f64() * 1_000.0);
        }
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples)
}

/// The `p`th percentile of sorted samples (nearest rank).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Followed {
    rate: f64,
    lost: u64,
}

/// Follows the lease's log until the job ends; lines/s from the job's first
/// line (its log record's time) to the last one received here.
async fn follow_logs(
    http: &str,
    renter: &solana_keypair::Keypair,
    lease: &solana_pubkey::Pubkey,
) -> anyhow::Result<Followed> {
    use futures::StreamExt;
    let response = reqwest::Client::new()
        .get(format!("{http}/v1/leases/{lease}/logs?follow=true"))
        .bearer_auth(token(renter, lease, 60))
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "follow: {}",
        response.status()
    );
    let mut body = response.bytes_stream();
    let mut pending = Vec::new();
    let (mut next, mut lost, mut first_ms, mut last) = (0u64, 0u64, None, Instant::now());
    let received_epoch = std::time::SystemTime::now();
    let received_clock = Instant::now();
    while let Some(chunk) = body.next().await {
        pending.extend_from_slice(&chunk?);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let record: serde_json::Value = serde_json::from_slice(&line)?;
            if record["stream"] != "stdout" {
                continue;
            }
            let text = record["line"].as_str().unwrap_or_default();
            let Some(number) = text
                .strip_prefix("line ")
                .and_then(|t| t.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            first_ms.get_or_insert(record["t"].as_i64().unwrap_or_default());
            if number != next {
                lost += number.saturating_sub(next);
            }
            next = number + 1;
            last = Instant::now();
        }
    }
    lost += LOG_LINES.saturating_sub(next);
    let first_ms = first_ms.ok_or_else(|| anyhow::anyhow!("no line arrived"))?;
    // The last receipt, on the wall clock the agent stamps records with.
    let last_ms = received_epoch
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64
        + last.duration_since(received_clock).as_millis() as i64;
    let secs = ((last_ms - first_ms).max(1)) as f64 / 1_000.0;
    Ok(Followed {
        rate: LOG_LINES as f64 / secs,
        lost,
    })
}

/// Lines/s of the same job writing into a pipe this process reads.
fn pipe_rate(testjob: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut child = Command::new(testjob)
        .args(["lines", &LOG_LINES.to_string()])
        .stdout(Stdio::piped())
        .spawn()?;
    let lines = BufReader::new(child.stdout.take().expect("piped"))
        .lines()
        .count() as u64;
    child.wait()?;
    anyhow::ensure!(lines == LOG_LINES, "read {lines} of {LOG_LINES} lines");
    Ok(LOG_LINES as f64 / started.elapsed().as_secs_f64())
}
