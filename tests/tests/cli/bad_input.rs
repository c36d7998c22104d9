//! Bad input gets a clear error naming what was wrong, and a non-zero exit.

use crate::common::*;
use solana_keypair::Keypair;
use solana_signer::Signer;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_is_refused_with_a_clear_error() {
    let env = Env::start().await;
    let renter = env.wallet("renter");
    let supplier = env.wallet("supplier");
    env.iomesh(&renter, &["airdrop", "5"]).await.json();
    env.iomesh(&supplier, &["airdrop", "5"]).await.json();
    let registered = env
        .iomesh(
            &supplier,
            &argv!(
                "node register --gpu-model {} --gpus 2 --vram-gib 24 --region eu-west --price 2",
                "RTX 4090"
            ),
        )
        .await
        .json();
    let node = s(&registered["node"]);
    let spec = env.dir.path().join("job.json");
    std::fs::write(&spec, b"{}").unwrap();
    let spec = spec.display().to_string();

    // A keypair file that does not exist.
    let missing = Wallet {
        keypair: Keypair::new(),
        path: env.dir.path().join("nope/id.json"),
    };
    env.iomesh(&missing, &["balance"])
        .await
        .fails_with("nope/id.json (--keypair) does not exist");
    // A file that is not a keypair.
    let garbage = Wallet {
        keypair: Keypair::new(),
        path: spec.clone().into(),
    };
    env.iomesh(&garbage, &["balance"])
        .await
        .fails_with("is not a Solana keypair");

    // A node nobody registered.
    let stranger = Keypair::new().pubkey().to_string();
    env.iomesh(
        &renter,
        &argv!(
            "lease create --node {} --gpus 1 --hours 1 --mint IO --job-spec {}",
            &stranger,
            &spec
        ),
    )
    .await
    .fails_with(&format!("unknown node {stranger}"));

    // Not enough IO: 1 IO held, 4 IO needed ($2 for 1 GPU-hour at $0.50).
    env.iomesh(&renter, &["faucet", "IO", "1"]).await.json();
    env.iomesh(
        &renter,
        &argv!(
            "lease create --node {} --gpus 1 --hours 1 --mint IO --job-spec {}",
            &node,
            &spec
        ),
    )
    .await
    .fails_with("insufficient IO balance");
    let run = env
        .iomesh(
            &renter,
            &argv!(
                "lease create --node {} --gpus 1 --hours 1 --mint IO --job-spec {}",
                &node,
                &spec
            ),
        )
        .await;
    run.fails_with("4 IO needed, 1 IO held; 3 IO missing");
    assert_eq!(
        env.balance(&renter.pubkey(), "IO").await,
        1_000_000,
        "nothing moved"
    );

    // A token the market does not accept.
    env.iomesh(
        &renter,
        &argv!(
            "lease create --node {} --gpus 1 --hours 1 --mint DOGE --job-spec {}",
            &node,
            &spec
        ),
    )
    .await
    .fails_with("unknown token `DOGE`: the market accepts IO, IOSD, USDC");

    // A program error, decoded by name and message: more GPUs than the node has.
    env.iomesh(&renter, &["faucet", "USDC", "100"]).await.json();
    env.iomesh(
        &renter,
        &argv!(
            "lease create --node {} --gpus 3 --hours 1 --mint USDC --job-spec {}",
            &node,
            &spec
        ),
    )
    .await
    .fails_with("Overbooked (6034): requested GPUs exceed the node's free GPUs (overbooking)");

    // Someone else's lease cannot be cancelled.
    let created = env
        .iomesh(
            &renter,
            &argv!(
                "lease create --node {} --gpus 1 --hours 1 --mint USDC --job-spec {}",
                &node,
                &spec
            ),
        )
        .await
        .json();
    let lease = s(&created["lease"]);
    env.iomesh(&supplier, &["lease", "cancel", &lease])
        .await
        .fails_with("only the renter can cancel lease");
    // Closing a lease that has not run to its end is refused by the program.
    env.iomesh(&supplier, &["lease", "close", &lease])
        .await
        .fails_with("LeaseNotActive");

    // Invalid amounts and durations.
    env.iomesh(&renter, &["faucet", "IO", "1.0000001"])
        .await
        .fails_with("more than 6 decimal places");
    env.iomesh(&renter, &["faucet", "IO", "ten"])
        .await
        .fails_with("`ten` is not an amount");
    env.iomesh(&renter, &["faucet", "IO", "0"])
        .await
        .fails_with("must be greater than zero");
    env.iomesh(&renter, &["airdrop", "abc"])
        .await
        .fails_with("SOL amount: `abc` is not an amount");
    env.iomesh(
        &renter,
        &argv!(
            "lease create --node {} --gpus 1 --hours 1h1h --mint IO --job-spec {}",
            &node,
            &spec
        ),
    )
    .await
    .fails_with("is not a duration");
    env.iomesh(
        &supplier,
        &["node", "update", &node, "--price", "2.0000001"],
    )
    .await
    .fails_with("--price");

    // The Solana CLI config supplies the URL and the keypair; a missing
    // explicit --config is an error.
    let config = env.dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "---\njson_rpc_url: \"{}\"\nwebsocket_url: ''\nkeypair_path: {}\ncommitment: confirmed\n",
            env.localnet.rpc_url(),
            renter.path.display()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let run = run_binary(vec![
        "--config".into(),
        config,
        "--output".into(),
        "json".into(),
        "balance".into(),
    ])
    .await;
    assert_eq!(s(&run.json()["address"]), renter.pubkey());
    let run = run_binary(vec![
        "--config".into(),
        "/nonexistent/config.yml".into(),
        "balance".into(),
    ])
    .await;
    run.fails_with("cannot read the Solana CLI config file /nonexistent/config.yml");

    // The URL: an unknown moniker, and an endpoint nobody listens on.
    let run = run_binary(vec![
        "--url".into(),
        "mainnet".into(),
        "gpus".into(),
        "search".into(),
    ])
    .await;
    run.fails_with("invalid --url `mainnet`");
    let run = run_binary(vec![
        "-u".into(),
        "http://127.0.0.1:9".into(),
        "gpus".into(),
        "search".into(),
    ])
    .await;
    run.fails_with("cannot reach the RPC endpoint http://127.0.0.1:9");
}
