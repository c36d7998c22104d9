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
    run_node_test(
        "tests/ts/lease.test.ts",
        &[
            ("RPC_URL", chain.localnet.rpc_url()),
            ("WS_URL", chain.localnet.pubsub_url()),
            ("AUTHORITY_KEYPAIR", authority.display().to_string()),
            ("MINT", chain.mint.to_string()),
            ("TREASURY", chain.treasury.pubkey().to_string()),
        ],
    )
    .await;
}

/// Runs one TypeScript test file with node:test (tsx compiling it) from the
/// repository's root, with `env`; fails with its report unless its one test
/// passed.
pub async fn run_node_test(file: &str, env: &[(&str, String)]) {
    node_modules();
    let mut node = Command::new("node");
    node.args(["--import", "tsx", "--test", file])
        .current_dir(repository())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    let what = format!("node --test {file}");
    let report = tokio::task::spawn_blocking(move || run(&mut node, &what))
        .await
        .unwrap();
    // node:test's summary: one test, passed.
    assert!(
        report.contains("# pass 1") && report.contains("# fail 0"),
        "{report}"
    );
}

/// iomesh-web compiles in app/web/static/app.js, so that building it needs
/// no npm: it must be what Vite builds from app/web/frontend now, and small.
#[test]
fn the_served_script_is_the_build_of_its_sources() {
    let vite = node_modules().join(".bin/vite");
    let out = tempfile::tempdir().unwrap();
    run(
        Command::new(vite)
            .args([
                "build",
                "--config",
                "app/web/frontend/vite.config.mjs",
                "--outDir",
            ])
            .arg(out.path())
            .current_dir(repository()),
        "vite build",
    );
    let built = std::fs::read(out.path().join("app.js")).unwrap();
    let served = std::fs::read(repository().join("app/web/static/app.js")).unwrap();
    assert!(
        built == served,
        "app/web/static/app.js is stale: run `npx vite build --config app/web/frontend/vite.config.mjs` and commit it"
    );
    // The budget is 300 KB gzipped; the script is far below it even
    // uncompressed.
    assert!(served.len() < 300 * 1024, "{} bytes", served.len());
}
