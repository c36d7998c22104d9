//! The marketplace in a real browser: Debian's Chromium driven by Playwright
//! against iomesh-web, with a Wallet Standard test wallet that signs with a
//! local key: a renter over the whole stack on a localnet (the indexer, a
//! scheduler replica and the node's real agent; tests/ts/browser.test.ts),
//! and a supplier claiming the reward the epoch job published
//! (tests/ts/supplier.test.ts). Screenshots of each page are saved in the
//! build directory (`browser-screenshots/`).

use crate::{fixtures::keypair_file, typescript::run_node_test};
use iomesh_tests::{
    chain::{unix_now, Chain, TOKEN},
    indexer::{wait_until_postgres_matches_chain, Indexer},
    rewards::{publish_epoch, wait_until_stakes_indexed},
    scheduler::uptime,
    stack::{connected, free_port, job_binary, replica, stack, start_agent},
};
use iomesh_web::{Options, Server};
use solana_keypair::Keypair;
use solana_signer::Signer;
use sqlx::PgPool;
use std::{path::PathBuf, time::Duration};

/// Chromium: `IOMESH_TEST_CHROMIUM`, else Debian's (`./scripts/test` installs it).
fn chromium() -> PathBuf {
    let path = std::env::var_os("IOMESH_TEST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "{} is missing: install Debian's chromium (./scripts/test does) or set IOMESH_TEST_CHROMIUM",
        path.display()
    );
    path
}

fn screenshots() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[sqlx::test(migrator = "iomesh_db::MIGRATOR")]
async fn a_renter_finds_a_node_rents_it_and_reads_its_job_in_a_browser(pool: PgPool) {
    let chromium = chromium();
    let s = stack(&pool).await;
    let scheduler = replica(&pool, &s, "replica-web", None).await;
    let agent = start_agent(&s.chain, &s.node, &scheduler.grpc_url(), &s.state).await;
    connected(&pool, &s.node.address, "replica-web").await;
    wait_until_postgres_matches_chain(&pool, &s.chain).await;
    let server = Server::start(
        pool.clone(),
        Options {
            scheduler_url: Some(scheduler.http_url()),
            ..Options::local(s.chain.localnet.rpc_url(), Duration::from_secs(3_600))
        },
    )
    .await
    .unwrap();
    let keys = tempfile::tempdir().unwrap();
    let renter_file = keypair_file(keys.path(), "renter", &s.renter);
    let shots = screenshots();
    run_node_test(
        "tests/ts/browser.test.ts",
        &[
            ("WEB_URL", server.url()),
            ("RPC_URL", s.chain.localnet.rpc_url()),
            ("RENTER_KEYPAIR", renter_file.display().to_string()),
            ("NODE", s.node.address.to_string()),
            ("MINT", s.chain.mint.to_string()),
            ("CHROMIUM", chromium.display().to_string()),
            ("SCREENSHOTS", shots.display().to_string()),
            (
                "JOB_BINARY",
                job_binary("iomesh-testjob").display().to_string(),
            ),
            ("JOB_HTTP_PORT", free_port().to_string()),
            ("JOB_TCP_PORT", free_port().to_string()),
        ],
    )
    .await;
    for page in [
        "1-search",
        "2-search-filtered",
        "3-node",
        "4-rented",
        "5-your-leases",
        "6-logs",
        "7-cancelled",
        "8-ended",
    ] {
        assert!(
            shots.join(format!("{page}.png")).is_file(),
            "no screenshot {page}"
        );
    }
    server.stop().await.unwrap();
    agent.shutdown.cancel();
    scheduler.stop().await.unwrap();
    s.indexer.stop().await;
}

#[sqlx::test(migrator = "iomesh_db::MIGRATOR")]
async fn a_supplier_claims_a_reward_in_a_browser(pool: PgPool) {
    let chromium = chromium();
    let chain = Chain::start().await;
    // A node staked for its 4 GPUs, IO in the rewards reserve.
    let eco = chain.economics().await;
    let indexer = Indexer::spawn(&pool, chain.localnet.grpc_url(), chain.localnet.rpc_url());
    wait_until_stakes_indexed(&pool, &[eco.node.address]).await;
    // Up for ten minutes: epoch 2 gives it all of its 5 IO.
    let now = unix_now();
    let from = now - now % 60 - 600;
    uptime(&pool, &eco.node.address, (0..10).map(|m| from + 60 * m)).await;
    let epochs = tempfile::tempdir().unwrap();
    let amount = 5 * TOKEN;
    publish_epoch(
        &pool,
        &chain,
        2,
        (from, from + 600),
        amount,
        &epochs.path().join("epoch-2.json"),
    )
    .await;
    wait_until_postgres_matches_chain(&pool, &chain).await;
    let server = Server::start(
        pool.clone(),
        Options {
            reward_epochs: Some(epochs.path().to_path_buf()),
            ..Options::local(chain.localnet.rpc_url(), Duration::from_secs(3_600))
        },
    )
    .await
    .unwrap();
    let keys = tempfile::tempdir().unwrap();
    let owner_file = keypair_file(keys.path(), "owner", &eco.node.owner);
    let shots = screenshots();
    run_node_test(
        "tests/ts/supplier.test.ts",
        &[
            ("WEB_URL", server.url()),
            ("RPC_URL", chain.localnet.rpc_url()),
            ("OWNER_KEYPAIR", owner_file.display().to_string()),
            ("NODE", eco.node.address.to_string()),
            ("IO_MINT", eco.io_mint.to_string()),
            ("EPOCH", "2".into()),
            ("AMOUNT", amount.to_string()),
            ("CHROMIUM", chromium.display().to_string()),
            ("SCREENSHOTS", shots.display().to_string()),
        ],
    )
    .await;
    for page in ["supplier-1-rewards", "supplier-2-claimed"] {
        assert!(
            shots.join(format!("{page}.png")).is_file(),
            "no screenshot {page}"
        );
    }
    // The claim Action names who may claim, and an epoch it has no file of.
    let http = reqwest::Client::new();
    let claim = |epoch: &str| {
        format!(
            "{}/api/actions/claim/{epoch}/{}",
            server.url(),
            eco.node.address
        )
    };
    let stranger = Keypair::new().pubkey();
    let response = http
        .post(claim("2"))
        .json(&serde_json::json!({ "account": stranger.to_string() }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["message"],
        format!(
            "account {stranger} is not the owner this reward pays ({owner}; the node's owner is {owner}): only the node's owner claims",
            owner = eco.node.owner.pubkey()
        )
    );
    for (epoch, status, expected) in [
        (
            "3",
            reqwest::StatusCode::NOT_FOUND,
            "no epoch file for epoch 3 is published here",
        ),
        (
            "x",
            reqwest::StatusCode::BAD_REQUEST,
            "epoch `x` is not an epoch number",
        ),
    ] {
        let response = http.get(claim(epoch)).send().await.unwrap();
        assert_eq!(response.status(), status);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["message"], expected);
    }
    server.stop().await.unwrap();
    indexer.stop().await;
}
