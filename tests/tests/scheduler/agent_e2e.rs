//! The real agent and the real scheduler together over gRPC: a renter pays
//! on-chain and submits its spec over HTTP, the agent (run in-process exactly
//! as its binary runs it, with simulated GPUs) checks the lease, runs the job
//! on the leased GPU and activates the lease with the operator key; a cancel
//! on-chain stops the job through the scheduler; a dead agent's lease is
//! reported failed and the renter refunded by the program's rule.

use iomesh::math;
use iomesh_agent::{
    logs::{LogReader, LogStream},
    runner::{proc, state::LeaseDir},
};
use iomesh_client::client::Client;
use iomesh_tests::{
    agent::StateDir,
    chain::{create_lease, scheduler_authority, token_balance, Chain},
    indexer::Indexer,
    scheduler as common,
    stack::{assignment, lease_on_chain, reporting_replica, run_lease, start_agent},
};
use solana_commitment_config::CommitmentConfig;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use sqlx::PgPool;
use std::time::Duration;

/// The market's failure grace in this test.
const GRACE_SECS: u32 = 2;

/// A job that says it started and which GPUs it sees, then runs until stopped.
fn job_spec(name: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "command": ["sh", "-c", "echo started $JOB; echo CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES; sleep 300"],
        "env": { "JOB": name },
    }))
    .unwrap()
}

/// The job's stdout once it has printed its devices, from its agent-side log.
async fn job_log(state: &StateDir, lease: &Pubkey) -> String {
    let dir = LeaseDir::new(&state.path().join("jobs"), &lease.to_string());
    common::eventually("the job's log", || async {
        let records = LogReader::open(dir.root()).ok()?.read(None, None).ok()?;
        let stdout: String = records
            .iter()
            .filter(|record| record.stream == LogStream::Out)
            .map(|record| format!("{}\n", record.line))
            .collect();
        stdout.contains("CUDA_VISIBLE_DEVICES").then_some(stdout)
    })
    .await
}

