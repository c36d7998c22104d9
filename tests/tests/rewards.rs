//! The epoch reward job end to end: the localnet with the real program, the
//! real indexer filling Postgres, `iomesh-scheduler rewards --publish` run as
//! a process, and a node owner claiming with the proof from its epoch file.

use iomesh_client::{instructions, pda, tokens::TokenMint};
use iomesh_rewards::{parse_hash, EpochFile};
use iomesh_tests::{
    chain::{self, unix_now, Chain},
    indexer::Indexer,
    rewards::{publish_epoch, wait_until_stakes_indexed},
    scheduler::uptime,
};
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use sqlx::PgPool;

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn rewards_job_publishes_an_epoch_a_node_owner_claims(pool: PgPool) {
    let chain = Chain::start().await;
    // IO vaults, stake_per_gpu = 10 IO, a node staked 60 IO for its 4 GPUs,
    // epoch 1 published (10 IO left in the reserve).
    let eco = chain.economics().await;
    let unstaked = chain.register_node(2).await;
    let indexer = Indexer::spawn(&pool, chain.localnet.grpc_url(), chain.localnet.rpc_url());
    wait_until_stakes_indexed(&pool, &[eco.node.address, unstaked.address]).await;

    // Both nodes were up for the last ten minutes.
    let now = unix_now();
    let from = now - now % 60 - 600;
    for node in [eco.node.address, unstaked.address] {
        uptime(&pool, &node, (0..10).map(|m| from + 60 * m)).await;
    }

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("epoch-2.json");
    let amount = 5 * chain::TOKEN; // the reserve holds 10 IO
    let stdout = publish_epoch(&pool, &chain, 2, (from, from + 600), amount, &out).await;
    assert!(stdout.contains("signature "), "{stdout}");
    let unstaked_line = stdout
        .lines()
        .find(|l| l.starts_with(&unstaked.address.to_string()))
        .unwrap_or_else(|| panic!("no line for the unstaked node: {stdout}"));
    assert!(
        unstaked_line.contains("stake below minimum"),
        "{unstaked_line}"
    );

    // One leaf: the staked node, everything to its owner (a single score takes it all).
    let file = EpochFile::read_json(&out).unwrap();
    file.verify().expect("the epoch file verifies");
    assert_eq!(
        (file.epoch, file.num_leaves, file.total_amount),
        (2, 1, amount)
    );
    let leaf = &file.leaves[0];
    assert_eq!(leaf.node, eco.node.address.to_string());
    assert_eq!(leaf.owner, eco.node.owner.pubkey().to_string());

    let client = iomesh_client::client::Client::new(
        chain.localnet.rpc_url(),
        solana_commitment_config::CommitmentConfig::confirmed(),
    );
    let (epoch, _) = client.reward_epoch(2).await.unwrap();
    assert_eq!(
        epoch.merkle_root,
        parse_hash("merkle_root", &file.merkle_root).unwrap()
    );
    assert_eq!((epoch.total_amount, epoch.num_leaves), (amount, 1));

    // The owner claims with the proof from the file.
    let io = TokenMint {
        mint: eco.io_mint,
        token_program: spl_token_id(),
    };
    let owner = eco.node.owner.insecure_clone();
    let before = client
        .token_balance(&io.ata(&owner.pubkey()))
        .await
        .unwrap();
    let claim = instructions::claim_reward(
        &owner.pubkey(),
        &eco.node.address,
        2,
        &io,
        iomesh::ClaimRewardArgs {
            index: leaf.index,
            amount: leaf.amount,
            proof: leaf
                .proof
                .iter()
                .map(|h| parse_hash("proof", h).unwrap())
                .collect(),
        },
    );
    let payer = chain::funded(&chain.rpc).await;
    client.send(&[claim], &payer, &[&owner]).await.unwrap();
    let after = client
        .token_balance(&io.ata(&owner.pubkey()))
        .await
        .unwrap();
    assert_eq!(after - before, amount);
    // What stays in the escrow is epoch 1's unclaimed total; epoch 2 is paid out.
    assert_eq!(
        client.token_balance(&pda::rewards_escrow()).await.unwrap(),
        10 * chain::TOKEN
    );

    indexer.stop().await;
}

fn spl_token_id() -> Pubkey {
    anchor_spl::token::ID
}

#[tokio::test]
async fn publishing_an_epoch_past_one_growth_grows_it_to_its_full_size() {
    use iomesh::state::{RewardEpoch, MAX_ACCOUNT_GROWTH};
    use iomesh_rewards::{Allocation, RewardTree};
    let chain = Chain::start().await;
    chain.economics().await;
    // 100,000 leaves of 1 base unit: a bitmap of 12,500 bytes, past one growth.
    let leaves = 100_000u32;
    let tree = RewardTree::build(
        3,
        (0..leaves)
            .map(|_| Allocation {
                node: Pubkey::new_unique(),
                owner: Pubkey::new_unique(),
                amount: 1,
            })
            .collect(),
    )
    .unwrap();
    let full = RewardEpoch::account_len(leaves);
    assert!(full > MAX_ACCOUNT_GROWTH, "{full}");

    let dir = std::env::temp_dir().join(format!("iomesh-rewards-{}", Pubkey::new_unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let keypair = dir.join("reward_authority.json");
    solana_keypair::write_keypair_file(&chain.authority, &keypair).unwrap();
    let signatures =
        iomesh_scheduler::rewards::publish(&chain.localnet.rpc_url(), &keypair, &tree, 3_600)
            .await
            .unwrap();
    assert_eq!(signatures.len(), 2, "publish_epoch, then one grow_epoch");
    // Run again (as after a failed grow): nothing left to send.
    let again =
        iomesh_scheduler::rewards::publish(&chain.localnet.rpc_url(), &keypair, &tree, 3_600)
            .await
            .unwrap();
    assert!(again.is_empty(), "{again:?}");
    // Another allocation for the same epoch is refused.
    let other = RewardTree::build(
        3,
        vec![Allocation {
            node: Pubkey::new_unique(),
            owner: Pubkey::new_unique(),
            amount: 1,
        }],
    )
    .unwrap();
    let err =
        iomesh_scheduler::rewards::publish(&chain.localnet.rpc_url(), &keypair, &other, 3_600)
            .await
            .unwrap_err();
    assert!(
        err.to_string()
            .contains("epoch 3 is already published on-chain with another allocation"),
        "{err}"
    );

    let client = iomesh_client::client::Client::new(
        chain.localnet.rpc_url(),
        solana_commitment_config::CommitmentConfig::confirmed(),
    );
    let account = client.account(&pda::epoch(3)).await.unwrap().unwrap();
    assert_eq!(account.data.len(), full);
    let (epoch, _) = client.reward_epoch(3).await.unwrap();
    assert_eq!((epoch.num_leaves, epoch.total_amount), (leaves, 100_000));
    assert_eq!(epoch.merkle_root, tree.root());
}
