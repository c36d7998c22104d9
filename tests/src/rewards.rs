//! The epoch reward job as a node owner meets it: the staked nodes indexed,
//! their agents' uptime recorded, and `iomesh-scheduler rewards --publish`
//! run as its binary, writing the epoch file and publishing the root.

use crate::{chain::Chain, scheduler::eventually, workspace_binary};
use solana_pubkey::Pubkey;
use sqlx::{PgPool, Row};
use std::path::Path;

/// Waits until the market's staking policy and every node of `nodes`, with
/// its stake, are indexed (the reward job reads both from Postgres).
pub async fn wait_until_stakes_indexed(pool: &PgPool, nodes: &[Pubkey]) {
    let keys: Vec<Vec<u8>> = nodes.iter().map(|n| n.to_bytes().to_vec()).collect();
    eventually("the staked nodes and the market indexed", || async {
        let row = sqlx::query(
            "SELECT (SELECT stake_per_gpu IS NOT NULL FROM markets) AS market, \
                    (SELECT count(*) FROM nodes WHERE pubkey = ANY($1) AND staked IS NOT NULL) AS nodes",
        )
        .bind(&keys)
        .fetch_one(pool)
        .await
        .unwrap();
        let market: Option<bool> = row.get("market");
        let staked = row.get::<i64, _>("nodes") == keys.len() as i64;
        (market == Some(true) && staked).then_some(())
    })
    .await;
}

/// Runs the reward job for `epoch` over `[from, to)` distributing `amount`
/// IO base units, writing the epoch file to `out` and publishing it signed
/// by the chain's authority (the market's reward authority); returns its
/// standard output. Panics with its output if it fails.
pub async fn publish_epoch(
    pool: &PgPool,
    chain: &Chain,
    epoch: u64,
    (from, to): (i64, i64),
    amount: u64,
    out: &Path,
) -> String {
    let keys = tempfile::tempdir().unwrap();
    let keypair = keys.path().join("reward_authority.json");
    solana_keypair::write_keypair_file(&chain.authority, &keypair).unwrap();
    let options = pool.connect_options();
    let database_url = format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap()
    );
    let output = tokio::process::Command::new(workspace_binary("iomesh-scheduler"))
        .args(["rewards", "--epoch", &epoch.to_string()])
        .args(["--from", &from.to_string(), "--to", &to.to_string()])
        .args(["--amount", &amount.to_string()])
        .arg("--out")
        .arg(out)
        .arg("--publish")
        .arg("--keypair")
        .arg(&keypair)
        .args(["--claim-window-secs", "3600", "--url"])
        .arg(chain.localnet.rpc_url())
        .env("DATABASE_URL", &database_url)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    stdout
}
