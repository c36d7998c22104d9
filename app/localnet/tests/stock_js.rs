//! Stock `@solana/web3.js` (v1), `@solana/spl-token` and `@coral-xyz/anchor`
//! (pinned in `tests/js/package-lock.json`) against the `iomesh-localnet`
//! binary on loopback ports: a SOL transfer with `sendAndConfirmTransaction`,
//! `onAccountChange` and `onLogs`, and an SPL Token mint and transfer through
//! spl-token's helpers (`js/stock.cjs`); the iomesh program driven
//! through the checked-in IDL with `.simulate()`, `.rpc()`,
//! `program.account.market.fetch`, `addEventListener` and failing calls
//! (`js/anchor.cjs`).
//!
//! Needs Node.js: without `node` the tests are skipped with a loud message.
//! The npm packages come from `IOMESH_TEST_NODE_MODULES` (set by
//! `scripts/test`) or are installed once by `tests/js/install`.

use anchor_lang::{prelude::Pubkey, Event};
use base64::Engine;
use iomesh::{error::IomeshError, events::MarketInitialized, state::MarketParams};
use serde_json::{json, Value};
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    str::FromStr,
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
    // Keep reading after the URLs: the natively hosted program's `msg!` lines
    // go to this stdout, and the localnet panics on a closed pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
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

/// False (after a loud message) when `node` is missing.
fn node_found(test: &str) -> bool {
    if Command::new("node").arg("--version").output().is_ok() {
        return true;
    }
    eprintln!(
        "\n\n*** SKIPPED {test}: `node` not found; \
         install Node.js 20 to run the stock JavaScript tests ***\n\n"
    );
    false
}

/// Runs `tests/js/<script>` against a fresh localnet and returns its stdout.
/// The script bounds each wait itself; a script that fails prints its stack
/// (inherited stderr) and fails the test with what it had printed.
fn run_script(script: &str, env: &[(&str, &Path)]) -> String {
    let modules = node_modules();
    let (_server, rpc_url, ws_url) = start_localnet();
    let output = Command::new("node")
        .arg(js_dir().join(script))
        .env("NODE_PATH", &modules)
        .env("RPC_URL", &rpc_url)
        .env("WS_URL", &ws_url)
        .envs(env.iter().copied())
        .stderr(Stdio::inherit())
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{script} failed; stdout: {stdout}");
    stdout
}

#[test]
fn stock_web3js_confirms_a_transfer_and_hears_its_account_and_logs() {
    if !node_found("stock_web3js_confirms_a_transfer_and_hears_its_account_and_logs") {
        return;
    }
    let stdout = run_script("stock.cjs", &[]);
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

    // @solana/spl-token's helpers, each confirmed by sendAndConfirmTransaction.
    let token = &seen["token"];
    assert_eq!(token["supply"], "5000000", "{token:#}");
    assert_eq!(token["from"], "3750000", "{token:#}");
    assert_eq!(token["to"], "1250000", "{token:#}");
    assert_eq!(token["uiBalance"], "1.25", "{token:#}");
    assert_eq!(token["toOwner"], token["recipient"], "{token:#}");
    assert_eq!(token["transferErr"], Value::Null, "{token:#}");
    let spl_token = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA";
    let logs = token["transferLogs"].as_array().expect("logs");
    assert_eq!(
        logs.first(),
        Some(&json!(format!("Program {spl_token} invoke [1]")))
    );
    assert_eq!(
        logs.last(),
        Some(&json!(format!("Program {spl_token} success")))
    );
    assert!(
        logs.iter()
            .any(|l| l == "Program log: Instruction: Transfer"),
        "{logs:#?}"
    );
}

/// The JSON lines `anchor.cjs` printed, each `{"step": ..., ...}`.
fn steps(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// The first line of `step` (`case`, when given, picks among `rejected` lines).
fn step<'a>(seen: &'a [Value], step: &str, case: Option<&str>) -> &'a Value {
    seen.iter()
        .find(|line| line["step"] == step && case.is_none_or(|case| line["case"] == case))
        .unwrap_or_else(|| panic!("anchor.cjs printed no {step:?} line {case:?}: {seen:#?}"))
}

fn pubkey(value: &Value) -> Pubkey {
    Pubkey::from_str(value.as_str().expect("a base58 key")).expect("a public key")
}

fn secs(value: &Value) -> u32 {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .expect("a u32")
}

/// `expected` appear in `logs` in this order (other lines may come between).
fn assert_logs_in_order(what: &str, logs: &Value, expected: &[String]) {
    let logs: Vec<&str> = logs
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no logs"))
        .iter()
        .map(|line| line.as_str().expect("a log line"))
        .collect();
    let mut rest = logs.iter();
    for line in expected {
        assert!(
            rest.any(|log| log == line),
            "{what}: {line:?} missing or out of order in {logs:#?}"
        );
    }
}

