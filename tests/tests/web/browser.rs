//! The marketplace in a real browser: Debian's Chromium driven by Playwright
//! (tests/ts/browser.test.ts) against iomesh-web over a localnet and the
//! indexer, with a Wallet Standard test wallet that signs with the renter's
//! key. Screenshots of each page are saved in the build directory
//! (`browser-screenshots/`).

use crate::{fixtures::connected, typescript::run_node_test};
use iomesh_tests::{
    chain::Chain,
    indexer::{wait_until_postgres_matches_chain, Indexer},
};
use iomesh_web::{Options, Server};
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
async fn a_renter_finds_a_node_and_rents_it_in_a_browser(pool: PgPool) {
    let chromium = chromium();
    let chain = Chain::start().await;
    let node = chain.register_node(4).await;
    let renter = chain.renter(10).await;
    let indexer = Indexer::spawn(&pool, chain.localnet.grpc_url(), chain.localnet.rpc_url());
    wait_until_postgres_matches_chain(&pool, &chain).await;
    // Its agent holds a session: the search lists it.
    connected(&pool, &node.address).await;
    let server = Server::start(
        pool.clone(),
        Options::local(chain.localnet.rpc_url(), Duration::from_secs(3_600)),
    )
    .await
    .unwrap();
    let keys = tempfile::tempdir().unwrap();
    let renter_file = keys.path().join("renter.json");
    std::fs::write(
        &renter_file,
        serde_json::to_string(&renter.to_bytes().to_vec()).unwrap(),
    )
    .unwrap();
    let shots = screenshots();
    run_node_test(
        "tests/ts/browser.test.ts",
        &[
            ("WEB_URL", server.url()),
            ("RPC_URL", chain.localnet.rpc_url()),
            ("RENTER_KEYPAIR", renter_file.display().to_string()),
            ("NODE", node.address.to_string()),
            ("MINT", chain.mint.to_string()),
            ("CHROMIUM", chromium.display().to_string()),
            ("SCREENSHOTS", shots.display().to_string()),
        ],
    )
    .await;
    for page in [
        "1-search",
        "2-search-filtered",
        "3-node",
        "4-rented",
        "5-your-leases",
        "6-cancelled",
        "7-ended",
    ] {
        assert!(
            shots.join(format!("{page}.png")).is_file(),
            "no screenshot {page}"
        );
    }
    server.stop().await.unwrap();
    indexer.stop().await;
}
