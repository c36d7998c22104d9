//! `iomesh node register --agent-gpus`: a node listed from what the real
//! `iomesh-agent gpus --json` prints, and agent lists a node cannot hold.

use crate::common::*;
use std::{path::PathBuf, process::Command};

/// The `iomesh-agent` binary, built next to `iomesh` by
/// `cargo build --workspace` (a dependency would build only its library).
fn agent_binary() -> PathBuf {
    iomesh_tests::workspace_binary("iomesh-agent")
}

/// Stdout of `iomesh-agent <args> gpus --json`.
async fn agent_gpus_json(args: &[&str]) -> Vec<u8> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(agent_binary())
            .args(&args)
            .args(["gpus", "--json"])
            .env_remove("IOMESH_AGENT_GPUS")
            .env_remove("IOMESH_AGENT_GPUS_FILE")
            .output()
            .expect("run iomesh-agent");
        assert!(
            out.status.success(),
            "iomesh-agent gpus --json failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    })
    .await
    .expect("join")
}

fn register_args<'a>(operator: &'a str, agent_gpus: &'a str) -> Vec<&'a str> {
    vec![
        "node",
        "register",
        "--operator",
        operator,
        "--agent-gpus",
        agent_gpus,
        "--region",
        "eu-west",
        "--price",
        "2.00",
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registers_a_node_from_the_agents_gpu_list() {
    let env = Env::start().await;
    let supplier = env.wallet("supplier");
    env.iomesh(&supplier, &["airdrop", "5"]).await.json();

    // iomesh-agent --gpus '4x…' gpus --json | iomesh node register --agent-gpus - …
    let listed = agent_gpus_json(&["--gpus", "4xNVIDIA GeForce RTX 4090:24564"]).await;
    let operator = env.wallet("operator");
    let op = operator.path.display().to_string();
    let registered = env
        .iomesh_with_stdin(&supplier, &register_args(&op, "-"), listed)
        .await
        .json();
    let node = env
        .iomesh(&supplier, &["node", "show", &operator.pubkey()])
        .await
        .json();
    assert_eq!(node["address"], registered["node"]);
    assert_eq!(s(&node["gpu_model"]), "RTX 4090");
    assert_eq!(u(&node["gpu_count"]), 4);
    assert_eq!(u(&node["vram_mib"]), 24564);
    assert_eq!(s(&node["region"]), "eu-west");
    assert_eq!(u(&node["price_usd_micros_per_gpu_hour"]), 2_000_000);

    // Four more GPUs in the machine: `node update` takes the new list; the
    // region and the price stay.
    let listed = agent_gpus_json(&["--gpus", "8xNVIDIA GeForce RTX 4090:24564"]).await;
    env.iomesh_with_stdin(
        &supplier,
        &["node", "update", &operator.pubkey(), "--agent-gpus", "-"],
        listed,
    )
    .await
    .json();
    let node = env
        .iomesh(&supplier, &["node", "show", &operator.pubkey()])
        .await
        .json();
    assert_eq!(u(&node["gpu_count"]), 8);
    assert_eq!(s(&node["gpu_model"]), "RTX 4090");
    assert_eq!(s(&node["region"]), "eu-west");
    assert_eq!(u(&node["price_usd_micros_per_gpu_hour"]), 2_000_000);

    // GPUs of one model with different VRAM, from a file: the smallest is
    // listed, and the supplier is told so.
    let file = env.dir.path().join("uneven.json");
    std::fs::write(
        &file,
        r#"[{"index": 0, "uuid": "GPU-a", "model": "NVIDIA A100-SXM4-80GB", "vram_mib": 81920},
            {"index": 1, "uuid": "GPU-b", "model": "NVIDIA A100-SXM4-80GB", "vram_mib": 81559}]"#,
    )
    .unwrap();
    let listed = agent_gpus_json(&["--gpus-file", &file.display().to_string()]).await;
    let file = env.dir.path().join("agent-gpus.json");
    std::fs::write(&file, listed).unwrap();
    let operator = env.wallet("operator2");
    let op = operator.path.display().to_string();
    let run = env
        .iomesh(&supplier, &register_args(&op, &file.display().to_string()))
        .await;
    run.json();
    assert!(
        run.stderr
            .contains("VRAM differs (81559 to 81920 MiB); listing the smallest, 81559 MiB"),
        "{}",
        run.stderr
    );
    let node = env
        .iomesh(&supplier, &["node", "show", &operator.pubkey()])
        .await
        .json();
    assert_eq!(s(&node["gpu_model"]), "A100-SXM4-80GB");
    assert_eq!(u(&node["gpu_count"]), 2);
    assert_eq!(u(&node["vram_mib"]), 81559);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agent_gpu_lists_a_node_cannot_hold_are_refused() {
    let env = Env::start().await;
    let supplier = env.wallet("supplier");
    env.iomesh(&supplier, &["airdrop", "5"]).await.json();
    let operator = env.wallet("operator");
    let op = operator.path.display().to_string();
    let write_file = |name: &str, json: &str| {
        let path = env.dir.path().join(name);
        std::fs::write(&path, json).unwrap();
        path.display().to_string()
    };

    // Two models on one machine, as the agent prints them (it lists what it
    // finds; one listing per model is the CLI's rule).
    let mixed = write_file(
        "mixed.json",
        r#"[{"index": 0, "uuid": "GPU-a", "model": "NVIDIA GeForce RTX 4090", "vram_mib": 24564},
            {"index": 1, "uuid": "GPU-b", "model": "NVIDIA A100-SXM4-80GB", "vram_mib": 81920},
            {"index": 2, "uuid": "GPU-c", "model": "NVIDIA GeForce RTX 4090", "vram_mib": 24564}]"#,
    );
    let listed = agent_gpus_json(&["--gpus-file", &mixed]).await;
    env.iomesh_with_stdin(&supplier, &register_args(&op, "-"), listed)
        .await
        .fails_with(
            "the agent lists GPUs of 2 models (1x A100-SXM4-80GB, 2x RTX 4090), \
             but a node lists one model: run one agent per model",
        );

    // A machine without GPUs.
    let empty = write_file("empty.json", "[]");
    let listed = agent_gpus_json(&["--gpus-file", &empty]).await;
    env.iomesh_with_stdin(&supplier, &register_args(&op, "-"), listed)
        .await
        .fails_with("the agent lists no GPUs");

    // Not the agent's output at all, and a file that is missing.
    env.iomesh_with_stdin(
        &supplier,
        &register_args(&op, "-"),
        b"no devices were found".to_vec(),
    )
    .await
    .fails_with("--agent-gpus - (stdin): not the output of `iomesh-agent gpus --json`");
    env.iomesh(&supplier, &register_args(&op, "/nonexistent/gpus.json"))
        .await
        .fails_with("--agent-gpus /nonexistent/gpus.json: reading the file");

    // The agent's list replaces the GPU flags; both at once is refused.
    let mut both = register_args(&op, &mixed);
    both.extend(["--gpus", "4"]);
    env.iomesh(&supplier, &both)
        .await
        .fails_with("'--agent-gpus <FILE>' cannot be used with '--gpus <GPUS>'");

    // Nothing was registered.
    env.iomesh(&supplier, &["node", "show", &operator.pubkey()])
        .await
        .fails_with(&format!("unknown node {}", operator.pubkey()));
    let nodes = env.iomesh(&supplier, &["node", "list"]).await.json();
    assert_eq!(nodes.as_array().map(Vec::len), Some(0), "{nodes}");
}
