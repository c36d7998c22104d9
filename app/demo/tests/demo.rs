//! `iomesh-demo` as a user runs it: the built binary, the whole marketplace
//! (localnet, indexer, Postgres, scheduler, agents running real job
//! processes), its JSON summary checked lease by lease.

use serde_json::Value;
use sqlx::{Connection, PgConnection};
use std::process::Command;

/// The market's shortest lease: the demo's leases run this long.
const LEASE_SECS: u64 = 60;

/// One whole demo at a time: two at once on a 2-core machine would starve
/// each other's one-second jobs.
static ONE_DEMO: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn run_demo(database_url: &str, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_iomesh-demo"))
        .args(["--output", "json"])
        .args(extra)
        .env("DATABASE_URL", database_url)
        .env_remove("RUST_LOG")
        .output()
        .expect("iomesh-demo runs")
}

fn u64_of(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("not a u64: {value}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_serves_leases_and_a_cluster_and_its_books_reconcile_with_the_chain() {
    let _one = ONE_DEMO.lock().await;
    let database_url = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL is set (run the tests through scripts/postgres or ./scripts/test)");
    let output = tokio::task::spawn_blocking({
        let url = database_url.clone();
        move || run_demo(&url, &["--lease-secs", &LEASE_SECS.to_string()])
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the demo failed:\n{stderr}");
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not the JSON summary ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    });

    // Progress was shown live, as Postgres recorded it.
    for line in [
        "all 5 agents authenticated",
        "market search lists all 5 nodes; cheapest:",
        "dispatched to",
        "activated on-chain by the node's operator",
        "loses power",
        "reports the silent node on-chain",
        "says it gets no work: offline: no agent session",
        "cancels",
        "the scheduler saw the closure: assignment ended, job stopped",
        "the scheduler saw the closure: assignment failed",
    ] {
        assert!(
            stderr.contains(line),
            "no `{line}` in the progress:\n{stderr}"
        );
    }

    // Every reconciliation passed: the money each lease should have moved by
    // the program's rules is what moved between the token accounts.
    assert_eq!(summary["all_checks_ok"], true, "{summary:#}");
    let checks = summary["checks"].as_array().unwrap();
    assert_eq!(
        checks.len(),
        2 + 4 * 2,
        "two general checks + four per mint: {summary:#}"
    );
    assert!(checks.iter().all(|c| c["ok"] == true), "{summary:#}");

    // Six leases: a two-node cluster and two more that ran to the end, one
    // cancelled, one on a node that lost power; every one of them was served.
    assert_eq!(summary["leases_total"], 6);
    assert_eq!(summary["ended"], 4);
    assert_eq!(summary["cancelled"], 1);
    assert_eq!(summary["failed"], 1);
    assert_eq!(summary["leases_served"], 6);
    let leases = summary["leases"].as_array().unwrap();
    let mut gpu_seconds = 0;
    for lease in leases {
        let served = u64_of(&lease["served_secs"]);
        gpu_seconds += u64_of(&lease["gpus"]) * served;
        let (payout, fee, refund) = (
            u64_of(&lease["payout"]),
            u64_of(&lease["fee"]),
            u64_of(&lease["refund"]),
        );
        assert_eq!(u64_of(&lease["deposited"]), payout + refund, "{lease}");
        assert_eq!(u64_of(&lease["to_supplier"]), payout - fee, "{lease}");
        // The job really ran on the node: it printed a step a second.
        let steps = u64_of(&lease["job_steps"]);
        assert!(steps >= 1, "{lease}");
        assert!(lease["dispatch_ms"].is_u64(), "{lease}");
        match lease["outcome"]["outcome"].as_str().unwrap() {
            "ended" => {
                assert_eq!(served, LEASE_SECS, "{lease}");
                assert_eq!(refund, 0, "{lease}");
                assert!(steps >= LEASE_SECS / 2, "{lease}");
            }
            "cancelled" | "failed" => {
                assert!(served > 0 && served < 2 * LEASE_SECS, "{lease}");
                assert!(refund > 0, "{lease}");
            }
            other => panic!("unexpected outcome {other}: {lease}"),
        }
    }
    assert_eq!(u64_of(&summary["gpu_seconds"]), gpu_seconds);
    let cluster: Vec<&Value> = leases.iter().filter(|l| l["renter"] == "carol").collect();
    assert_eq!(cluster.len(), 2, "carol's cluster has two leases");
    assert_ne!(cluster[0]["node"], cluster[1]["node"], "on two nodes");

    // carol's cluster was one Ray cluster: Ray saw both nodes, and the
    // program's tasks ran on each of them (their steps count per lease).
    let ray = &summary["ray"];
    assert_eq!(ray["alive_nodes"], 2, "{summary:#}");
    let mut members: Vec<&Value> = cluster.iter().map(|l| &l["node"]).collect();
    members.sort_by_key(|n| n.as_str());
    let ran: Vec<&Value> = ray["nodes_with_tasks"].as_array().unwrap().iter().collect();
    assert_eq!(ran, members, "{summary:#}");
    assert!(
        stderr.contains("carol's Ray program sees 2 alive nodes; its tasks ran on both"),
        "{stderr}"
    );

    // Both payment mints were used; the USD totals add up.
    assert!(summary["mints"]["USDC"].is_object() && summary["mints"]["IO"].is_object());
    let usd = &summary["usd_micros"];
    assert!(u64_of(&usd["paid_to_suppliers"]) > 0);
    assert!(u64_of(&usd["fees"]) > 0);
    assert!(u64_of(&usd["refunded"]) > 0);
    let latency = &summary["dispatch_latency_ms"];
    assert_eq!(latency["samples"], 6);
    assert!(u64_of(&latency["p50"]) <= u64_of(&latency["p99"]));

    // A renter reached her running job through the scheduler alone: its log
    // lines and its web server's page, through the tunnel to the node.
    let access = &summary["access"];
    let lease = access["lease"].as_str().unwrap();
    assert_eq!(
        access["page"],
        format!("hello from the job of lease {lease}: you asked for /from-the-demo"),
        "{summary:#}"
    );
    assert!(
        !access["log_lines"].as_array().unwrap().is_empty(),
        "{summary:#}"
    );
    assert!(
        stderr.contains("reaches her job's web server on port"),
        "{stderr}"
    );

    // Nothing is left behind: the demo database is dropped, the work
    // directory removed.
    assert!(summary["work_dir"].is_null(), "{summary:#}");
    let name = summary["database"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(name.starts_with("iomesh_demo_"), "{name}");
    let mut connection = PgConnection::connect(&database_url).await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(left, 0, "the demo database {name} was dropped");
}

/// `--no-ray`: carol's cluster runs a process on each member, each knowing
/// its rank; no Ray is installed or started. With `--keep`, everything keeps
/// running once the scenario is done: the marketplace's pages and Actions
/// answer a browser until Ctrl-C, and the work directory and database stay.
#[tokio::test(flavor = "multi_thread")]
async fn demo_without_ray_runs_the_cluster_as_processes_and_keep_leaves_it_open() {
    use std::io::BufRead;
    let _one = ONE_DEMO.lock().await;
    let database_url = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL is set (run the tests through scripts/postgres or ./scripts/test)");
    let child = Command::new(env!("CARGO_BIN_EXE_iomesh-demo"))
        .args([
            "--output",
            "json",
            "--lease-secs",
            &LEASE_SECS.to_string(),
            "--no-ray",
            "--keep",
        ])
        .env("DATABASE_URL", &database_url)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("iomesh-demo runs");
    let mut child = StopOnDrop(Some(child));
    // Progress goes to stderr with --output json: follow it to the --keep line.
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let stderr_pipe = child.0.as_mut().unwrap().stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr_pipe)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    let mut stderr = String::new();
    let url = loop {
        let line = lines_rx
            .recv_timeout(std::time::Duration::from_secs(600))
            .unwrap_or_else(|_| panic!("no --keep line; the demo said:\n{stderr}"));
        stderr.push_str(&line);
        stderr.push('\n');
        if let Some(rest) = line
            .split("open ")
            .nth(1)
            .filter(|_| line.contains("--keep:"))
        {
            break rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches('/')
                .to_string();
        }
    };
    // A browser's view while it runs: the search lists the four nodes whose
    // agents are up (the one that lost power is stale, hidden unless asked),
    // and the cheapest node's Action answers.
    let listed = |query: &'static str| {
        let url = format!("{url}/{query}");
        async move {
            let html = reqwest::get(&url).await.unwrap().text().await.unwrap();
            (html.matches("href=\"/nodes/").count(), html)
        }
    };
    let (count, html) = listed("").await;
    assert_eq!(count, 4, "{html}");
    let (count, html) = listed("?include_stale=on").await;
    assert_eq!(count, 5, "{html}");
    let page: Value = reqwest::get(format!("{url}/api/v1/nodes"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cheapest = page["nodes"][0]["node"].as_str().unwrap();
    let action = reqwest::get(format!("{url}/api/actions/rent/{cheapest}"))
        .await
        .unwrap();
    assert_eq!(action.status().as_u16(), 200);
    let action: Value = action.json().await.unwrap();
    assert_eq!(action["type"], "action", "{action}");
    assert!(action.get("disabled").is_none(), "{action}");

    // Ctrl-C stops it all, and the summary follows.
    let child = child.0.take().unwrap();
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    reader.join().unwrap();
    stderr.extend(lines_rx.try_iter().map(|l| l + "\n"));
    assert!(output.status.success(), "the demo failed:\n{stderr}");
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["all_checks_ok"], true, "{summary:#}");
    assert!(summary["ray"].is_null(), "{summary:#}");
    assert!(!stderr.contains("Ray 2."), "{stderr}");
    assert!(
        stderr.contains("(2 leases) for a process on each node"),
        "{stderr}"
    );
    for rank in 0..2 {
        assert!(
            stderr.contains(&format!("carol rank {rank}/2 step")),
            "no output of rank {rank}:\n{stderr}"
        );
    }
    let carol: Vec<&Value> = summary["leases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["renter"] == "carol")
        .collect();
    assert_eq!(carol.len(), 2);
    for lease in carol {
        assert!(u64_of(&lease["job_steps"]) >= LEASE_SECS / 2, "{lease}");
    }

    // Kept: the work directory and the database, which this test removes.
    let dir = summary["work_dir"]
        .as_str()
        .expect("the work directory is kept");
    assert!(std::path::Path::new(dir).join("demo.log").is_file());
    std::fs::remove_dir_all(dir).unwrap();
    let name = summary["database"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let mut connection = PgConnection::connect(&database_url).await.unwrap();
    sqlx::query(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .execute(&mut connection)
        .await
        .expect("the kept demo database exists");
}

/// A demo a failed assertion leaves running is killed, not left behind.
struct StopOnDrop(Option<std::process::Child>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn demo_refuses_leases_shorter_than_the_market_allows() {
    let output = run_demo(
        "postgres://unused@127.0.0.1:1/none",
        &["--lease-secs", "10"],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--lease-secs 10: leases run 60 to 3600 s"),
        "{stderr}"
    );
}
