//! A supplier lists a node, a renter finds it, leases it, the operator
//! activates it, the supplier settles, the renter cancels; every token
//! balance is checked against the program's pricing rules.

use crate::common::*;

const IO: u64 = 1_000_000; // one IO in base units (6 decimals)
const NODE_PRICE_MICROS: u64 = 2_000_000; // $2.00 per GPU-hour
const IO_PRICE_MICROS: u64 = 500_000; // bootstrap: IO at $0.50
const IO_FEE_BPS: u64 = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn supplier_and_renter_lease_flow_moves_exact_amounts() {
    let env = Env::start().await;
    let supplier = env.wallet("supplier");
    let operator = env.wallet("operator");
    let other_supplier = env.wallet("other-supplier");
    let renter = env.wallet("renter");
    for wallet in [&supplier, &operator, &other_supplier, &renter] {
        let airdrop = env.iomesh(wallet, &["airdrop", "10"]).await.json();
        assert_eq!(u(&airdrop["lamports"]), 10_000_000_000);
    }

    // Two suppliers list nodes.
    let operator_path = operator.path.display().to_string();
    let registered = env
        .iomesh(
            &supplier,
            &argv!("node register --operator {} --gpu-model {} --gpus 4 --vram-gib 24 --region eu-west --price 2.00", &operator_path, "RTX 4090"),
        )
        .await
        .json();
    let node = s(&registered["node"]);
    assert_eq!(s(&registered["operator"]), operator.pubkey());
    env.iomesh(
        &other_supplier,
        &argv!(
            "node register --gpu-model H100 --gpus 8 --vram-gib 80 --region us-east --price 3.50"
        ),
    )
    .await
    .json();
    let mine = env.iomesh(&supplier, &["node", "list"]).await.json();
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(s(&mine[0]["address"]), node);

    // The renter searches the chain.
    let all = env.iomesh(&renter, &["gpus", "search"]).await.json();
    let prices: Vec<u64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|n| u(&n["price_usd_micros_per_gpu_hour"]))
        .collect();
    assert_eq!(prices, [2_000_000, 3_500_000], "cheapest first");
    let found = env
        .iomesh(
            &renter,
            &argv!(
                "gpus search --gpu-model {} --region eu-west --max-price 2.50 --min-free-gpus 2",
                "rtx 4090"
            ),
        )
        .await
        .json();
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(s(&found[0]["address"]), node);
    assert_eq!(u(&found[0]["vram_mib"]), 24 * 1_024);
    assert_eq!(u(&found[0]["free_gpus"]), 4);
    let big = env
        .iomesh(&renter, &["gpus", "search", "--min-vram", "80"])
        .await
        .json();
    assert_eq!(big.as_array().unwrap().len(), 1);
    assert_eq!(s(&big[0]["gpu_model"]), "H100");
    let none = env
        .iomesh(&renter, &["gpus", "search", "--max-price", "1.99"])
        .await
        .json();
    assert!(none.as_array().unwrap().is_empty());
    let none = env
        .iomesh(&renter, &["gpus", "search", "--min-free-gpus", "9"])
        .await
        .json();
    assert!(none.as_array().unwrap().is_empty());

    // The renter gets 1000 IO from the localnet faucet.
    let faucet = env.iomesh(&renter, &["faucet", "IO", "1000"]).await.json();
    assert_eq!(u(&faucet["balance"]), 1_000 * IO);
    let balance = env.iomesh(&renter, &["balance"]).await.json();
    let io = balance["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["symbol"] == "IO")
        .expect("IO listed");
    assert_eq!(u(&io["amount"]), 1_000 * IO);
    assert_eq!(s(&io["ui_amount"]), "1000");

    // Lease 2 GPUs for 1 hour, addressed by the operator key.
    let spec = env.dir.path().join("job.json");
    std::fs::write(
        &spec,
        br#"{"image":"pytorch/pytorch:2.4","cmd":"train.py"}"#,
    )
    .unwrap();
    let created = env
        .iomesh(
            &renter,
            &argv!(
                "lease create --node {} --gpus 2 --hours 1 --mint IO --job-spec {}",
                &operator.pubkey(),
                &spec.display().to_string()
            ),
        )
        .await
        .json();
    let rate = expected_rate(NODE_PRICE_MICROS, IO_PRICE_MICROS, 6);
    assert_eq!(rate, 4 * IO, "$2.00 at $0.50 per IO");
    let deposit = expected_deposit(rate, 2, 3_600);
    assert_eq!(deposit, 8 * IO);
    assert_eq!(u(&created["rate_per_gpu_hour"]), rate);
    assert_eq!(u(&created["deposit"]), deposit);
    assert_eq!(s(&created["node"]), node);
    let lease = s(&created["lease"]);
    assert_eq!(
        env.balance(&renter.pubkey(), "IO").await,
        1_000 * IO - deposit
    );
    assert_eq!(env.vault("IO").await, deposit);
    let listed = env
        .iomesh(&renter, &["lease", "list", "--mine"])
        .await
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(s(&listed[0]["status"]), "pending");
    let on_node = env
        .iomesh(&renter, &["lease", "list", "--node", &node])
        .await
        .json();
    assert_eq!(s(&on_node[0]["address"]), lease);

    // The operator activates it; a second activation is refused by name.
    let activated = env
        .iomesh(&operator, &["lease", "activate", &lease])
        .await
        .json();
    let activated_at = activated["activated_at"].as_i64().unwrap();
    env.iomesh(&operator, &["lease", "activate", &lease])
        .await
        .fails_with("LeaseNotPending");

    // Time passes; the supplier settles what has accrued.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let settled = env
        .iomesh(&supplier, &["lease", "settle", &lease])
        .await
        .json();
    let shown = env.iomesh(&renter, &["lease", "show", &lease]).await.json();
    let settled_until = shown["settled_until"].as_i64().unwrap();
    assert_eq!(shown["activated_at"].as_i64().unwrap(), activated_at);
    let elapsed = u64::try_from(settled_until - activated_at).unwrap();
    assert!(elapsed >= 2, "at least two seconds accrued, got {elapsed}");
    let paid = expected_accrued(rate, 2, elapsed);
    let fee = expected_fee(paid, IO_FEE_BPS);
    assert_eq!(u(&settled["paid"]), paid);
    assert_eq!(u(&settled["fee"]), fee);
    assert_eq!(u(&shown["paid_out"]), paid);
    assert_eq!(env.balance(&supplier.pubkey(), "IO").await, paid - fee);
    assert_eq!(env.balance(&env.authority.pubkey(), "IO").await, fee);
    assert_eq!(env.vault("IO").await, deposit - paid);
    let node_json = env.iomesh(&renter, &["node", "show", &node]).await.json();
    assert_eq!(u(&node_json["gpus_in_use"]), 2);
    assert_eq!(u(&node_json["gpu_seconds_delivered"]), 2 * elapsed);

    // The renter cancels: service up to now is paid, the rest refunded.
    let cancelled = env
        .iomesh(&renter, &["lease", "cancel", &lease])
        .await
        .json();
    let cancelled_at = env.block_time(&s(&cancelled["signature"])).await;
    // The limit came from a simulation of the same transaction, with margin
    // (a tenth of slack: the state moved on between simulation and sending).
    let Budget { limit, units, .. } = env.budget(&s(&cancelled["signature"])).await;
    assert!(units > 10_000, "cancel_lease's estimate and CPIs: {units}");
    let from_units = iomesh_client::client::compute_unit_limit(units);
    assert!(
        u64::from(limit) >= units && u64::from(limit) <= u64::from(from_units) + units / 10,
        "limit {limit} for {units} units"
    );
    // The lease's history, newest first, paged one signature at a time.
    assert_eq!(
        env.history(&lease, 1).await,
        [&cancelled, &settled, &activated, &created].map(|done| s(&done["signature"]))
    );
    let total_secs = u64::try_from(cancelled_at - activated_at).unwrap();
    let total_paid = expected_accrued(rate, 2, total_secs);
    let second_fee = expected_fee(total_paid - paid, IO_FEE_BPS);
    let refund = deposit - total_paid;
    assert_eq!(u(&cancelled["refunded"]), refund);
    assert_eq!(
        env.balance(&supplier.pubkey(), "IO").await,
        (paid - fee) + (total_paid - paid - second_fee)
    );
    assert_eq!(
        env.balance(&env.authority.pubkey(), "IO").await,
        fee + second_fee
    );
    assert_eq!(
        env.balance(&renter.pubkey(), "IO").await,
        1_000 * IO - deposit + refund
    );
    assert_eq!(env.vault("IO").await, 0, "nothing left in escrow");
    let listed = env.iomesh(&renter, &["lease", "list"]).await.json();
    assert!(
        listed.as_array().unwrap().is_empty(),
        "the lease account is closed"
    );
    env.iomesh(&renter, &["lease", "show", &lease])
        .await
        .fails_with("unknown lease");
    let node_json = env.iomesh(&renter, &["node", "show", &node]).await.json();
    assert_eq!(u(&node_json["gpus_in_use"]), 0);
}
