//! The issue-6 wallet commands end to end: clusters (activation gated on full
//! funding, unwind with refunds), staking (unstake, withdraw refused during
//! the cooldown), epoch rewards claimed from the epoch file, and IOSD.

use crate::common::*;
use iomesh_client::{
    bootstrap, clock::unix_now, instructions as ix, iomesh::PublishEpochArgs, pda,
};
use iomesh_rewards::{Allocation, RewardTree};
use solana_signer::Signer;
use std::time::Duration;

const TOKEN: u64 = 1_000_000; // one IO or USDC in base units (6 decimals)

/// Registers a 2-GPU node at $1.00 per GPU-hour owned by `owner`, run by `operator`.
async fn register(env: &Env, owner: &Wallet, operator: &Wallet) -> String {
    s(&env
        .iomesh(
            owner,
            &argv!("node register --operator {} --gpu-model L40S --gpus 2 --vram-gib 48 --region us-east --price 1.00", &operator.path.display().to_string()),
        )
        .await
        .json()["node"])
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_leases_start_together_and_an_incomplete_cluster_unwinds_with_refunds() {
    let env = Env::start().await;
    let supplier = env.wallet("supplier");
    let op1 = env.wallet("op1");
    let op2 = env.wallet("op2");
    let renter = env.wallet("renter");
    let stranger = env.wallet("stranger");
    for wallet in [&supplier, &op1, &op2, &renter, &stranger] {
        env.iomesh(wallet, &["airdrop", "5"]).await.json();
    }
    let node1 = register(&env, &supplier, &op1).await;
    let node2 = register(&env, &supplier, &op2).await;
    env.iomesh(&renter, &["faucet", "USDC", "100"]).await.json();
    let spec = env.dir.path().join("job.json");
    std::fs::write(&spec, br#"{"image":"nccl-tests","cmd":"all_reduce"}"#).unwrap();
    let spec = spec.display().to_string();
    let lease = |node: &str, cluster: &str| {
        vec![
            "lease".to_string(),
            "create".into(),
            "--node".into(),
            node.to_string(),
            "--gpus".into(),
            "1".into(),
            "--hours".into(),
            "1".into(),
            "--mint".into(),
            "USDC".into(),
            "--job-spec".into(),
            spec.clone(),
            "--cluster".into(),
            cluster.to_string(),
        ]
    };

    // A cluster of two: the first lease cannot start alone.
    let created = env
        .iomesh(
            &renter,
            &["cluster", "create", "--leases", "2", "--deadline", "30m"],
        )
        .await
        .json();
    let full = s(&created["cluster"]);
    assert_eq!(u(&created["leases_expected"]), 2);
    let l1 = env
        .iomesh(&renter, &args(&lease(&node1, &full)))
        .await
        .json();
    assert_eq!(s(&l1["cluster"]), full);
    let l1 = s(&l1["lease"]);
    env.iomesh(&op1, &["lease", "activate", &l1])
        .await
        .fails_with("ClusterNotFunded");
    let shown = env
        .iomesh(&renter, &["cluster", "show", &full])
        .await
        .json();
    assert_eq!(s(&shown["state"]), "funding");
    assert_eq!(u(&shown["leases_funded"]), 1);
    // Only the cluster's renter adds leases to it.
    env.iomesh(&stranger, &args(&lease(&node2, &full)))
        .await
        .fails_with("only its renter adds leases");

    // The second lease completes it: both start.
    let l2 = s(&env
        .iomesh(&renter, &args(&lease(&node2, &full)))
        .await
        .json()["lease"]);
    env.iomesh(&op1, &["lease", "activate", &l1]).await.json();
    env.iomesh(&op2, &["lease", "activate", &l2]).await.json();
    let shown = env
        .iomesh(&renter, &["cluster", "show", &full])
        .await
        .json();
    assert_eq!(s(&shown["state"]), "complete");
    let statuses: Vec<String> = shown["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| s(&l["status"]))
        .collect();
    assert_eq!(statuses, ["active", "active"]);
    env.iomesh(&renter, &["cluster", "unwind", &full])
        .await
        .fails_with("is fully funded");
    env.iomesh(&renter, &args(&lease(&node1, &full)))
        .await
        .fails_with("already has all its 2 leases");
    assert_eq!(env.balance(&renter.pubkey(), "USDC").await, 98 * TOKEN);

    // A cluster of three that never fills: a cancelled member frees its slot.
    let created = env
        .iomesh(
            &renter,
            &["cluster", "create", "--leases", "3", "--deadline", "30s"],
        )
        .await
        .json();
    let short = s(&created["cluster"]);
    let deadline = created["funding_deadline"].as_i64().unwrap();
    let l3 = s(&env
        .iomesh(&renter, &args(&lease(&node1, &short)))
        .await
        .json()["lease"]);
    let l4 = s(&env
        .iomesh(&renter, &args(&lease(&node2, &short)))
        .await
        .json()["lease"]);
    assert_eq!(env.balance(&renter.pubkey(), "USDC").await, 96 * TOKEN);
    let cancelled = env.iomesh(&renter, &["lease", "cancel", &l4]).await.json();
    assert_eq!(u(&cancelled["refunded"]), TOKEN);
    let shown = env
        .iomesh(&renter, &["cluster", "show", &short])
        .await
        .json();
    assert_eq!(
        u(&shown["leases_funded"]),
        1,
        "the cancelled lease no longer counts"
    );
    env.iomesh(&stranger, &["cluster", "unwind", &short])
        .await
        .fails_with("ClusterDeadlineNotPassed");

    // Past the deadline on the chain's clock (it follows wall-clock time).
    let wait = u64::try_from(deadline + 3 - unix_now()).unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(wait)).await;
    env.iomesh(&renter, &args(&lease(&node2, &short)))
        .await
        .fails_with("past its funding deadline");
    // Anyone unwinds: the pending lease is refunded in full and the cluster closed.
    let unwound = env
        .iomesh(&stranger, &["cluster", "unwind", &short])
        .await
        .json();
    let refunds = unwound["leases"].as_array().unwrap();
    assert_eq!(refunds.len(), 1);
    assert_eq!(s(&refunds[0]["lease"]), l3);
    assert_eq!(u(&refunds[0]["refunded"]), TOKEN);
    assert_eq!(unwound["cluster_closed"], true);
    assert_eq!(env.balance(&renter.pubkey(), "USDC").await, 98 * TOKEN);
    env.iomesh(&renter, &["lease", "show", &l3])
        .await
        .fails_with("unknown lease");
    env.iomesh(&renter, &["cluster", "show", &short])
        .await
        .fails_with("unknown cluster");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stake_unstake_and_withdraw_before_the_cooldown_is_refused() {
    let env = Env::start().await;
    let supplier = env.wallet("supplier");
    let operator = env.wallet("operator");
    let other = env.wallet("other");
    for wallet in [&supplier, &operator, &other] {
        env.iomesh(wallet, &["airdrop", "5"]).await.json();
    }
    let node = register(&env, &supplier, &operator).await;
    env.iomesh(&supplier, &["faucet", "IO", "100"]).await.json();
    env.iomesh(&other, &["faucet", "IO", "100"]).await.json();

    let staked = env
        .iomesh(&supplier, &["node", "stake", &node, "--amount", "40"])
        .await
        .json();
    assert_eq!(u(&staked["staked"]), 40 * TOKEN);
    assert_eq!(env.balance(&supplier.pubkey(), "IO").await, 60 * TOKEN);
    assert_eq!(
        env.client.token_balance(&pda::stake_vault()).await.unwrap(),
        40 * TOKEN
    );
    // More than the wallet holds is refused before sending, naming the shortfall.
    env.iomesh(&supplier, &["node", "stake", &node, "--amount", "1000"])
        .await
        .fails_with("1000 IO needed, 60 IO held; 940 IO missing");
    // Only the node's owner stakes on it.
    env.iomesh(&other, &["node", "stake", &node, "--amount", "1"])
        .await
        .fails_with("NotNodeOwner");
    env.iomesh(&supplier, &["node", "stake", &node, "--amount", "0"])
        .await
        .fails_with("--amount");

    env.iomesh(&supplier, &["node", "unstake", &node, "--amount", "50"])
        .await
        .fails_with("more than the node's stake: 40 IO staked");
    let before = unix_now();
    let unstaked = env
        .iomesh(&supplier, &["node", "unstake", &node, "--amount", "15"])
        .await
        .json();
    assert_eq!(u(&unstaked["staked"]), 25 * TOKEN);
    assert_eq!(u(&unstaked["unstaking"]), 15 * TOKEN);
    let ready_at = unstaked["unstake_ready_at"].as_i64().unwrap();
    let cooldown = i64::from(iomesh_client::bootstrap::UNSTAKE_COOLDOWN_SECS);
    assert!(
        (before - 5 + cooldown..=unix_now() + 5 + cooldown).contains(&ready_at),
        "ready at {ready_at}, 14 days after {before}"
    );

    // The cooldown has not passed: the program refuses, and the CLI says when it ends.
    let refused = env
        .iomesh(&supplier, &["node", "withdraw-stake", &node])
        .await;
    refused.fails_with("UnstakeCooldownActive");
    refused.fails_with(&format!("its cooldown ends at {ready_at}"));
    assert_eq!(env.balance(&supplier.pubkey(), "IO").await, 60 * TOKEN);
    let shown = env.iomesh(&other, &["node", "show", &node]).await.json();
    assert_eq!(u(&shown["staked"]), 25 * TOKEN);
    assert_eq!(u(&shown["unstaking"]), 15 * TOKEN);

    // A node with nothing unstaking has nothing to withdraw.
    let operator2 = env.wallet("operator2");
    let idle = register(&env, &supplier, &operator2).await;
    env.iomesh(&supplier, &["node", "withdraw-stake", &idle])
        .await
        .fails_with("has no IO unstaking");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rewards_are_claimed_from_the_epoch_file_once() {
    let env = Env::start().await;
    let supplier = env.wallet("supplier");
    let operator = env.wallet("operator");
    let other = env.wallet("other");
    let other_operator = env.wallet("other-operator");
    for wallet in [&supplier, &operator, &other, &other_operator] {
        env.iomesh(wallet, &["airdrop", "5"]).await.json();
    }
    let node = register(&env, &supplier, &operator).await;
    let other_node = register(&env, &other, &other_operator).await;
    let unlisted_operator = env.wallet("unlisted-operator");
    let unlisted = register(&env, &other, &unlisted_operator).await;

    // The reward authority (the bootstrap authority) funds the reserve and publishes epoch 1.
    let authority = &env.authority;
    env.iomesh(authority, &["faucet", "IO", "500"]).await.json();
    let io = env.bootstrap.mint("IO").unwrap().token_mint();
    let fund = ix::fund_rewards_reserve(&authority.keypair.pubkey(), &io, 6, 500 * TOKEN).unwrap();
    env.client
        .send(&[fund], &authority.keypair, &[])
        .await
        .unwrap();
    let tree = RewardTree::build(
        1,
        vec![
            Allocation {
                node: node.parse().unwrap(),
                owner: supplier.keypair.pubkey(),
                amount: 120 * TOKEN,
            },
            Allocation {
                node: other_node.parse().unwrap(),
                owner: other.keypair.pubkey(),
                amount: 80 * TOKEN,
            },
        ],
    )
    .unwrap();
    let file = env.dir.path().join("epoch-1.json");
    tree.to_file().write_json(&file).unwrap();
    let file = file.display().to_string();
    let publish = ix::publish_epoch(
        &authority.keypair.pubkey(),
        &io,
        PublishEpochArgs {
            epoch: 1,
            merkle_root: tree.root(),
            total_amount: tree.total(),
            num_leaves: tree.num_leaves(),
            claim_deadline: unix_now() + 3_600,
        },
    );
    env.client
        .send(&[publish], &authority.keypair, &[])
        .await
        .unwrap();

    let shown = env
        .iomesh(
            &supplier,
            &["rewards", "show", "--epoch-file", &file, "--node", &node],
        )
        .await
        .json();
    assert_eq!(u(&shown["amount"]), 120 * TOKEN);
    assert_eq!(u(&shown["index"]), 0);
    assert_eq!(shown["claimed"], false);
    assert_eq!(u(&shown["claimable_amount"]), 120 * TOKEN);

    // Someone else cannot claim the supplier's leaf.
    env.iomesh(
        &other,
        &["rewards", "claim", "--epoch-file", &file, "--node", &node],
    )
    .await
    .fails_with("the node's owner claims");
    let claimed = env
        .iomesh(
            &supplier,
            &argv!(
                "rewards claim --epoch-file {} --node {}",
                &file,
                &operator.pubkey()
            ),
        )
        .await
        .json();
    assert_eq!(u(&claimed["amount"]), 120 * TOKEN);
    assert_eq!(env.balance(&supplier.pubkey(), "IO").await, 120 * TOKEN);
    let shown = env
        .iomesh(
            &supplier,
            &["rewards", "show", "--epoch-file", &file, "--node", &node],
        )
        .await
        .json();
    assert_eq!(shown["claimed"], true);
    assert_eq!(u(&shown["claimable_amount"]), 0);
    env.iomesh(
        &supplier,
        &["rewards", "claim", "--epoch-file", &file, "--node", &node],
    )
    .await
    .fails_with("is already claimed");

    // The other owner claims theirs; the escrow holds the rest of the epoch.
    env.iomesh(
        &other,
        &argv!(
            "rewards claim --epoch-file {} --node {}",
            &file,
            &other_node
        ),
    )
    .await
    .json();
    assert_eq!(env.balance(&other.pubkey(), "IO").await, 80 * TOKEN);
    assert_eq!(
        env.client
            .token_balance(&pda::rewards_escrow())
            .await
            .unwrap(),
        0
    );

    // Bad input: a node without a leaf, a tampered file, an unpublished epoch, no file.
    env.iomesh(
        &other,
        &argv!("rewards show --epoch-file {} --node {}", &file, &unlisted),
    )
    .await
    .fails_with("has no allocation in epoch 1");
    let mut tampered = tree.to_file();
    tampered.leaves[1].amount = 800 * TOKEN;
    let tampered_path = env.dir.path().join("tampered.json");
    tampered.write_json(&tampered_path).unwrap();
    env.iomesh(
        &other,
        &argv!(
            "rewards claim --epoch-file {} --node {}",
            &tampered_path.display().to_string(),
            &other_node
        ),
    )
    .await
    .fails_with("does not verify");
    let unpublished = RewardTree::build(
        2,
        vec![Allocation {
            node: node.parse().unwrap(),
            owner: supplier.keypair.pubkey(),
            amount: TOKEN,
        }],
    )
    .unwrap();
    let unpublished_path = env.dir.path().join("epoch-2.json");
    unpublished.to_file().write_json(&unpublished_path).unwrap();
    env.iomesh(
        &supplier,
        &argv!(
            "rewards claim --epoch-file {} --node {}",
            &unpublished_path.display().to_string(),
            &node
        ),
    )
    .await
    .fails_with("reward epoch 2 is not published");
    env.iomesh(
        &supplier,
        &argv!(
            "rewards show --epoch-file /nonexistent.json --node {}",
            &node
        ),
    )
    .await
    .fails_with("cannot read the epoch file /nonexistent.json");
}

// ---------------------------------------------------------------- IOSD

/// A fully verified Pyth `PriceUpdateV2` account, laid out as the Pyth
/// receiver writes it (restated here, independently of the program's parser).
/// It stands in for the external oracle: a localnet runs no Pyth receiver.
fn price_update(
    feed: [u8; 32],
    price: i64,
    conf: u64,
    exponent: i32,
    publish_time: i64,
) -> solana_account::Account {
    use sha2::Digest;
    // Anchor's account discriminator: sha256("account:PriceUpdateV2")[..8].
    let mut data = sha2::Sha256::digest(b"account:PriceUpdateV2")[..8].to_vec();
    data.extend_from_slice(&[9; 32]); // write authority
    data.push(1); // verification level: Full
    data.extend_from_slice(&feed);
    data.extend_from_slice(&price.to_le_bytes());
    data.extend_from_slice(&conf.to_le_bytes());
    data.extend_from_slice(&exponent.to_le_bytes());
    data.extend_from_slice(&publish_time.to_le_bytes());
    data.extend_from_slice(&(publish_time - 1).to_le_bytes()); // previous publish time
    data.extend_from_slice(&price.to_le_bytes()); // EMA price
    data.extend_from_slice(&conf.to_le_bytes()); // EMA confidence
    data.extend_from_slice(&1u64.to_le_bytes()); // posted slot
    solana_account::Account {
        lamports: 10_000_000,
        data,
        owner: iomesh_client::iomesh::oracle::PYTH_RECEIVER_ID,
        executable: false,
        rent_epoch: 0,
    }
}

/// Writes the price account into the localnet and waits until reads at the
/// CLI's commitment (confirmed) see it.
async fn post_price(
    env: &Env,
    key: &anchor_lang::prelude::Pubkey,
    account: solana_account::Account,
) {
    let data = account.data.clone();
    env.localnet.set_account(key, account);
    for _ in 0..100 {
        if env
            .client
            .account(key)
            .await
            .unwrap()
            .is_some_and(|a| a.data == data)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the price account never reached confirmed commitment");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn iosd_is_minted_at_the_quoted_price_and_stale_or_too_low_prices_are_refused() {
    let env = Env::start().await;
    let user = env.wallet("user");
    let me = user.pubkey();
    env.iomesh(&user, &["airdrop", "1"]).await.json();
    env.iomesh(&user, &["faucet", "IO", "50"]).await.json();
    let iosd = env.bootstrap.iosd.as_ref().expect("bootstrap sets up IOSD");
    assert_eq!(iosd.price_feed_id, hex(&bootstrap::IO_USD_FEED_ID));

    // $0.43217891 ± $0.00021009 per IO (exponent −8), published 2 s ago.
    let (price, conf, exponent) = (43_217_891i64, 21_009u64, -8);
    let key = solana_keypair::Keypair::new().pubkey();
    let key_text = key.to_string();
    post_price(
        &env,
        &key,
        price_update(
            bootstrap::IO_USD_FEED_ID,
            price,
            conf,
            exponent,
            unix_now() - 2,
        ),
    )
    .await;

    // The rule: IOSD = floor(IO × (price − conf) × 10^-8), both tokens 6 decimals.
    let io_amount = 12_345_678u64; // 12.345678 IO
    let low = (price as u128) - u128::from(conf);
    let expected = u64::try_from(u128::from(io_amount) * low / 100_000_000).unwrap();
    assert_eq!(expected, 5_332_947, "12.345678 × 0.43196882 rounded down");
    let quote = env
        .iomesh(
            &user,
            &argv!("iosd quote --amount 12.345678 --price-update {}", &key_text),
        )
        .await
        .json();
    assert_eq!(quote["iosd_out"], expected);
    assert_eq!(quote["io_amount"], io_amount);
    assert_eq!(
        quote["usd_micros_per_io"], 431_968,
        "$0.43196882 per IO, rounded down to micro-USD"
    );
    assert_eq!(quote["price"], price);
    assert_eq!(quote["conf"], conf);

    let io_before = env.balance(&me, "IO").await;
    assert_eq!(io_before, 50_000_000);
    // One base unit more than the quote: the CLI refuses before sending…
    env.iomesh(
        &user,
        &argv!(
            "iosd mint --amount 12.345678 --min-out 5.332948 --price-update {}",
            &key_text
        ),
    )
    .await
    .fails_with("SlippageExceeded");
    // …and so does the program, when such a transaction is sent anyway.
    let io = env.bootstrap.mint("IO").unwrap().token_mint();
    let iosd_mint = env.bootstrap.mint("IOSD").unwrap().token_mint();
    let too_greedy = [
        ix::create_ata_idempotent(&user.keypair.pubkey(), &user.keypair.pubkey(), &iosd_mint),
        ix::mint_iosd(
            &user.keypair.pubkey(),
            &io,
            &iosd_mint,
            &key,
            io_amount,
            expected + 1,
        ),
    ];
    let err = env
        .client
        .send(&too_greedy, &user.keypair, &[])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("SlippageExceeded"), "{err}");
    assert_eq!(env.balance(&me, "IO").await, io_before, "nothing burned");

    let minted = env
        .iomesh(
            &user,
            &argv!(
                "iosd mint --amount 12.345678 --min-out 5.3 --price-update {}",
                &key_text
            ),
        )
        .await
        .json();
    assert_eq!(minted["minted"], expected);
    assert_eq!(minted["min_iosd_out"], 5_300_000);
    assert_eq!(env.balance(&me, "IO").await, io_before - io_amount);
    assert_eq!(env.balance(&me, "IOSD").await, expected);
    let config = env.client.iosd_config().await.unwrap();
    assert_eq!(config.total_io_burned, io_amount);
    assert_eq!(config.total_iosd_minted, expected);
    assert_eq!(config.window_minted, expected);

    // The faucet cannot mint IOSD any more: the program holds its mint authority.
    env.iomesh(&user, &["faucet", "IOSD", "1"])
        .await
        .fails_with("the faucet cannot mint IOSD");

    // A price published 10 minutes ago (older than the 60 s policy) is refused
    // by the quote, by `mint`, and by the program itself.
    post_price(
        &env,
        &key,
        price_update(
            bootstrap::IO_USD_FEED_ID,
            price,
            conf,
            exponent,
            unix_now() - 600,
        ),
    )
    .await;
    env.iomesh(
        &user,
        &argv!("iosd quote --amount 1 --price-update {}", &key_text),
    )
    .await
    .fails_with("StaleOraclePrice");
    env.iomesh(
        &user,
        &["iosd", "mint", "--amount", "1", "--price-update", &key_text],
    )
    .await
    .fails_with("StaleOraclePrice");
    let stale = [ix::mint_iosd(
        &user.keypair.pubkey(),
        &io,
        &iosd_mint,
        &key,
        1_000_000,
        0,
    )];
    let err = env
        .client
        .send(&stale, &user.keypair, &[])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("StaleOraclePrice"), "{err}");
    assert_eq!(env.balance(&me, "IO").await, io_before - io_amount);
    assert_eq!(env.balance(&me, "IOSD").await, expected);

    // No account at the address, or not an address at all.
    let nowhere = solana_keypair::Keypair::new().pubkey().to_string();
    env.iomesh(
        &user,
        &["iosd", "quote", "--amount", "1", "--price-update", &nowhere],
    )
    .await
    .fails_with(&format!("no price account at {nowhere}"));
    env.iomesh(
        &user,
        &argv!("iosd quote --amount 10 --price-update not-a-key"),
    )
    .await
    .fails_with("invalid price update account `not-a-key`");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
