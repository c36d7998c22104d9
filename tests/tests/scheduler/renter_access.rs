//! A renter reaches what it rents, through the scheduler and the agent's own
//! outbound connection (no inbound port on the node): its job's phases and
//! exit codes, its logs (followed across a replica's death), an HTTP server
//! and a WebSocket echo in the job through the HTTP path, raw TCP through
//! `iomesh lease forward` (100 MiB byte-identical, memory bounded, a renter
//! closing mid-transfer frees the tunnel on both sides); and nobody else
//! does: a stranger's, the operator's, an expired, a replayed and another
//! lease's token are refused with a JSON reason.

use futures::{SinkExt, StreamExt};
use iomesh_tests::{
    chain::create_lease,
    scheduler as common,
    stack::{
        connected, free_port, get, job_binary, lease_forward, listening, peak_kib, replica,
        run_lease, spec, stack, start_agent, token, RunningAgent,
    },
    workspace_binary,
};
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use sqlx::PgPool;
use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    process::{Command, Stdio},
    time::Duration,
};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn the_renter_reaches_its_jobs_ports_and_nobody_else_does(pool: PgPool) {
    let s = stack(&pool).await;
    let a = replica(&pool, &s, "replica-a", None).await;
    let agent: RunningAgent = start_agent(&s.chain, &s.node, &a.grpc_url(), &s.state).await;
    connected(&pool, &s.node.address, "replica-a").await;
    // The renter may ask any replica: b forwards to a, which holds the agent.
    let b = replica(&pool, &s, "replica-b", None).await;
    let (http_port, tcp_port) = (free_port(), free_port());
    let job = spec(
        &[
            job_binary("iomesh-testjob").to_str().unwrap(),
            "serve",
            &http_port.to_string(),
            &tcp_port.to_string(),
        ],
        &[http_port, tcp_port],
    );
    let lease = create_lease(&s.chain, &s.node, &s.renter, 1, 1, &job).await;
    run_lease(
        &pool,
        &a.http_url(),
        &s.client,
        &agent,
        &lease,
        &job,
        &s.renter,
    )
    .await;
    listening(http_port).await;

    for http in [a.http_url(), b.http_url()] {
        // HTTP through the path: the job sees its own path and query, not the credentials.
        let url = format!("{http}/v1/leases/{lease}/ports/{http_port}/echo/x?q=1");
        let (status, echo) = get(&url, Some(&token(&s.renter, &lease, 60))).await;
        assert_eq!(status, 200, "{echo}");
        assert_eq!(echo["path"], "/echo/x");
        assert_eq!(echo["query"], "q=1");
        assert!(echo["headers"].get("authorization").is_none(), "{echo}");

        // WebSocket upgrades go through too.
        let ws_url = format!(
            "{}/v1/leases/{lease}/ports/{http_port}/ws",
            http.replacen("http://", "ws://", 1)
        );
        let mut request = ws_url.into_client_request().unwrap();
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", token(&s.renter, &lease, 60))
                .parse()
                .unwrap(),
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        ws.send(Message::Text("hello through the tunnel".into()))
            .await
            .unwrap();
        let echoed = ws.next().await.unwrap().unwrap();
        assert_eq!(echoed.into_text().unwrap(), "hello through the tunnel");
        ws.close(None).await.unwrap();
    }

    // The first request's token opened a port session: a browser's next requests carry the cookie.
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let first = format!(
        "{}/v1/leases/{lease}/ports/{http_port}/echo?iomesh_token={}",
        a.http_url(),
        token(&s.renter, &lease, 60)
    );
    assert_eq!(client.get(&first).send().await.unwrap().status(), 200);
    let again = format!("{}/v1/leases/{lease}/ports/{http_port}/echo", a.http_url());
    assert_eq!(client.get(&again).send().await.unwrap().status(), 200);

    // Nobody else: each refusal says which.
    let url = format!("{}/v1/leases/{lease}/ports/{http_port}/echo", a.http_url());
    let stranger = Keypair::new();
    let other_lease = Pubkey::new_unique();
    let used = token(&s.renter, &lease, 60);
    assert_eq!(get(&url, Some(&used)).await.0, 200);
    let operator = s.node.operator.insecure_clone();
    for (what, token, status, reason) in [
        ("no token", None, 401, "missing_token"),
        (
            "a stranger's",
            Some(token(&stranger, &lease, 60)),
            403,
            "not_the_renter",
        ),
        (
            "the operator's",
            Some(token(&operator, &lease, 60)),
            403,
            "not_the_renter",
        ),
        (
            "an expired",
            Some(token(&s.renter, &lease, -5)),
            401,
            "expired",
        ),
        ("a replayed", Some(used.clone()), 401, "replayed"),
        (
            "another lease's",
            Some(token(&s.renter, &other_lease, 60)),
            403,
            "other_lease",
        ),
        (
            "a forged",
            Some(format!("{}x", &used[..used.len() - 1])),
            401,
            "bad_signature",
        ),
    ] {
        let (got, body) = get(&url, token.as_deref()).await;
        assert_eq!(
            (got, body["reason"].as_str()),
            (status, Some(reason)),
            "{what} token: {body}"
        );
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    // A port the spec does not list is refused by the agent.
    let unlisted = format!("{}/v1/leases/{lease}/ports/9/x", a.http_url());
    let (status, body) = get(&unlisted, Some(&token(&s.renter, &lease, 60))).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not in the job spec"),
        "{body}"
    );

    // Raw TCP through `iomesh lease forward`: 100 MiB each way, byte-identical.
    let keypair_file = s.state.path().join("renter.json");
    solana_keypair::write_keypair_file(&s.renter, &keypair_file).unwrap();
    let (forward, local) = lease_forward(&b.http_url(), &keypair_file, &lease, tcp_port);
    let bytes: Vec<u8> = (0..100 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let sent = bytes.clone();
    let echoed = tokio::task::spawn_blocking(move || {
        let stream = TcpStream::connect(local).unwrap();
        let mut writer = stream.try_clone().unwrap();
        let send = std::thread::spawn(move || {
            writer.write_all(&sent).unwrap();
            writer.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let mut back = Vec::with_capacity(100 << 20);
        (&stream).read_to_end(&mut back).unwrap();
        send.join().unwrap();
        back
    })
    .await
    .unwrap();
    assert!(
        echoed.len() == bytes.len() && echoed == bytes,
        "100 MiB echoed byte-identical"
    );
    let peak = peak_kib(forward.id());
    assert!(
        peak < 64 * 1024,
        "lease forward peaked at {peak} KiB for 100 MiB"
    );
    let metrics = reqwest::get(format!("{}/metrics", a.http_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let counted: u64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("iomesh_scheduler_tunnel_bytes_total")
                && l.contains(&lease.to_string())
                && l.contains("to_job")
        })
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum();
    assert!(
        counted >= 100 << 20,
        "bytes to the job counted per lease: {counted}"
    );

    // A renter closing mid-transfer frees the tunnel on both sides, even
    // when every buffer on the way is full: the renter sends and never
    // reads, so the echoing job blocks, and each hop blocks on the next.
    let open_before = (
        a.shared.metrics.tunnels_open.get(),
        agent.agent.open_tunnels(),
    );
    // (async: the scheduler and the agent run on this test's runtime)
    let stream = tokio::net::TcpStream::connect(local).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sending = tokio::spawn({
        let sent = sent.clone();
        async move {
            use tokio::io::AsyncWriteExt;
            let chunk = vec![7u8; 64 * 1024];
            while writer.write_all(&chunk).await.is_ok() {
                sent.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    common::eventually("the tunnel open on both sides", || async {
        (a.shared.metrics.tunnels_open.get() > open_before.0
            && agent.agent.open_tunnels() > open_before.1)
            .then_some(())
    })
    .await;
    let mut last = 0;
    common::eventually("the renter's writes stalled on full buffers", || {
        let now = sent.load(std::sync::atomic::Ordering::SeqCst);
        let stalled = now > 0 && now == last;
        last = now;
        async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            stalled.then_some(())
        }
    })
    .await;
    sending.abort();
    drop(reader);
    let freed = tokio::time::timeout(common::TIMEOUT, async {
        loop {
            let open = (
                a.shared.metrics.tunnels_open.get(),
                agent.agent.open_tunnels(),
            );
            if open == open_before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        freed.is_ok(),
        "the tunnel stayed open: (scheduler, agent) tunnels {:?}, before {open_before:?}",
        (
            a.shared.metrics.tunnels_open.get(),
            agent.agent.open_tunnels()
        )
    );
    drop(forward);

    agent.shutdown.cancel();
    b.stop().await.unwrap();
    a.stop().await.unwrap();
    s.indexer.stop().await;
    drop(s.state);
}

/// The renter's view of a lease, in detail.
async fn job(http: &str, renter: &Keypair, lease: &Pubkey) -> serde_json::Value {
    let (status, view) = get(
        &format!("{http}/v1/leases/{lease}"),
        Some(&token(renter, lease, 60)),
    )
    .await;
    assert_eq!(status, 200, "{view}");
    view["job"].clone()
}

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn phases_exit_codes_and_logs_reach_the_renter_across_a_replica_death(pool: PgPool) {
    let s = stack(&pool).await;
    let grpc = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let a = replica(&pool, &s, "replica-a", Some(grpc)).await;
    let agent = start_agent(&s.chain, &s.node, &a.grpc_url(), &s.state).await;
    connected(&pool, &s.node.address, "replica-a").await;
    let b = replica(&pool, &s, "replica-b", None).await;
    let http = a.http_url();

    // Exit codes 0 and 3, and a job killed by SIGKILL (137, as a shell
    // reports it): the phases as the renter sees them.
    for (nonce, code, end) in [
        (1u64, 0, "exit 0"),
        (2, 3, "exit 3"),
        (5, 137, "kill -KILL $$"),
    ] {
        let script = format!("echo out-{code}; echo err-{code} >&2; {end}");
        let job_spec = spec(&["sh", "-c", &script], &[]);
        let lease = create_lease(&s.chain, &s.node, &s.renter, nonce, 1, &job_spec).await;
        common::eventually("the spec accepted", || async {
            (common::submit_spec(&http, &lease, &job_spec, &s.renter)
                .await
                .0
                == 201)
                .then_some(())
        })
        .await;
        let done = common::eventually("the job exited", || async {
            let job = job(&http, &s.renter, &lease).await;
            (job["phase"] == "exited").then_some(job)
        })
        .await;
        assert_eq!(done["exit_code"], code, "{done}");
        let phases: Vec<&str> = done["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["phase"].as_str().unwrap())
            .collect();
        assert_eq!(
            phases,
            ["assigned", "starting", "running", "exited"],
            "{done}"
        );
        // Without the renter's token: the phase, no details.
        let (_, public) = get(&format!("{http}/v1/leases/{lease}"), None).await;
        assert_eq!(
            public["job"],
            serde_json::json!({"phase": "exited", "detailed": false})
        );
        // Its logs, each line with its stream and time.
        let logs = reqwest::Client::new()
            .get(format!("{}/v1/leases/{lease}/logs", b.http_url()))
            .bearer_auth(token(&s.renter, &lease, 60))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let lines: Vec<serde_json::Value> = logs
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let out = lines
            .iter()
            .find(|l| l["line"] == format!("out-{code}"))
            .unwrap();
        let err = lines
            .iter()
            .find(|l| l["line"] == format!("err-{code}"))
            .unwrap();
        assert_eq!(
            (out["stream"].as_str(), err["stream"].as_str()),
            (Some("stdout"), Some("stderr"))
        );
        assert!(out["t"].as_i64().unwrap() > 1_700_000_000_000);
    }

    // Logs of a lease whose job never ran on the node: 404, saying so.
    let idle = spec(&["true"], &[]);
    let never_ran = create_lease(&s.chain, &s.node, &s.renter, 6, 1, &idle).await;
    let url = format!("{}/v1/leases/{never_ran}/logs", b.http_url());
    let (status, body) =
        common::eventually("the agent's answer for a lease it never ran", || async {
            let (status, body) = get(&url, Some(&token(&s.renter, &never_ran, 60))).await;
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("no job of this lease ran"))
                .then_some((status, body))
        })
        .await;
    assert_eq!(status, 404, "{body}");
    // (its GPU back for the leases below: the node has four)
    s.chain.cancel(&s.node, &s.renter, never_ran).await;

    // A job killed when its lease is cancelled: stopped, with the reason.
    let job_spec = spec(&["sh", "-c", "echo waiting; sleep 300"], &[]);
    let lease = create_lease(&s.chain, &s.node, &s.renter, 3, 1, &job_spec).await;
    run_lease(
        &pool, &http, &s.client, &agent, &lease, &job_spec, &s.renter,
    )
    .await;
    s.chain.cancel(&s.node, &s.renter, lease).await;
    let stopped = common::eventually("the job stopped", || async {
        let job = job(&http, &s.renter, &lease).await;
        (job["phase"] == "stopped").then_some(job)
    })
    .await;
    // Whoever records it first, the scheduler seeing the closure or the
    // agent stopping the job, the reason names the cancellation.
    assert!(
        stopped["detail"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("cancel"),
        "{stopped}"
    );

    // A job printing a numbered line every 20 ms, followed with `iomesh lease
    // logs -f` through replica b, while replica a (holding the agent) dies and
    // comes back: every line arrives once, in order.
    let count = 150;
    let script =
        format!("i=0; while [ $i -lt {count} ]; do echo tick-$i; i=$((i+1)); sleep 0.02; done");
    let job_spec = spec(&["sh", "-c", &script], &[]);
    let lease = create_lease(&s.chain, &s.node, &s.renter, 4, 1, &job_spec).await;
    run_lease(
        &pool, &http, &s.client, &agent, &lease, &job_spec, &s.renter,
    )
    .await;
    let keypair_file = s.state.path().join("renter.json");
    solana_keypair::write_keypair_file(&s.renter, &keypair_file).unwrap();
    let follower = Command::new(workspace_binary("iomesh"))
        .args([
            "--scheduler",
            &b.http_url(),
            "--keypair",
            &keypair_file.display().to_string(),
            "--output",
            "json",
            "lease",
            "logs",
            &lease.to_string(),
            "-f",
        ])
        .env("HOME", std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    a.abort().await;
    let a2 = replica(&pool, &s, "replica-a2", Some(grpc)).await;
    connected(&pool, &s.node.address, "replica-a2").await;
    let output = tokio::task::spawn_blocking(move || follower.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ticks: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["stream"] == "stdout")
        .map(|l| l["line"].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = (0..count).map(|i| format!("tick-{i}")).collect();
    assert_eq!(
        ticks, expected,
        "every line once, in order, across the replica's death"
    );

    agent.shutdown.cancel();
    b.stop().await.unwrap();
    a2.stop().await.unwrap();
    s.indexer.stop().await;
    drop(s.state);
}

/// `iomesh` run as a renter runs it, with the stack's RPC and scheduler.
async fn iomesh(
    s: &iomesh_tests::stack::Stack,
    scheduler: &str,
    args: &[&str],
) -> std::process::Output {
    let keypair_file = s.state.path().join("renter.json");
    solana_keypair::write_keypair_file(&s.renter, &keypair_file).unwrap();
    let mut command = Command::new(workspace_binary("iomesh"));
    command
        .args([
            "--url",
            &s.chain.localnet.rpc_url(),
            "--scheduler",
            scheduler,
            "--keypair",
            &keypair_file.display().to_string(),
            "--output",
            "json",
        ])
        .args(args)
        .env("HOME", std::env::temp_dir());
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// A renter with only the CLI: `lease create --scheduler` pays on-chain and
/// hands the scheduler the job spec once the lease is indexed, and the job
/// runs; `lease submit-spec` says when the spec is already there, and
/// refuses, by its hash, a spec the lease does not commit to.
#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn a_renter_with_only_the_cli_creates_a_lease_and_its_job_runs(pool: PgPool) {
    let s = stack(&pool).await;
    let a = replica(&pool, &s, "replica-a", None).await;
    let _agent = start_agent(&s.chain, &s.node, &a.grpc_url(), &s.state).await;
    connected(&pool, &s.node.address, "replica-a").await;
    let job = s.state.path().join("job.json");
    std::fs::write(
        &job,
        spec(&["sh", "-c", "echo from-the-cli; sleep 300"], &[]),
    )
    .unwrap();
    let job_arg = job.display().to_string();

    let (node, mint) = (s.node.address.to_string(), s.chain.mint.to_string());
    let http = a.http_url();
    let created = {
        let args = [
            "lease",
            "create",
            "--node",
            &node,
            "--gpus",
            "1",
            "--hours",
            "1",
            "--mint",
            &mint,
            "--job-spec",
            &job_arg,
            "--nonce",
            "7",
        ];
        let s = &s;
        iomesh(s, &http, &args).await
    };
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!(created["job_spec_submitted"], true, "{created}");
    let lease: Pubkey = created["lease"].as_str().unwrap().parse().unwrap();

    // The job runs: the lease is activated on-chain and its output logged.
    common::eventually("the lease activated by the agent", || async {
        iomesh_tests::stack::lease_on_chain(&s.client, &lease)
            .await
            .filter(|l| l.status == iomesh::state::LeaseStatus::Active)
    })
    .await;

    let lease_arg = lease.to_string();
    let again = iomesh(
        &s,
        &http,
        &["lease", "submit-spec", &lease_arg, "--job-spec", &job_arg],
    )
    .await;
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["stored"], "already submitted");

    let other = s.state.path().join("other.json");
    std::fs::write(&other, spec(&["true"], &[])).unwrap();
    let other_arg = other.display().to_string();
    let refused = iomesh(
        &s,
        &http,
        &["lease", "submit-spec", &lease_arg, "--job-spec", &other_arg],
    )
    .await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("sha256 of the job spec is"), "{stderr}");
}