/// The fee payer (first signer) of a confirmed transaction, from `getTransaction`.
async fn fee_payer(rpc_url: &str, signature: &str) -> Option<String> {
    let response: serde_json::Value = reqwest::Client::new()
        .post(rpc_url)
        .json(&serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "getTransaction",
            "params": [signature, {"encoding": "json", "commitment": "confirmed"}],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    response["result"]["transaction"]["message"]["accountKeys"][0]
        .as_str()
        .map(str::to_string)
}

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn real_agent_runs_a_paid_job_stops_it_on_cancel_and_its_death_refunds_the_renter(
    pool: PgPool,
) {
    let chain = Chain::start().await;
    let scheduler = scheduler_authority(&chain, GRACE_SECS).await;
    let indexer = Indexer::spawn(&pool, chain.localnet.grpc_url(), chain.localnet.rpc_url());
    let client = Client::new(chain.localnet.rpc_url(), CommitmentConfig::confirmed());

    let replica = reporting_replica(&pool, &chain, &scheduler, "replica-e2e").await;
    let http = replica.http_url();

    // The node registers on-chain; its agent dials until the node is indexed.
    let node = chain.register_node(4).await;
    let state = StateDir::new();
    let agent = start_agent(&chain, &node, &replica.grpc_url(), &state).await;
    common::eventually("the agent welcomed", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM agent_sessions WHERE node = $1")
            .bind(node.address.as_ref())
            .fetch_one(&pool)
            .await
            .unwrap()
            .eq(&1)
            .then_some(())
    })
    .await;

    // 1. A paid lease: the job runs on the leased GPU and the operator activates it.
    let renter = chain.renter(100).await;
    let spec = job_spec("first");
    let lease = create_lease(&chain, &node, &renter, 1, 1, &spec).await;
    let record = run_lease(&pool, &http, &client, &agent, &lease, &spec, &renter).await;
    assert_eq!(record.gpus, vec![0], "one GPU leased, the lowest free one");
    let log = job_log(&state, &lease).await;
    assert_eq!(log, "started first\nCUDA_VISIBLE_DEVICES=0\n");
    let (_, signature, _, _) = assignment(&pool, &lease).await.unwrap();
    let signature = signature.unwrap();
    assert_eq!(
        fee_payer(&chain.localnet.rpc_url(), &signature).await,
        Some(node.operator.pubkey().to_string()),
        "the activation {signature} is signed and paid by the operator"
    );
    let (_, view) = common::get_json(&format!("{http}/v1/leases/{lease}")).await;
    assert_eq!(view["dispatch"]["state"], "running", "{view}");

    // Settling pays the node owner for the seconds served, minus the fee.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let owner_before = token_balance(&chain, &node.owner.pubkey()).await;
    let (keys, _) = client.lease_keys(&lease).await.unwrap();
    chain.send(&[keys.settle()], &[&renter]).await;
    let settled = lease_on_chain(&client, &lease).await.unwrap();
    assert!(settled.paid_out > 0);
    let fee = math::network_fee(settled.paid_out, settled.fee_bps).unwrap();
    assert_eq!(
        token_balance(&chain, &node.owner.pubkey()).await - owner_before,
        settled.paid_out - fee
    );

    // 2. The renter cancels: the scheduler sees the closure and stops the job.
    let stops_before = replica.shared.metrics.stops_sent_total.get();
    chain.cancel(&node, &renter, lease).await;
    common::eventually("the job stopped and its process gone", || async {
        (agent.agent.jobs.get(&lease.to_string()).is_none()
            && !proc::is_alive(record.pid, record.start_ticks)
            && proc::group_members(record.pid).is_empty())
        .then_some(())
    })
    .await;
    assert!(replica.shared.metrics.stops_sent_total.get() > stops_before);
    let (state_1, _, _, ended) = common::eventually("the assignment ended", || async {
        assignment(&pool, &lease).await.filter(|a| a.3)
    })
    .await;
    assert_eq!(state_1, "ended");
    assert!(ended);

    // 3. A second lease runs; then the agent dies and stops heartbeating.
    let spec = job_spec("second");
    let renter_before = token_balance(&chain, &renter.pubkey()).await;
    let lease = create_lease(&chain, &node, &renter, 2, 2, &spec).await;
    let renter_paid = token_balance(&chain, &renter.pubkey()).await;
    assert!(renter_paid < renter_before);
    let record = run_lease(&pool, &http, &client, &agent, &lease, &spec, &renter).await;
    assert_eq!(
        record.gpus,
        vec![0, 1],
        "two GPUs, GPU 0 freed by the stopped job"
    );
    assert_eq!(
        job_log(&state, &lease).await,
        "started second\nCUDA_VISIBLE_DEVICES=0,1\n"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let active = lease_on_chain(&client, &lease).await.unwrap();
    assert_eq!(active.paid_out, 0);
    let owner_before = token_balance(&chain, &node.owner.pubkey()).await;
    agent.session.abort();

    common::eventually("report_failure to close the lease on-chain", || async {
        lease_on_chain(&client, &lease)
            .await
            .is_none()
            .then_some(())
    })
    .await;
    let (state_2, _, error, _) = common::eventually("the assignment failed", || async {
        assignment(&pool, &lease)
            .await
            .filter(|(state, _, _, _)| state == "failed")
    })
    .await;
    assert_eq!(state_2, "failed");
    // "agent silent since {failed_at} (unix s); report_failure {signature}"
    let error = error.unwrap();
    let failed_at: i64 = error
        .strip_prefix("agent silent since ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no failure time in {error:?}"));
    assert!(failed_at >= active.activated_at, "{error}");
    // The report is also kept as data, and shown by the API.
    let (_, view) = common::get_json(&format!("{http}/v1/leases/{lease}")).await;
    let report = &view["dispatch"]["assignment"]["failure_report"];
    assert_eq!(report["failed_at"], failed_at, "{view}");
    assert!(
        error.ends_with(report["signature"].as_str().unwrap()),
        "{view}"
    );
    // The program's rule: the node is paid for activated_at..failed_at, the
    // rest of the escrow is refunded.
    let served = u64::try_from(failed_at - active.activated_at).unwrap();
    let payout = math::accrued_payout(active.rate_per_gpu_hour, active.gpus, served).unwrap();
    let fee = math::network_fee(payout, active.fee_bps).unwrap();
    assert_eq!(
        token_balance(&chain, &renter.pubkey()).await,
        renter_paid + active.deposited - payout,
        "refund = deposited {} - payout {payout} for {served} s served",
        active.deposited
    );
    assert_eq!(
        token_balance(&chain, &node.owner.pubkey()).await - owner_before,
        payout - fee
    );

    agent.shutdown.cancel();
    replica.stop().await.unwrap();
    indexer.stop().await;
    // `state` kills the second job (left running by the dead agent) on drop.
    drop(state);
}
