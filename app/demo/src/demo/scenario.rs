//! What happens in the demo: renters search the market, pay for leases and a
//! two-node cluster, submit their jobs; one renter cancels, one machine loses
//! power; ended leases are closed by their suppliers. Then the books.

use super::{
    books::{self, LeaseRecord, MintInfo, Outcome, Parties, Snapshot},
    progress::{self, Log, Stage, Watched},
    renters::{job_spec, ray_job_spec, Renter, Web},
    stack::Stack,
    suppliers::Supplier,
};
use anchor_lang::prelude::Pubkey;
use anyhow::{anyhow, bail, Context as _, Result};
use iomesh_agent::{agent::Agent, logs::LogStream, ray::RayInstall, runner::proc};
use iomesh_client::{
    iomesh::state::{Lease, LeaseStatus},
    query::NodeQuery,
    units::format_usd,
};
use solana_signer::Signer;
use sqlx::Row;
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio_util::sync::CancellationToken;

/// What a renter asking for "80 GB" GPUs accepts: nvidia-smi reports an
/// H100 80GB as 81,559 MiB and an A100 80GB as 81,920 MiB.
const VRAM_80GB: u32 = 76_000;

/// How a lease of the demo is meant to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    RunsToEnd,
    /// The renter cancels this long after the lease is active.
    RenterCancels(Duration),
    /// The node's machine loses power this long after the lease is active.
    NodeLosesPower(Duration),
}

/// A lease the demo created.
struct Placed {
    label: String,
    address: Pubkey,
    renter: usize,
    supplier: usize,
    lease: Lease,
    ending: Ending,
    spec: Vec<u8>,
    /// The port of the web server its job starts, if it starts one.
    web_port: Option<u16>,
    /// A member of a cluster running one Ray program (its steps are the
    /// tasks that program ran on this lease's node).
    in_ray_cluster: bool,
}

/// What the demo measured, for the summary.
pub struct Report {
    pub leases: Vec<LeaseRecord>,
    pub totals: BTreeMap<&'static str, books::MintTotals>,
    pub checks: Vec<books::Check>,
    pub mints: BTreeMap<&'static str, (u8, u64)>,
    pub dispatch_ms: Vec<i64>,
    /// Job steps each lease's job printed, by label.
    pub job_steps: BTreeMap<String, usize>,
    /// What a renter reached of its running job through the scheduler.
    pub access: Access,
    /// What carol's Ray program did, unless the demo ran without Ray.
    pub ray: Option<RayWork>,
    pub elapsed: Duration,
}

/// A renter's view of its running job, through the scheduler's API only.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Access {
    pub lease: String,
    /// The last lines of the job's log, read through `GET …/logs`.
    pub log_lines: Vec<String>,
    /// The job's web page, reached through the tunnel (`…/ports/{port}/…`).
    pub port: u16,
    pub page: String,
    /// The page's round trip through the scheduler and the agent.
    pub page_ms: u64,
}

/// carol's Ray program on her two-node cluster, as her leases' logs show it.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RayWork {
    /// Ray's own count of the cluster's alive nodes, as the program printed it.
    pub alive_nodes: u32,
    /// The nodes whose leases ran the program's tasks.
    pub nodes_with_tasks: Vec<String>,
}