/// A failing call rejected with the program's custom error `expected`. With
/// preflight the stock client reads the program's log ("AnchorError thrown
/// in …") and gives an `AnchorError` naming it. Without preflight, web3.js's
/// confirmation poll sees the failed status before Anchor sees any log and
/// rejects with the bare status error, which carries only the number.
fn assert_program_error(case: &str, error: &Value, expected: IomeshError, preflight: bool) {
    let name = expected.name();
    let number = u32::from(expected);
    if preflight {
        assert_eq!(error["isAnchorError"], true, "{case}: {error:#}");
        assert_eq!(
            error["anchorErrorCode"],
            json!({ "code": name, "number": number }),
            "{case}: {error:#}"
        );
        let logs = error["logs"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        assert!(
            logs.iter().any(|line| line
                .as_str()
                .is_some_and(|l| l.starts_with("Program log: AnchorError thrown in"))),
            "{case}: the program's own error line is in the logs: {error:#}"
        );
        return;
    }
    let carried = error["isAnchorError"] == true && error["anchorErrorCode"]["number"] == number
        || error["raw"] == json!({ "InstructionError": [0, { "Custom": number }] });
    assert!(
        carried,
        "{case}: expected the program's error {name} ({number}); the stock client gave {error:#}"
    );
}

#[test]
fn stock_anchor_drives_the_program_through_the_idl() {
    if !node_found("stock_anchor_drives_the_program_through_the_idl") {
        return;
    }
    let idl = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../idl/iomesh.json");
    let stdout = run_script("anchor.cjs", &[("IDL_PATH", &idl)]);
    let seen = steps(&stdout);

    let payer = step(&seen, "airdrop", None)["payer"].clone();
    let sent = step(&seen, "sent", None);
    let (market, bump) = Pubkey::find_program_address(&[iomesh::seeds::MARKET], &iomesh::ID);
    assert_eq!(sent["programId"], iomesh::ID.to_string());
    assert_eq!(sent["marketPda"], market.to_string());
    assert_eq!(
        step(&seen, "resolved", None)["accounts"],
        json!({
            "market": market.to_string(),
            "authority": payer,
            "systemProgram": "11111111111111111111111111111111",
        }),
        "Anchor resolves the market PDA from the IDL's seeds"
    );

    // The event as the program encodes it, from what the script sent.
    let p = &sent["params"];
    let event = MarketInitialized {
        authority: pubkey(&payer),
        params: MarketParams {
            treasury: pubkey(&p["treasury"]),
            scheduler_authority: pubkey(&p["schedulerAuthority"]),
            price_authority: pubkey(&p["priceAuthority"]),
            reward_authority: pubkey(&p["rewardAuthority"]),
            activation_timeout_secs: secs(&p["activationTimeoutSecs"]),
            min_lease_secs: secs(&p["minLeaseSecs"]),
            max_lease_secs: secs(&p["maxLeaseSecs"]),
            failure_grace_secs: secs(&p["failureGraceSecs"]),
        },
    };
    let program = iomesh::ID.to_string();
    let system = "11111111111111111111111111111111";
    let expected_logs = [
        format!("Program {program} invoke [1]"),
        "Program log: Instruction: InitializeMarket".to_string(),
        format!("Program {system} invoke [2]"),
        format!("Program {system} success"),
        format!(
            "Program data: {}",
            base64::engine::general_purpose::STANDARD.encode(event.data())
        ),
        format!("Program {program} success"),
    ];
    let decoded = json!({ "authority": payer, "params": p });

    let simulated = step(&seen, "simulate", None);
    assert_logs_in_order(".simulate()", &simulated["logs"], &expected_logs);
    assert_eq!(
        simulated["events"],
        json!([{ "name": "marketInitialized", "data": decoded }]),
        ".simulate() decodes the event from the simulated logs"
    );

    let signature = &step(&seen, "rpc", None)["signature"];
    assert!(signature.is_string(), ".rpc() resolves to a signature");
    let heard = step(&seen, "event", None);
    assert_eq!(heard["signature"], *signature);
    assert_eq!(
        heard["event"], decoded,
        "addEventListener hears the fields sent"
    );
    assert!(heard["slot"].as_u64().is_some_and(|slot| slot > 0));

    let transaction = step(&seen, "transaction", None);
    assert_eq!(transaction["err"], Value::Null);
    assert_logs_in_order("getTransaction", &transaction["logs"], &expected_logs);

    let default = Pubkey::default().to_string();
    assert_eq!(
        step(&seen, "market", None)["market"],
        json!({
            "version": iomesh::state::ACCOUNT_VERSION,
            "bump": bump,
            "paused": false,
            "authority": payer,
            "pendingAuthority": default,
            "treasury": p["treasury"],
            "schedulerAuthority": p["schedulerAuthority"],
            "priceAuthority": p["priceAuthority"],
            "rewardAuthority": p["rewardAuthority"],
            "activationTimeoutSecs": p["activationTimeoutSecs"],
            "minLeaseSecs": p["minLeaseSecs"],
            "maxLeaseSecs": p["maxLeaseSecs"],
            "failureGraceSecs": p["failureGraceSecs"],
            "ioMint": default,
            "slashAuthority": default,
            "stakePerGpu": "0",
            "unstakeCooldownSecs": 0,
            "slashAppealSecs": 0,
            "reserved": vec![0u8; 48],
        }),
        "program.account.market.fetch decodes what initializeMarket stored"
    );

    for (case, expected, preflight) in [
        (
            "initializeMarket twice",
            IomeshError::AccountAlreadyInUse,
            true,
        ),
        (
            "initializeMarket twice, skipPreflight",
            IomeshError::AccountAlreadyInUse,
            false,
        ),
        (
            "initializeMarket with minLeaseSecs > maxLeaseSecs",
            IomeshError::InvalidMarketParams,
            true,
        ),
    ] {
        let error = &step(&seen, "rejected", Some(case))["error"];
        assert_program_error(case, error, expected, preflight);
    }
}
