//! `iomesh-localnet --bootstrap` as a user runs it: a child process that
//! serves JSON-RPC, creates the mints and market and prints bootstrap.json,
//! which the wallet CLI then uses (faucet, market show).

use crate::common::*;
use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localnet_bootstrap_creates_mints_market_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let keypair = dir.path().join("id.json");
    let localnet_dir = dir.path().join("localnet");
    let args = |extra: &[&str]| {
        let mut args: Vec<String> = vec![
            "--bootstrap".into(),
            "--keypair".into(),
            keypair.display().to_string(),
            "--rpc-port".into(),
            "0".into(),
            "--grpc-port".into(),
            "0".into(),
            "--slot-ms".into(),
            "100".into(),
            "--dir".into(),
            localnet_dir.display().to_string(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    };

    // Without the keypair file, and without --new-keypair, nothing starts.
    let refused = Command::new(localnet_binary())
        .args(args(&[]))
        .output()
        .expect("iomesh-localnet runs");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("add --new-keypair to create it"),
        "{stderr}"
    );

    let mut child = Command::new(localnet_binary())
        .args(args(&["--new-keypair"]))
        .env("HOME", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn iomesh-localnet");
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let printed: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("bootstrap JSON on stdout ({e}): {line}"));
    let file: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(localnet_dir.join("bootstrap.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(printed, file, "stdout and bootstrap.json agree");
    assert!(
        printed["grpc_url"]
            .as_str()
            .is_some_and(|url| url.starts_with("http://127.0.0.1:")),
        "bootstrap.json names the gRPC endpoint: {printed}"
    );
    assert!(
        keypair.exists(),
        "--new-keypair created the authority keypair"
    );
    assert_eq!(
        s(&printed["program_id"]),
        iomesh_client::iomesh::ID.to_string()
    );
    assert_eq!(
        s(&printed["market"]),
        iomesh_client::pda::market().to_string()
    );
    let token = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA";
    let token_2022 = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb";
    for (symbol, program, fee_bps, source) in [
        ("IO", token, 25, "authority"),
        ("IOSD", token_2022, 0, "stable"),
        ("USDC", token, 200, "stable"),
    ] {
        let mint = &printed["mints"][symbol];
        assert_eq!(u(&mint["decimals"]), 6, "{symbol}");
        assert_eq!(s(&mint["token_program"]), program, "{symbol}");
        assert_eq!(u(&mint["fee_bps"]), fee_bps, "{symbol}");
        assert_eq!(s(&mint["price_source"]), source, "{symbol}");
    }

    // The faucet works against it, and `market show` reads the market.
    let url = s(&printed["rpc_url"]);
    let common = |cmd: &[&str]| {
        let mut args: Vec<String> = vec![
            "-u".into(),
            url.clone(),
            "-k".into(),
            keypair.display().to_string(),
            "--localnet-dir".into(),
            localnet_dir.display().to_string(),
            "--output".into(),
            "json".into(),
        ];
        args.extend(cmd.iter().map(|a| a.to_string()));
        args
    };
    let minted = run_binary(common(&["faucet", "io", "12.5"])).await.json();
    assert_eq!(u(&minted["balance"]), 12_500_000);
    assert_eq!(s(&minted["symbol"]), "IO");
    // IOSD minting is set up: the program holds the IOSD mint authority.
    let iosd = &printed["iosd"];
    assert_eq!(
        s(&iosd["config"]),
        iomesh_client::pda::iosd_config().to_string()
    );
    assert_eq!(u(&iosd["max_price_age_secs"]), 60);
    run_binary(common(&["faucet", "iosd", "1"]))
        .await
        .fails_with("the faucet cannot mint IOSD");
    let market = run_binary(common(&["market", "show"])).await.json();
    assert_eq!(market["authority"], printed["authority"]);
    assert_eq!(market["payment_mints"].as_array().unwrap().len(), 3);

    child.kill().unwrap();
    child.wait().unwrap();
}

/// The `iomesh-localnet` binary the workspace build put next to this test's
/// own directory (target/<profile>/).
fn localnet_binary() -> std::path::PathBuf {
    iomesh_tests::workspace_binary("iomesh-localnet")
}