pub async fn run(
    stack: &Stack,
    suppliers: &[Supplier],
    lease_secs: u32,
    ray: Option<&RayInstall>,
    log: &Log,
) -> Result<Report> {
    let client = &stack.client;
    let bootstrap = &stack.bootstrap;
    let mut renters = vec![
        Renter::funded(client, bootstrap, &stack.faucet, "alice", "USDC", 1_000).await?,
        Renter::funded(client, bootstrap, &stack.faucet, "bob", "IO", 20_000).await?,
        Renter::funded(client, bootstrap, &stack.faucet, "carol", "USDC", 1_000).await?,
    ];
    log.say("renters funded from the faucet: alice 1,000 USDC, bob 20,000 IO, carol 1,000 USDC");

    let parties = parties(stack, suppliers, &renters)?;
    let before = Snapshot::take(client, &parties.accounts()).await?;

    let watched = Arc::new(Mutex::new(Vec::<Watched>::new()));
    let stop_watch = CancellationToken::new();
    // An interrupted demo drops this future: the watcher stops with it.
    let _stop_watch_on_drop = stop_watch.clone().drop_guard();
    let watcher = tokio::spawn(progress::watch(
        stack.pool.clone(),
        log.clone(),
        watched.clone(),
        stop_watch.clone(),
    ));
    let staged = StagedProgram::stage()?;
    let web = Web {
        program: staged.path.display().to_string(),
        port: free_port()?,
    };
    let result = async {
        let placed = place_leases(
            stack,
            suppliers,
            &mut renters,
            lease_secs,
            ray,
            log,
            &watched,
            &web,
        )
        .await?;
        let (ended, cancelled, failed, access, ray_work) = tokio::try_join!(
            close_ended_leases(stack, suppliers, &placed, log),
            renter_cancels(stack, &renters, &placed, log),
            machine_loses_power(stack, suppliers, &placed, log),
            reach_a_job(stack, &renters, &placed, log),
            ray_program_runs(stack, suppliers, &renters, &placed, lease_secs, log),
        )?;
        let outcomes: BTreeMap<Pubkey, Outcome> =
            ended.into_iter().chain(cancelled).chain(failed).collect();
        wait_all_closed(stack, &placed).await?;
        Ok::<_, anyhow::Error>((placed, outcomes, access, ray_work))
    }
    .await;
    stop_watch.cancel();
    let _ = watcher.await;
    let (placed, outcomes, access, ray_work) = result?;

    let after = Snapshot::take(client, &parties.accounts()).await?;
    let mut checks = Vec::new();
    checks.push(jobs_stopped(suppliers));
    checks.push(assigned_once(stack, &placed).await?);
    let leases = records(stack, suppliers, &renters, &placed, &outcomes).await?;
    let (totals, books_checks) = books::reconcile(&leases, &parties, &before, &after)?;
    checks.extend(books_checks);
    let job_steps = placed
        .iter()
        .map(|p| (p.label.clone(), job_steps(suppliers, &placed, p)))
        .collect();
    Ok(Report {
        dispatch_ms: leases.iter().filter_map(|l| l.dispatch_ms).collect(),
        leases,
        totals,
        checks,
        mints: parties
            .mints
            .iter()
            .map(|(symbol, info)| (*symbol, (info.decimals, info.usd_price_micros)))
            .collect(),
        job_steps,
        access,
        ray: ray_work,
        elapsed: log.elapsed(),
    })
}

/// A copy of this program where a sandboxed job (another user, its own
/// /tmp) may run it, removed when dropped.
struct StagedProgram {
    dir: std::path::PathBuf,
    path: std::path::PathBuf,
}

