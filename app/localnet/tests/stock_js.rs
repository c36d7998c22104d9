//! Stock `@solana/web3.js` (v1, pinned in `tests/js/package-lock.json`)
//! against the `iomesh-localnet` binary on loopback ports: a SOL transfer
//! with `sendAndConfirmTransaction`, `onAccountChange` and `onLogs`.
//!
//! Needs Node.js: without `node` the test is skipped with a loud message.
//! The npm packages come from `IOMESH_TEST_NODE_MODULES` (set by
//! `scripts/test`) or are installed once by `tests/js/install`.

use serde_json::Value;
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

const TIMEOUT: Duration = Duration::from_secs(60);

/// The localnet binary, stopped (by its own id) when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

fn node_modules() -> PathBuf {
    if let Some(dir) = std::env::var_os("IOMESH_TEST_NODE_MODULES") {
        return PathBuf::from(dir);
    }
    let output = Command::new(js_dir().join("install"))
        .stderr(Stdio::inherit())
        .output()
        .expect("running tests/js/install");
    assert!(output.status.success(), "tests/js/install failed");
    PathBuf::from(String::from_utf8(output.stdout).expect("a path").trim())
}

/// Starts the binary on free ports; returns it with its JSON-RPC and
/// PubSub URLs, read from its stdout.
fn start_localnet() -> (Server, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_iomesh-localnet"))
        .args(["--rpc-port", "0", "--grpc-port", "0", "--slot-ms", "100"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("iomesh-localnet starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let server = Server(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut rpc, mut ws) = (None, None);
    while rpc.is_none() || ws.is_none() {
        let line = rx
            .recv_timeout(TIMEOUT)
            .expect("the localnet prints its URLs");
        if let Some(url) = line.strip_prefix("JSON-RPC URL: ") {
            rpc = Some(url.to_owned());
        } else if let Some(url) = line.strip_prefix("PubSub URL: ") {
            ws = Some(url.to_owned());
        }
    }
    (server, rpc.unwrap(), ws.unwrap())
}

#[test]
fn stock_web3js_confirms_a_transfer_and_hears_its_account_and_logs() {
    if Command::new("node").arg("--version").output().is_err() {
        eprintln!(
            "\n\n*** SKIPPED stock_web3js_confirms_a_transfer_and_hears_its_account_and_logs: \
             `node` not found; install Node.js 20 to run the stock web3.js test ***\n\n"
        );
        return;
    }
    let modules = node_modules();
    let (_server, rpc_url, ws_url) = start_localnet();
    let output = Command::new("node")
        .arg(js_dir().join("stock.cjs"))
        .env("NODE_PATH", &modules)
        .env("RPC_URL", &rpc_url)
        .env("WS_URL", &ws_url)
        .stderr(Stdio::inherit())
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stock.cjs failed; stdout: {stdout}"
    );
    let seen: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    let transfer = seen["transfer"].as_str().expect("a signature");
    assert_eq!(seen["account"]["lamports"], 1_234_567);
    assert_eq!(seen["account"]["owner"], "11111111111111111111111111111111");
    assert_eq!(seen["logs"]["signature"], transfer);
    assert_eq!(seen["logs"]["err"], Value::Null);
    assert_eq!(
        seen["logs"]["logs"],
        serde_json::json!([
            "Program 11111111111111111111111111111111 invoke [1]",
            "Program 11111111111111111111111111111111 success",
        ])
    );
    assert_eq!(seen["account"]["slot"], seen["logs"]["slot"]);
}
