//! The market authority's and supplier's commands, and the lease endings
//! other than cancel: extend, close after the end, expire when never activated.

use crate::common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn market_admin_node_lifecycle_extend_close_and_expire() {
    let env = Env::start().await;
    let admin = &env.authority;
    let supplier = env.wallet("supplier");
    let renter = env.wallet("renter");
    let successor = env.wallet("successor");
    for wallet in [&supplier, &renter, &successor] {
        env.iomesh(wallet, &["airdrop", "5"]).await.json();
    }

    // Market policy and payment mints; the first with a priority fee bid as
    // the Solana CLI spells it: the fee grows by price × limit, rounded up.
    let updated = env
        .iomesh(
            admin,
            &argv!("market update --min-lease 5s --with-compute-unit-price 2500"),
        )
        .await
        .json();
    let budget = env.budget(&s(&updated["signature"])).await;
    assert_eq!(budget.price, Some(2_500), "{budget:?}");
    assert!(u64::from(budget.limit) >= budget.units, "{budget:?}");
    let priority = (2_500 * u64::from(budget.limit)).div_ceil(1_000_000);
    assert_eq!(budget.fee, 5_000 + priority, "{budget:?}");
    env.iomesh(admin, &["market", "set-price", "IO", "0.25"])
        .await
        .json();
    env.iomesh(
        admin,
        &["market", "update-mint", "USDC", "--fee-bps", "100"],
    )
    .await
    .json();
    let market = env.iomesh(admin, &["market", "show"]).await.json();
    assert_eq!(u(&market["min_lease_secs"]), 5);
    assert_eq!(u(&market["activation_timeout_secs"]), 600, "unchanged");
    let mint = |symbol: &str| {
        market["payment_mints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["symbol"] == symbol)
            .unwrap()
            .clone()
    };
    assert_eq!(u(&mint("IO")["usd_price_micros"]), 250_000);
    assert_eq!(u(&mint("USDC")["fee_bps"]), 100);
    assert_eq!(u(&mint("IO")["fee_bps"]), 25, "unchanged");
    // Only the authority governs.
    env.iomesh(&renter, &["market", "pause"])
        .await
        .fails_with("NotMarketAuthority");

    // The supplier lists, reprices, pauses and resumes a node.
    let node = s(&env
        .iomesh(
            &supplier,
            &argv!("node register --gpu-model A100 --gpus 2 --vram-mib 40960 --region ap-south --price 3 --min-lease 5s"),
        )
        .await
        .json()["node"]);
    env.iomesh(&supplier, &["node", "update", &node, "--price", "3.60"])
        .await
        .json();
    let shown = env.iomesh(&renter, &["node", "show", &node]).await.json();
    assert_eq!(u(&shown["price_usd_micros_per_gpu_hour"]), 3_600_000);
    assert_eq!(u(&shown["min_lease_secs"]), 5);
    assert_eq!(s(&shown["gpu_model"]), "A100", "unchanged");
    env.iomesh(&renter, &["node", "pause", &node])
        .await
        .fails_with("NotNodeOwner");
    env.iomesh(&supplier, &["node", "pause", &node])
        .await
        .json();
    let found = env.iomesh(&renter, &["gpus", "search"]).await.json();
    assert!(
        found.as_array().unwrap().is_empty(),
        "paused nodes are not offered"
    );

    let spec = env.dir.path().join("job.json");
    std::fs::write(&spec, b"{\"image\":\"vllm\"}").unwrap();
    let spec = spec.display().to_string();
    env.iomesh(&renter, &["faucet", "IO", "100"]).await.json();
    let create = |secs: &'static str| {
        let node = node.clone();
        let spec = spec.clone();
        let renter = &renter;
        let env = &env;
        async move {
            env.iomesh(
                renter,
                &argv!(
                    "lease create --node {} --gpus 1 --hours {} --mint IO --job-spec {}",
                    &node,
                    secs,
                    &spec
                ),
            )
            .await
        }
    };
    create("5s").await.fails_with("NodeNotAvailable");
    env.iomesh(&supplier, &["node", "resume", &node])
        .await
        .json();
    env.iomesh(admin, &["market", "pause"]).await.json();
    create("5s").await.fails_with("MarketPaused");
    env.iomesh(admin, &["market", "resume"]).await.json();

    // Lease A: 5 s, extended to 8 s, run to its end and closed.
    let rate = expected_rate(3_600_000, 250_000, 6);
    assert_eq!(
        rate, 14_400_000,
        "$3.60 at $0.25 per IO: 14.4 IO per GPU-hour"
    );
    let lease_a = create("5s").await.json();
    assert_eq!(u(&lease_a["deposit"]), expected_deposit(rate, 1, 5));
    let lease_a = s(&lease_a["lease"]);
    let extended = env
        .iomesh(&renter, &["lease", "extend", &lease_a, "--hours", "3s"])
        .await
        .json();
    let deposit_a = expected_deposit(rate, 1, 8);
    assert_eq!(
        u(&extended["added_deposit"]),
        deposit_a - expected_deposit(rate, 1, 5)
    );
    assert_eq!(
        env.balance(&renter.pubkey(), "IO").await,
        100_000_000 - deposit_a
    );
    env.iomesh(&supplier, &["lease", "activate", &lease_a])
        .await
        .json();
    env.iomesh(&renter, &["lease", "close", &lease_a])
        .await
        .fails_with("LeaseNotEnded");
    tokio::time::sleep(Duration::from_secs(9)).await;
    let closed = env
        .iomesh(&renter, &["lease", "close", &lease_a])
        .await
        .json();
    let paid = expected_accrued(rate, 1, 8);
    let fee = expected_fee(paid, 25);
    assert_eq!(
        paid, deposit_a,
        "a lease run to its end pays its whole deposit"
    );
    assert_eq!(u(&closed["refunded"]), 0);
    assert_eq!(env.balance(&supplier.pubkey(), "IO").await, paid - fee);
    assert_eq!(env.balance(&admin.pubkey(), "IO").await, fee);
    assert_eq!(env.vault("IO").await, 0);
    let served = env.iomesh(&renter, &["node", "show", &node]).await.json();
    assert_eq!(u(&served["leases_served"]), 1);
    assert_eq!(u(&served["gpu_seconds_delivered"]), 8);

    // Lease B: never activated within a 2 s window, expired with a full refund.
    env.iomesh(admin, &["market", "update", "--activation-timeout", "2s"])
        .await
        .json();
    let lease_b = create("5s").await.json();
    let lease_b = s(&lease_b["lease"]);
    let deposit_b = expected_deposit(rate, 1, 5);
    assert_eq!(env.vault("IO").await, deposit_b);
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    env.iomesh(&supplier, &["lease", "activate", &lease_b])
        .await
        .fails_with("ActivationTimedOut");
    let expired = env
        .iomesh(&supplier, &["lease", "expire", &lease_b])
        .await
        .json();
    assert_eq!(u(&expired["refunded"]), deposit_b);
    assert_eq!(
        env.balance(&renter.pubkey(), "IO").await,
        100_000_000 - deposit_a
    );
    assert_eq!(env.vault("IO").await, 0);

    // With no open lease the node retires.
    env.iomesh(&supplier, &["node", "retire", &node])
        .await
        .json();
    env.iomesh(&renter, &["node", "show", &node])
        .await
        .fails_with("unknown node");

    // Two-step authority transfer.
    env.iomesh(admin, &["market", "propose-authority", &successor.pubkey()])
        .await
        .json();
    env.iomesh(&renter, &["market", "accept-authority"])
        .await
        .fails_with("NotPendingAuthority");
    env.iomesh(&successor, &["market", "accept-authority"])
        .await
        .json();
    let market = env.iomesh(admin, &["market", "show"]).await.json();
    assert_eq!(s(&market["authority"]), successor.pubkey());
    assert!(market["pending_authority"].is_null());
}