impl StagedProgram {
    fn stage() -> Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::path::PathBuf::from(format!("/var/tmp/iomesh-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        let path = dir.join("iomesh-demo");
        std::fs::copy(std::env::current_exe()?, &path)
            .with_context(|| format!("copying this program to {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        Ok(Self { dir, path })
    }
}

impl Drop for StagedProgram {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port nothing listens on now.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// alice reaches her running job the way any renter would, through the
/// scheduler only: its last log lines (`GET …/logs`) and its web page
/// through the tunnel (`…/ports/{port}/`), both authorised by tokens her
/// wallet key signs.
async fn reach_a_job(
    stack: &Stack,
    renters: &[Renter],
    placed: &[Placed],
    log: &Log,
) -> Result<Access> {
    let p = placed
        .iter()
        .find(|p| p.web_port.is_some())
        .ok_or_else(|| anyhow!("no lease of the demo serves a web page"))?;
    let port = p.web_port.unwrap_or_default();
    let renter = &renters[p.renter];
    let api = iomesh_cli::renter_api::RenterApi::new(&stack.scheduler.http_url());
    let lease = p.address.to_string();
    let http = reqwest::Client::new();
    let url = format!(
        "{}/v1/leases/{lease}/ports/{port}/from-the-demo",
        stack.scheduler.http_url()
    );
    // Once the job runs and its server listens, the page answers.
    let (page, page_ms) = poll(
        "alice's job's web page through the tunnel",
        Duration::from_secs(90),
        || async {
            let started = Instant::now();
            let response = http
                .get(&url)
                .bearer_auth(iomesh_cli::renter_api::lease_token(&renter.keypair, &lease))
                .send()
                .await?;
            if !response.status().is_success() {
                return Ok(None);
            }
            let page = response.text().await?;
            Ok(Some((
                page.trim().to_string(),
                started.elapsed().as_millis() as u64,
            )))
        },
    )
    .await?;
    let response = api
        .logs(&renter.keypair, &lease, &[("tail", "3".to_string())])
        .await?;
    let log_lines: Vec<String> = response
        .text()
        .await?
        .lines()
        .filter_map(|l| serde_json::from_str::<iomesh_cli::renter_api::LogLine>(l).ok())
        .filter_map(|l| l.line)
        .collect();
    log.say(format!(
        "{}  reads her job's log through the scheduler's API: {:?}",
        p.label,
        log_lines.last().map(String::as_str).unwrap_or("")
    ));
    log.say(format!(
        "{}  reaches her job's web server on port {port} through the tunnel ({page_ms} ms): {page:?}",
        p.label
    ));
    Ok(Access {
        lease,
        log_lines,
        port,
        page,
        page_ms,
    })
}

/// carol watches her Ray program through the scheduler's logs API, as any
/// renter would, until its tasks have run on both nodes of her cluster.
async fn ray_program_runs(
    stack: &Stack,
    suppliers: &[Supplier],
    renters: &[Renter],
    placed: &[Placed],
    lease_secs: u32,
    log: &Log,
) -> Result<Option<RayWork>> {
    let members: Vec<&Placed> = placed.iter().filter(|p| p.in_ray_cluster).collect();
    let Some(first) = members.first() else {
        return Ok(None);
    };
    let renter = &renters[first.renter];
    let api = iomesh_cli::renter_api::RenterApi::new(&stack.scheduler.http_url());
    let node_of = |lease: &str| {
        members
            .iter()
            .find(|m| m.address.to_string() == lease)
            .map(|m| suppliers[m.supplier].name.to_string())
    };
    let work = poll(
        "carol's Ray program to run tasks on both nodes of her cluster",
        Duration::from_secs(u64::from(lease_secs)),
        || async {
            let mut work = RayWork::default();
            for member in &members {
                let lease = member.address.to_string();
                // Refused until the member's job is dispatched: not yet.
                let query = [("tail", "400".to_string())];
                let Ok(response) = api.logs(&renter.keypair, &lease, &query).await else {
                    continue;
                };
                for line in response
                    .text()
                    .await?
                    .lines()
                    .filter_map(|l| serde_json::from_str::<iomesh_cli::renter_api::LogLine>(l).ok())
                    .filter_map(|l| l.line)
                {
                    if let Some(alive) = line
                        .strip_prefix("Ray cluster: ")
                        .and_then(|rest| rest.split_whitespace().next())
                        .and_then(|n| n.parse().ok())
                    {
                        work.alive_nodes = alive;
                    }
                    let ran_on = line
                        .split_once("task ran on lease ")
                        .and_then(|(_, rest)| rest.split(',').next())
                        .and_then(node_of);
                    if let Some(node) = ran_on {
                        if !work.nodes_with_tasks.contains(&node) {
                            work.nodes_with_tasks.push(node);
                        }
                    }
                }
            }
            work.nodes_with_tasks.sort();
            Ok((work.nodes_with_tasks.len() == members.len()).then_some(work))
        },
    )
    .await?;
    log.say(format!(
        "{}  carol's Ray program sees {} alive nodes; its tasks ran on both: {}",
        first.label,
        work.alive_nodes,
        work.nodes_with_tasks.join(" and ")
    ));
    Ok(Some(work))
}

fn parties(stack: &Stack, suppliers: &[Supplier], renters: &[Renter]) -> Result<Parties> {
    let mut mints = BTreeMap::new();
    for symbol in ["IO", "USDC"] {
        let m = stack
            .bootstrap
            .mint(symbol)
            .with_context(|| format!("the bootstrap has no {symbol} mint"))?;
        mints.insert(
            symbol,
            MintInfo {
                mint: m.token_mint(),
                decimals: m.decimals,
                usd_price_micros: m.usd_price_micros,
                vault: m.vault,
            },
        );
    }
    Ok(Parties {
        mints,
        suppliers: suppliers.iter().map(|s| s.owner.pubkey()).collect(),
        renters: renters
            .iter()
            .map(|r| (r.keypair.pubkey(), r.symbol))
            .collect(),
        treasury: stack.bootstrap.treasury,
    })
}

/// The cheapest available node matching `query` that the demo runs.
async fn pick(
    stack: &Stack,
    suppliers: &[Supplier],
    query: NodeQuery,
    wanted: &str,
    log: &Log,
    who: &str,
) -> Result<usize> {
    let found = Renter::search(&stack.client, &query).await?;
    let offers: Vec<String> = found
        .iter()
        .filter_map(|(address, node)| {
            let supplier = suppliers.iter().find(|s| s.node == *address)?;
            Some(format!(
                "{} {}/GPU-h",
                supplier.name,
                format_usd(node.price_usd_micros_per_gpu_hour)
            ))
        })
        .collect();
    log.say(format!(
        "{who} searches {wanted}: {} offer(s), cheapest first: {}",
        offers.len(),
        offers.join(", ")
    ));
    found
        .iter()
        .find_map(|(address, _)| suppliers.iter().position(|s| s.node == *address))
        .ok_or_else(|| anyhow!("no node offers {wanted}"))
}

/// Creates the demo's leases and submits their job specs.
#[allow(clippy::too_many_arguments)]
async fn place_leases(
    stack: &Stack,
    suppliers: &[Supplier],
    renters: &mut [Renter],
    secs: u32,
    ray: Option<&RayInstall>,
    log: &Log,
    watched: &Mutex<Vec<Watched>>,
    web: &Web,
) -> Result<Vec<Placed>> {
    let (alice, bob, carol) = (0, 1, 2);
    let http = stack.scheduler.http_url();
    let mut placed: Vec<Placed> = Vec::new();
    let follow = |p: &Placed, in_cluster: bool, suppliers: &[Supplier]| {
        let supplier = &suppliers[p.supplier];
        watched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Watched {
                address: p.address,
                label: p.label.clone(),
                node_name: supplier.name,
                in_cluster,
                agent: supplier.agent.clone(),
            });
    };

    // carol: distributed training on two nodes of 4 GPUs with 80 GiB each,
    // started together or not at all: one Ray program across both (or, with
    // --no-ray, a process per node that knows its rank).
    let found = Renter::search(&stack.client, &with_vram(VRAM_80GB, 4)).await?;
    let members: Vec<usize> = found
        .iter()
        .filter_map(|(address, _)| suppliers.iter().position(|s| s.node == *address))
        .take(2)
        .collect();
    if members.len() < 2 {
        bail!("carol's cluster needs two nodes with 4 free GPUs of 80 GB");
    }
    log.say(format!(
        "carol searches 2 nodes x 4 GPUs with >= 80 GB: picks {} and {}",
        suppliers[members[0]].name, suppliers[members[1]].name
    ));
    let cluster = renters[carol].cluster(&stack.client, 2).await?;
    log.say(format!(
        "carol creates cluster {cluster} (2 leases) for {}",
        match ray {
            Some(ray) => format!("a Ray {} program", ray.version),
            None => "a process on each node".into(),
        }
    ));
    for (rank, &supplier) in members.iter().enumerate() {
        let label = format!("#{} carol", placed.len() + 1);
        let spec = match ray {
            Some(ray) => ray_job_spec(&ray.version),
            None => job_spec(&label, Some((rank as u16, 2)), None),
        };
        let (address, lease) = renters[carol]
            .lease(
                &stack.client,
                &stack.bootstrap,
                &suppliers[supplier].node,
                4,
                secs,
                &spec,
                Some(cluster),
            )
            .await?;
        log.say(lease_line(
            &label,
            &lease,
            suppliers[supplier].name,
            "USDC",
            secs,
            "in the cluster",
        ));
        let p = Placed {
            label,
            address,
            renter: carol,
            supplier,
            lease,
            ending: Ending::RunsToEnd,
            spec,
            web_port: None,
            in_ray_cluster: ray.is_some(),
        };
        follow(&p, true, suppliers);
        placed.push(p);
    }
    wait_cluster_complete(stack, &cluster).await?;
    for p in &placed {
        renters[carol]
            .submit_spec(&http, &p.address, &p.spec)
            .await?;
    }

    // alice: 2 GPUs with 80 GB for the lease's length; then 2 RTX 3090 for
    // twice as long, which she cancels. bob pays in IO: the cheapest pair of
    // RTX 4090 (a machine that will lose power), then a single RTX 4090.
    let orders = [
        (alice, with_vram(VRAM_80GB, 2), secs, Ending::RunsToEnd),
        (
            alice,
            of_model("RTX 3090", 2),
            secs * 2,
            Ending::RenterCancels(Duration::from_secs(u64::from(secs / 3))),
        ),
        (
            bob,
            of_model("RTX 4090", 2),
            secs * 2,
            Ending::NodeLosesPower(Duration::from_secs(u64::from(secs / 4))),
        ),
        (bob, of_model("RTX 4090", 1), secs, Ending::RunsToEnd),
    ];
    for (renter, query, duration, ending) in orders {
        let name = renters[renter].name;
        let gpus = query.min_free_gpus.unwrap_or(1);
        let wanted = match &query.gpu_model {
            Some(model) => format!("{gpus} x {model}"),
            None => format!("{gpus} GPUs with >= 80 GB"),
        };
        let supplier = pick(stack, suppliers, query, &wanted, log, name).await?;
        let label = format!("#{} {name}", placed.len() + 1);
        // alice's first job also serves a page, which she will reach.
        let serves = renter == alice && !placed.iter().any(|p| p.web_port.is_some());
        let spec = job_spec(&label, None, serves.then_some(web));
        let (address, lease) = renters[renter]
            .lease(
                &stack.client,
                &stack.bootstrap,
                &suppliers[supplier].node,
                gpus,
                duration,
                &spec,
                None,
            )
            .await?;
        log.say(lease_line(
            &label,
            &lease,
            suppliers[supplier].name,
            renters[renter].symbol,
            duration,
            "",
        ));
        let p = Placed {
            label,
            address,
            renter,
            supplier,
            lease,
            ending,
            spec,
            web_port: serves.then_some(web.port),
            in_ray_cluster: false,
        };
        follow(&p, false, suppliers);
        renters[renter]
            .submit_spec(&http, &p.address, &p.spec)
            .await?;
        placed.push(p);
    }
    Ok(placed)
}

/// Nodes with `gpus` free GPUs of `model`.
fn of_model(model: &str, gpus: u16) -> NodeQuery {
    NodeQuery {
        gpu_model: Some(model.into()),
        min_free_gpus: Some(gpus),
        ..NodeQuery::default()
    }
}

/// Nodes with `gpus` free GPUs of at least `vram_mib` each.
fn with_vram(vram_mib: u32, gpus: u16) -> NodeQuery {
    NodeQuery {
        min_vram_mib: Some(vram_mib),
        min_free_gpus: Some(gpus),
        ..NodeQuery::default()
    }
}

fn lease_line(
    label: &str,
    lease: &Lease,
    node: &str,
    symbol: &str,
    secs: u32,
    extra: &str,
) -> String {
    format!(
        "{label}  leases {} GPU(s) of {node} for {secs} s, {} {symbol} escrowed{}{extra}",
        lease.gpus,
        iomesh_client::units::format_amount(lease.deposited, iomesh_client::bootstrap::DECIMALS),
        if extra.is_empty() { "" } else { " " },
    )
}

/// Polls every 250 ms until `ready` gives a value, or fails after `limit`.
async fn poll<T, F, Fut>(what: &str, limit: Duration, mut ready: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = ready().await? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("gave up after {} s waiting for {what}", limit.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until the indexed cluster has all its leases funded.
async fn wait_cluster_complete(stack: &Stack, cluster: &Pubkey) -> Result<()> {
    poll(
        "the cluster to be indexed complete",
        Duration::from_secs(60),
        || async {
            let complete: Option<bool> = sqlx::query_scalar(
                "SELECT leases_funded = leases_expected FROM clusters WHERE pubkey = $1",
            )
            .bind(cluster.as_ref())
            .fetch_optional(&stack.pool)
            .await?;
            Ok(complete.filter(|c| *c).map(|_| ()))
        },
    )
    .await
}

/// The lease once it is active on-chain; `None` if it was closed first.
async fn wait_active(stack: &Stack, p: &Placed, limit: Duration) -> Result<Option<Lease>> {
    poll(
        &format!("lease {} to be activated", p.label),
        limit,
        || async {
            Ok(match stack.client.fetch::<Lease>(&p.address).await? {
                None => Some(None),
                Some(lease) if lease.status == LeaseStatus::Active => Some(Some(lease)),
                Some(_) => None,
            })
        },
    )
    .await
}

/// How a lease the demo did not close ended: only the scheduler closes
/// leases behind the demo's back, by reporting a silent node (a machine too
/// busy to heartbeat within the grace looks dead). Said, and put in the books.
async fn closed_by_the_scheduler(stack: &Stack, p: &Placed, log: &Log) -> Result<Outcome> {
    let failed_at = reported_failed_at(stack, p, Duration::from_secs(30))
        .await
        .with_context(|| {
            format!(
                "{} was closed, but not by the demo or a failure report",
                p.label
            )
        })?;
    log.say(format!(
        "{}  was reported failed by the scheduler (its agent silent past the grace): this machine may be too busy",
        p.label
    ));
    Ok(Outcome::Failed { at: failed_at })
}

/// The failure time the scheduler reported on-chain for `p`, once it has.
async fn reported_failed_at(stack: &Stack, p: &Placed, limit: Duration) -> Result<i64> {
    poll(
        &format!("the scheduler to report {} failed", p.label),
        limit,
        || async {
            Ok(sqlx::query_scalar::<_, i64>(
                "SELECT failed_at FROM assignments WHERE lease = $1 AND failed_at IS NOT NULL",
            )
            .bind(p.address.as_ref())
            .fetch_optional(&stack.pool)
            .await?)
        },
    )
    .await
}

/// A generous bound for every wait of the scenario.
fn scenario_limit(p: &Placed) -> Duration {
    Duration::from_secs(u64::from(p.lease.duration_secs) + 120)
}

/// Suppliers close their leases once they have run their full length: the
/// escrow pays them the rest, and anything unused goes back to the renter.
async fn close_ended_leases(
    stack: &Stack,
    suppliers: &[Supplier],
    placed: &[Placed],
    log: &Log,
) -> Result<Vec<(Pubkey, Outcome)>> {
    let mut outcomes = Vec::new();
    for p in placed.iter().filter(|p| p.ending == Ending::RunsToEnd) {
        let Some(lease) = wait_active(stack, p, scenario_limit(p)).await? else {
            outcomes.push((p.address, closed_by_the_scheduler(stack, p, log).await?));
            continue;
        };
        let ends_at = lease.activated_at + i64::from(lease.duration_secs);
        let wait = u64::try_from(ends_at + 1 - iomesh_agent::now_secs()).unwrap_or(0);
        tokio::time::sleep(Duration::from_secs(wait)).await;
        log.say(format!(
            "{}  ran its full {} s; {} closes it and is paid from escrow",
            p.label, lease.duration_secs, suppliers[p.supplier].name
        ));
        let owner = &suppliers[p.supplier].owner;
        let closed_by_us = poll(
            &format!("{} to close", p.label),
            Duration::from_secs(30),
            || async {
                if stack.client.fetch::<Lease>(&p.address).await?.is_none() {
                    return Ok(Some(false));
                }
                let (keys, _) = stack.client.lease_keys(&p.address).await?;
                let mut ixs = stack
                    .client
                    .create_missing_token_accounts(
                        &owner.pubkey(),
                        &keys.mint,
                        &keys.ending_payees(),
                    )
                    .await?;
                ixs.push(keys.close());
                // The chain's clock may trail this machine's by a second.
                Ok(stack.client.send(&ixs, owner, &[]).await.ok().map(|_| true))
            },
        )
        .await?;
        let outcome = if closed_by_us {
            Outcome::Ended
        } else {
            closed_by_the_scheduler(stack, p, log).await?
        };
        outcomes.push((p.address, outcome));
    }
    Ok(outcomes)
}

/// Waits until the lease has been active for `after`; its outcome instead
/// if the scheduler closed it first.
async fn active_for(
    stack: &Stack,
    p: &Placed,
    after: Duration,
    log: &Log,
) -> Result<Option<Outcome>> {
    if wait_active(stack, p, scenario_limit(p)).await?.is_some() {
        tokio::time::sleep(after).await;
        if stack.client.fetch::<Lease>(&p.address).await?.is_some() {
            return Ok(None);
        }
    }
    closed_by_the_scheduler(stack, p, log).await.map(Some)
}

async fn renter_cancels(
    stack: &Stack,
    renters: &[Renter],
    placed: &[Placed],
    log: &Log,
) -> Result<Vec<(Pubkey, Outcome)>> {
    let mut outcomes = Vec::new();
    for p in placed {
        let Ending::RenterCancels(after) = p.ending else {
            continue;
        };
        if let Some(closed) = active_for(stack, p, after, log).await? {
            outcomes.push((p.address, closed));
            continue;
        }
        let renter = &renters[p.renter];
        log.say(format!(
            "{}  {} cancels: the node is paid up to now, the rest is refunded",
            p.label, renter.name
        ));
        let at = renter.cancel(&stack.client, &p.address).await?;
        outcomes.push((p.address, Outcome::Cancelled { at }));
    }
    Ok(outcomes)
}

async fn machine_loses_power(
    stack: &Stack,
    suppliers: &[Supplier],
    placed: &[Placed],
    log: &Log,
) -> Result<Vec<(Pubkey, Outcome)>> {
    let mut outcomes = Vec::new();
    for p in placed {
        let Ending::NodeLosesPower(after) = p.ending else {
            continue;
        };
        if let Some(closed) = active_for(stack, p, after, log).await? {
            outcomes.push((p.address, closed));
            continue;
        }
        let supplier = &suppliers[p.supplier];
        supplier.power_failure();
        log.say(format!(
            "{}  {} loses power: its agent goes silent, its job dies",
            p.label, supplier.name
        ));
        let failed_at = reported_failed_at(stack, p, scenario_limit(p)).await?;
        log.say(format!(
            "{}  the scheduler reports the silent node on-chain (service last seen at {failed_at}): the renter is refunded",
            p.label
        ));
        outcomes.push((p.address, Outcome::Failed { at: failed_at }));
        log.say(why_no_work(stack, supplier).await?);
    }
    Ok(outcomes)
}

/// What the scheduler's HTTP API says of a node that gets no work.
async fn why_no_work(stack: &Stack, supplier: &Supplier) -> Result<String> {
    let url = format!("{}/v1/nodes/{}", stack.scheduler.http_url(), supplier.node);
    let view: serde_json::Value = poll(
        "the node offline in the scheduler's API",
        Duration::from_secs(30),
        || async {
            let view: serde_json::Value = reqwest::get(&url).await?.json().await?;
            Ok((view["online"] == false).then_some(view))
        },
    )
    .await?;
    let reasons: Vec<&str> = view["no_work_reasons"]
        .as_array()
        .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    Ok(format!(
        "{}: GET /v1/nodes/{} says it gets no work: {}",
        supplier.name,
        supplier.node,
        reasons.join("; ")
    ))
}

/// Waits until Postgres has every lease closed and every assignment ended:
/// the indexer and the scheduler caught up with the chain.
async fn wait_all_closed(stack: &Stack, placed: &[Placed]) -> Result<()> {
    let keys: Vec<Vec<u8>> = placed
        .iter()
        .map(|p| p.address.to_bytes().to_vec())
        .collect();
    poll(
        "the indexer and the scheduler to see every lease closed",
        Duration::from_secs(60),
        || async {
            let open: i64 = sqlx::query_scalar(
                "SELECT (SELECT count(*) FROM leases WHERE pubkey = ANY($1) AND closed_slot IS NULL)                       + (SELECT count(*) FROM assignments WHERE lease = ANY($1) AND ended_at IS NULL)",
            )
            .bind(&keys)
            .fetch_one(&stack.pool)
            .await?;
            Ok((open == 0).then_some(()))
        },
    )
    .await
}

/// No job process of the demo is left running once its lease is over.
fn jobs_stopped(suppliers: &[Supplier]) -> books::Check {
    let alive: Vec<String> = suppliers
        .iter()
        .flat_map(|s| s.agent.jobs.running())
        .filter(|job| proc::is_alive(job.pid, job.start_ticks))
        .map(|job| job.lease)
        .collect();
    books::Check::new(
        "every job stopped when its lease ended, was cancelled or its node failed",
        alive.is_empty(),
        if alive.is_empty() {
            "no job process left".to_string()
        } else {
            format!("still running for leases {}", alive.join(", "))
        },
    )
}

/// Every lease was assigned exactly once.
async fn assigned_once(stack: &Stack, placed: &[Placed]) -> Result<books::Check> {
    let keys: Vec<Vec<u8>> = placed
        .iter()
        .map(|p| p.address.to_bytes().to_vec())
        .collect();
    let rows =
        sqlx::query("SELECT lease, count(*) FROM assignments WHERE lease = ANY($1) GROUP BY lease")
            .bind(&keys)
            .fetch_all(&stack.pool)
            .await?;
    let once = rows.len() == placed.len()
        && rows
            .iter()
            .all(|r| r.try_get::<i64, _>(1).map(|n| n == 1).unwrap_or(false));
    Ok(books::Check::new(
        "every lease was dispatched exactly once",
        once,
        format!("{} leases, {} with assignments", placed.len(), rows.len()),
    ))
}

/// The lease records for the books: indexed activation times and dispatch latency.
async fn records(
    stack: &Stack,
    suppliers: &[Supplier],
    renters: &[Renter],
    placed: &[Placed],
    outcomes: &BTreeMap<Pubkey, Outcome>,
) -> Result<Vec<LeaseRecord>> {
    let addresses: Vec<Pubkey> = placed.iter().map(|p| p.address).collect();
    let observed = progress::observe(&stack.pool, &addresses).await?;
    let mut records = Vec::new();
    for p in placed {
        let activated_at: i64 =
            sqlx::query_scalar("SELECT activated_at FROM leases WHERE pubkey = $1")
                .bind(p.address.as_ref())
                .fetch_one(&stack.pool)
                .await
                .with_context(|| format!("reading the indexed activation of {}", p.label))?;
        let outcome = *outcomes
            .get(&p.address)
            .with_context(|| format!("{} has no outcome", p.label))?;
        let closed = observed
            .get(&p.address)
            .is_some_and(|o| matches!(o.stage, Stage::Closed { .. }));
        if !closed || activated_at == 0 {
            bail!("{} was not indexed as activated and closed", p.label);
        }
        records.push(LeaseRecord {
            label: p.label.clone(),
            renter: renters[p.renter].name,
            node: suppliers[p.supplier].name,
            gpus: p.lease.gpus,
            symbol: renters[p.renter].symbol,
            decimals: iomesh_client::bootstrap::DECIMALS,
            rate_per_gpu_hour: p.lease.rate_per_gpu_hour,
            fee_bps: p.lease.fee_bps,
            deposited: p.lease.deposited,
            duration_secs: p.lease.duration_secs,
            activated_at,
            outcome,
            dispatch_ms: observed.get(&p.address).and_then(|o| o.dispatch_ms),
        });
    }
    Ok(records)
}

/// Steps the lease's job printed to its log on the node; for a member of a
/// Ray cluster, the tasks the Ray program (whose output is in the head's
/// log) ran on this lease's node.
fn job_steps(suppliers: &[Supplier], placed: &[Placed], p: &Placed) -> usize {
    if !p.in_ray_cluster {
        return job_output(&suppliers[p.supplier].agent, &p.address)
            .iter()
            .filter(|l| l.contains(" step "))
            .count();
    }
    let ran_here = format!("task ran on lease {}", p.address);
    placed
        .iter()
        .filter(|m| m.in_ray_cluster)
        .flat_map(|m| job_output(&suppliers[m.supplier].agent, &m.address))
        .filter(|l| l.contains(&ran_here))
        .count()
}

/// What the lease's job printed on stdout, from its log on the node.
pub fn job_output(agent: &Agent, lease: &Pubkey) -> Vec<String> {
    agent
        .jobs
        .logs(&lease.to_string())
        .and_then(|reader| reader.read(None, None))
        .map(|records| {
            records
                .into_iter()
                .filter(|r| r.stream == LogStream::Out)
                .map(|r| r.line)
                .collect()
        })
        .unwrap_or_default()
}
