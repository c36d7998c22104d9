//! The TypeScript side, run as its users run it: the Codama client
//! (clients/js, generated from idl/iomesh.json by `scripts/ts-env`)
//! type-checks against @solana/kit, and the Anchor-convention tests in
//! tests/ts drive the program on a localnet from TypeScript (register, rent,
//! activate, cancel, exact balances), confirming through PubSub.

use iomesh_tests::chain::Chain;
use solana_signer::Signer;
use std::{
    path::{Path, PathBuf},
    process::Command,
};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The root's node_modules, which `scripts/ts-env` links (`./scripts/test` runs it).
fn node_modules() -> PathBuf {
    let dir = repository().join("node_modules");
    assert!(
        dir.join("tsx").is_dir() && repository().join("clients/js/src/generated").is_dir(),
        "{} or the generated client is missing: run scripts/ts-env first",
        dir.display()
    );
    dir
}

fn run(command: &mut Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

#[test]
fn the_generated_client_and_the_tests_type_check() {
    let tsc = node_modules().join(".bin/tsc");
    run(
        Command::new(tsc)
            .args(["--noEmit", "-p", "."])
            .current_dir(repository()),
        "tsc --noEmit",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript_rents_activates_and_cancels_with_exact_balances() {
    node_modules();
    let chain = Chain::start().await;
    let keys = tempfile::tempdir().unwrap();
    let authority = keys.path().join("authority.json");
    std::fs::write(
        &authority,
        serde_json::to_string(&chain.authority.to_bytes().to_vec()).unwrap(),
    )
    .unwrap();
    let mut node = Command::new("node");
    node.args(["--import", "tsx", "--test", "tests/ts/lease.test.ts"])
        .current_dir(repository())
        .env("RPC_URL", chain.localnet.rpc_url())
        .env("WS_URL", chain.localnet.pubsub_url())
        .env("AUTHORITY_KEYPAIR", &authority)
        .env("MINT", chain.mint.to_string())
        .env("TREASURY", chain.treasury.pubkey().to_string());
    let report = tokio::task::spawn_blocking(move || run(&mut node, "node --test tests/ts"))
        .await
        .unwrap();
    // node:test's summary: one test, passed.
    assert!(
        report.contains("# pass 1") && report.contains("# fail 0"),
        "{report}"
    );
}
