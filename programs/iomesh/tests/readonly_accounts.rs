//! Every account an instruction writes must be passed writable, or the
//! instruction is refused. For each instruction of the program, in a state
//! where it succeeds, each account it is given writable (remaining accounts
//! included) is passed read-only in turn, and the instruction must fail; then
//! it is sent as built and must succeed.
//!
//! A validator fails a transaction that changes a read-only account; a
//! natively hosted program used to have such writes silently dropped, which
//! is how `unwind_cluster` could refund a lease while a read-only node kept
//! its GPUs reserved forever. The host now enforces the rule
//! (`iomesh-native-host`), and the program checks what it writes
//! (`mut` constraints, `AccountNotWritable` for remaining accounts).
//!
//! `every_instruction_of_the_idl_is_covered` keeps this file complete: a new
//! instruction fails it until it has a case here.

mod common;

use anchor_lang::prelude::Pubkey;
use common::*;
use iomesh::{
    accounts as acc, instruction as args,
    state::{slash_reason, PendingSlash, PriceSource},
    ClaimRewardArgs, IosdPolicy, MintOracle, PublishEpochArgs, SlashArgs, StakingPolicy,
    UpdatePaymentMintArgs,
};
use iomesh_rewards::{Allocation, RewardTree};
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::collections::BTreeSet;

/// The instructions each family below covers; together, the whole IDL.
const MARKET: &[&str] = &[
    "initialize_market",
    "update_market",
    "set_paused",
    "add_payment_mint",
    "update_payment_mint",
    "set_mint_price",
    "set_mint_oracle",
    "propose_authority",
    "accept_authority",
];
const NODES: &[&str] = &[
    "register_node",
    "update_node",
    "set_node_status",
    "retire_node",
];
const LEASES: &[&str] = &[
    "create_lease",
    "activate_lease",
    "settle_lease",
    "extend_lease",
    "cancel_lease",
    "report_failure",
    "expire_lease",
    "close_lease",
];
const CLUSTERS: &[&str] = &[
    "create_cluster",
    "create_lease",
    "activate_lease",
    "cancel_lease",
    "expire_lease",
    "unwind_cluster",
    "close_cluster",
];
const STAKING: &[&str] = &[
    "init_io_vaults",
    "set_staking_policy",
    "stake",
    "request_unstake",
    "withdraw_stake",
    "slash",
    "reverse_slash",
    "finalize_slash",
];
const REWARDS: &[&str] = &[
    "publish_epoch",
    "grow_epoch",
    "claim_reward",
    "clawback_epoch",
];
const IOSD: &[&str] = &["init_iosd", "mint_iosd"];
const CREDITS: &[&str] = &["withdraw_credit", "close_credit", "sweep_fees"];

/// Records which instructions a family exercised, checking each one's name
/// against its discriminator so that the coverage lists cannot lie.
#[derive(Default)]
struct Covered(BTreeSet<String>);

impl Covered {
    fn assert_exactly(&self, family: &[&str]) {
        let expected: BTreeSet<String> = family.iter().map(|n| n.to_string()).collect();
        assert_eq!(self.0, expected, "instructions covered");
    }
}

fn discriminator(name: &str) -> [u8; 8] {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(format!("global:{name}"));
    hash[..8].try_into().unwrap()
}

/// Sends `instruction` once per account it is given writable, with every
/// occurrence of that account made read-only, expecting each to be refused;
/// then sends it as built, expecting success.
async fn refuses_each_read_only_write(
    env: &mut TestEnv,
    covered: &mut Covered,
    name: &str,
    instruction: Instruction,
    signers: &[&Keypair],
) {
    assert_eq!(
        instruction.data[..8],
        discriminator(name),
        "{name}: the instruction is not {name}"
    );
    let writable: BTreeSet<Pubkey> = instruction
        .accounts
        .iter()
        .filter(|m| m.is_writable)
        .map(|m| m.pubkey)
        .collect();
    assert!(!writable.is_empty(), "{name} writes nothing");
    for account in &writable {
        let mut read_only = instruction.clone();
        for meta in read_only.accounts.iter_mut() {
            if meta.pubkey == *account {
                meta.is_writable = false;
            }
        }
        let result = env.send(&[read_only], signers).await;
        assert!(
            result.is_err(),
            "{name} succeeded with {account} (written by it) passed read-only"
        );
    }
    let result = env.send(&[instruction], signers).await;
    assert!(result.is_ok(), "{name} as built: {result:?}");
    covered.0.insert(name.to_string());
}

#[tokio::test]
async fn market_instructions_refuse_read_only_writes() {
    let mut covered = Covered::default();
    let mut env = TestEnv::bare().await;
    let authority = env.keys.authority.insecure_clone();
    let initialize = ix(
        acc::InitializeMarket {
            market: market_pda(),
            authority: authority.pubkey(),
            system_program: anchor_lang::system_program::ID,
        },
        args::InitializeMarket {
            params: default_params(&env.keys),
        },
    );
    refuses_each_read_only_write(
        &mut env,
        &mut covered,
        "initialize_market",
        initialize,
        &[&authority],
    )
    .await;
    let update = env.update_market_ix(authority.pubkey(), default_params(&env.keys));
    refuses_each_read_only_write(
        &mut env,
        &mut covered,
        "update_market",
        update,
        &[&authority],
    )
    .await;
    let pause = ix(
        acc::MarketAdmin {
            market: market_pda(),
            authority: authority.pubkey(),
        },
        args::SetPaused { paused: true },
    );
    refuses_each_read_only_write(&mut env, &mut covered, "set_paused", pause, &[&authority]).await;

    let mint = env.create_mint(spl_token_id()).await;
    let add = env.add_payment_mint_ix(mint, PriceSource::Authority, 2_000_000, 30, "NEW");
    refuses_each_read_only_write(
        &mut env,
        &mut covered,
        "add_payment_mint",
        add,
        &[&authority],
    )
    .await;
    let update = env.update_payment_mint_ix(
        mint,
        authority.pubkey(),
        UpdatePaymentMintArgs {
            enabled: true,
            fee_bps: 40,
            price_source: PriceSource::Authority,
            max_price_age_secs: 600,
        },
    );
    refuses_each_read_only_write(
        &mut env,
        &mut covered,
        "update_payment_mint",
        update,
        &[&authority],
    )
    .await;
    let price_authority = env.keys.price_authority.insecure_clone();
    let price = ix(
        acc::SetMintPrice {
            market: market_pda(),
            payment_mint: payment_mint_pda(&mint.mint),
            price_authority: price_authority.pubkey(),
        },
        args::SetMintPrice {
            usd_price_micros: 2_100_000,
        },
    );
    refuses_each_read_only_write(
        &mut env,
        &mut covered,
        "set_mint_price",
        price,
        &[&price_authority],
    )
    .await;
    let oracle = ix(
        acc::PaymentMintAdmin {
            market: market_pda(),
            payment_mint: payment_mint_pda(&mint.mint),
            authority: authority.pubkey(),
        },
        args::SetMintOracle {
            oracle: MintOracle {
                price_feed_id: [3; 32],
                max_confidence_bps: 100,
                max_price_age_secs: 60,
            },
        },
    );
    refuses_each_read_only_write(
        &mut env,
        &mut covered,
        "set_mint_oracle",
        oracle,
        &[&authority],
    )
    .await;

    let successor = env.wallet().await;
    let propose = ix(
        acc::MarketAdmin {
            market: market_pda(),
            authority: authority.pubkey(),
        },
        args::ProposeAuthority {
            new_authority: successor.pubkey(),
        },
    );
    refuses_each_read_only_write(
        &mut env,
        &mut covered,
        "propose_authority",
        propose,
        &[&authority],
    )
    .await;
    let accept = ix(
        acc::AcceptAuthority {
            market: market_pda(),
            new_authority: successor.pubkey(),
        },
        args::AcceptAuthority {},
    );
    refuses_each_read_only_write(
        &mut env,
        &mut covered,
        "accept_authority",
        accept,
        &[&successor],
    )
    .await;
    covered.assert_exactly(MARKET);
}

fn spl_token_id() -> Pubkey {
    anchor_spl::token::ID
}

#[tokio::test]
async fn node_instructions_refuse_read_only_writes() {
    let mut covered = Covered::default();
    let mut env = TestEnv::new().await;
    let owner = env.wallet().await;
    let operator = Keypair::new();
    let node = node_pda(&operator.pubkey());
    let register = ix(
        acc::RegisterNode {
            market: market_pda(),
            node,
            owner: owner.pubkey(),
            operator: operator.pubkey(),
            system_program: anchor_lang::system_program::ID,
        },
        args::RegisterNode {
            spec: TestEnv::node_spec(4, 2_000_000),
        },
    );
    refuses_each_read_only_write(
        &mut env,
        &mut covered,
        "register_node",
        register,
        &[&owner, &operator],
    )
    .await;
    let update = ix(
        acc::UpdateNode {
            market: market_pda(),
            node,
            owner: owner.pubkey(),
        },
        args::UpdateNode {
            spec: TestEnv::node_spec(8, 1_500_000),
        },
    );
    refuses_each_read_only_write(&mut env, &mut covered, "update_node", update, &[&owner]).await;
    let status = ix(
        acc::SetNodeStatus {
            node,
            owner: owner.pubkey(),
        },
        args::SetNodeStatus {
            status: iomesh::state::NodeStatus::Paused,
        },
    );
    refuses_each_read_only_write(&mut env, &mut covered, "set_node_status", status, &[&owner])
        .await;
    let retire = ix(
        acc::RetireNode {
            node,
            owner: owner.pubkey(),
        },
        args::RetireNode {},
    );
    refuses_each_read_only_write(&mut env, &mut covered, "retire_node", retire, &[&owner]).await;
    covered.assert_exactly(NODES);
}

#[tokio::test]
async fn lease_instructions_refuse_read_only_writes() {
    let mut covered = Covered::default();
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(8).await;
    let renter = env.wallet().await;
    env.fund(&renter.pubkey(), usdc, 1_000 * TOKEN).await;
    let scheduler = env.keys.scheduler.insecure_clone();

    let create = env.create_lease_ix(&LeaseRequest::new(&renter, &node, usdc, 1));
    refuses_each_read_only_write(&mut env, &mut covered, "create_lease", create, &[&renter]).await;
    let lease = lease_pda(&renter.pubkey(), 1);
    let activate = env.activate_ix(lease, node.address, node.operator.pubkey());
    refuses_each_read_only_write(
        &mut env,
        &mut covered,
        "activate_lease",
        activate,
        &[&node.operator],
    )
    .await;
    env.warp(600).await;
    let a = env.lease_accounts(lease).await;
    let settle = env.settle_ix(&a);
    refuses_each_read_only_write(&mut env, &mut covered, "settle_lease", settle, &[]).await;
    let extend = env.extend_ix(&a, renter.pubkey(), 600);
    refuses_each_read_only_write(&mut env, &mut covered, "extend_lease", extend, &[&renter]).await;
    env.warp(60).await;
    let cancel = env.cancel_ix(&a, renter.pubkey(), true);
    refuses_each_read_only_write(&mut env, &mut covered, "cancel_lease", cancel, &[&renter]).await;

    for nonce in 2..=4 {
        env.create_lease(LeaseRequest::new(&renter, &node, usdc, nonce))
            .await
            .unwrap();
    }
    let (failing, ending, expiring) = (
        lease_pda(&renter.pubkey(), 2),
        lease_pda(&renter.pubkey(), 3),
        lease_pda(&renter.pubkey(), 4),
    );
    env.activate(failing, &node).await.unwrap();
    env.activate(ending, &node).await.unwrap();
    env.warp(300).await;
    let failed_at = env.now().await - 10;
    let accounts = env.lease_accounts(failing).await;
    let report = env.report_failure_ix(&accounts, failed_at);
    refuses_each_read_only_write(
        &mut env,
        &mut covered,
        "report_failure",
        report,
        &[&scheduler],
    )
    .await;
    env.warp(i64::from(HOUR)).await;
    let accounts = env.lease_accounts(expiring).await;
    let expire = env.expire_ix(&accounts);
    refuses_each_read_only_write(&mut env, &mut covered, "expire_lease", expire, &[]).await;
    let accounts = env.lease_accounts(ending).await;
    let close = env.close_ix(&accounts);
    refuses_each_read_only_write(&mut env, &mut covered, "close_lease", close, &[]).await;
    covered.assert_exactly(LEASES);
}

#[tokio::test]
async fn cluster_instructions_refuse_read_only_writes() {
    let mut covered = Covered::default();
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let nodes = [env.register_node(4).await, env.register_node(4).await];
    let renter = env.wallet().await;
    env.fund(&renter.pubkey(), usdc, 1_000 * TOKEN).await;

    // A cluster of two: its leases are created and started with the cluster passed.
    let deadline = env.now().await + 600;
    let create = env.create_cluster_ix(renter.pubkey(), 1, 2, deadline);
    refuses_each_read_only_write(&mut env, &mut covered, "create_cluster", create, &[&renter])
        .await;
    let cluster = cluster_pda(&renter.pubkey(), 1);
    let first = env.create_lease_ix_in(
        &LeaseRequest::new(&renter, &nodes[0], usdc, 1),
        Some(cluster),
    );
    refuses_each_read_only_write(&mut env, &mut covered, "create_lease", first, &[&renter]).await;
    env.create_cluster_lease(LeaseRequest::new(&renter, &nodes[1], usdc, 2), cluster)
        .await
        .unwrap();
    let activate =
        env.activate_in_cluster_ix(lease_pda(&renter.pubkey(), 1), &nodes[0], Some(cluster));
    refuses_each_read_only_write(
        &mut env,
        &mut covered,
        "activate_lease",
        activate,
        &[&nodes[0].operator],
    )
    .await;

    // Pending members end with their cluster passed last (it stops counting them).
    let second = env.lease_accounts(lease_pda(&renter.pubkey(), 2)).await;
    let cancel = env.cancel_ix(&second, renter.pubkey(), true);
    refuses_each_read_only_write(&mut env, &mut covered, "cancel_lease", cancel, &[&renter]).await;
    env.create_cluster(&renter, 2, 3, 60).await.unwrap();
    let other = cluster_pda(&renter.pubkey(), 2);
    for (nonce, node) in [(3, &nodes[0]), (4, &nodes[1])] {
        env.create_cluster_lease(LeaseRequest::new(&renter, node, usdc, nonce), other)
            .await
            .unwrap();
    }
    env.warp(61 + i64::from(ACTIVATION_TIMEOUT)).await;
    let accounts = env.lease_accounts(lease_pda(&renter.pubkey(), 3)).await;
    let expire = env.expire_ix(&accounts);
    refuses_each_read_only_write(&mut env, &mut covered, "expire_lease", expire, &[]).await;

    // The incomplete cluster is unwound: lease, node, payer account, payer and credit per lease.
    let remaining = env.lease_accounts(lease_pda(&renter.pubkey(), 4)).await;
    let unwind = env.unwind_cluster_ix(other, renter.pubkey(), usdc, &[remaining]);
    refuses_each_read_only_write(&mut env, &mut covered, "unwind_cluster", unwind, &[]).await;
    let close = env.close_cluster_ix(cluster, renter.pubkey());
    refuses_each_read_only_write(&mut env, &mut covered, "close_cluster", close, &[&renter]).await;
    covered.assert_exactly(CLUSTERS);
}

#[tokio::test]
async fn staking_instructions_refuse_read_only_writes() {
    let mut covered = Covered::default();
    let mut env = TestEnv::new().await;
    let authority = env.keys.authority.insecure_clone();
    let init = ix(
        acc::InitIoVaults {
            market: market_pda(),
            io_mint: env.io.mint,
            stake_vault: stake_vault_pda(),
            rewards_reserve: rewards_reserve_pda(),
            rewards_escrow: rewards_escrow_pda(),
            authority: authority.pubkey(),
            token_program: env.io.token_program,
            system_program: anchor_lang::system_program::ID,
        },
        args::InitIoVaults {},
    );
    refuses_each_read_only_write(
        &mut env,
        &mut covered,
        "init_io_vaults",
        init,
        &[&authority],
    )
    .await;
    let slasher = env.wallet().await;
    let policy = env.staking_policy_ix(
        authority.pubkey(),
        StakingPolicy {
            slash_authority: slasher.pubkey(),
            stake_per_gpu: 10 * TOKEN,
            unstake_cooldown_secs: 100,
            slash_appeal_secs: 100,
        },
    );
    refuses_each_read_only_write(
        &mut env,
        &mut covered,
        "set_staking_policy",
        policy,
        &[&authority],
    )
    .await;

    let node = env.register_node(2).await;
    let io = env.io;
    env.fund(&node.owner.pubkey(), io, 100 * TOKEN).await;
    let stake = ix(
        env.stake_accounts(&node),
        args::Stake { amount: 60 * TOKEN },
    );
    refuses_each_read_only_write(&mut env, &mut covered, "stake", stake, &[&node.owner]).await;
    let unstake = ix(
        acc::RequestUnstake {
            market: market_pda(),
            node: node.address,
            owner: node.owner.pubkey(),
        },
        args::RequestUnstake { amount: 10 * TOKEN },
    );
    refuses_each_read_only_write(
        &mut env,
        &mut covered,
        "request_unstake",
        unstake,
        &[&node.owner],
    )
    .await;
    env.warp(101).await;
    let withdraw = ix(env.stake_accounts(&node), args::WithdrawStake {});
    refuses_each_read_only_write(
        &mut env,
        &mut covered,
        "withdraw_stake",
        withdraw,
        &[&node.owner],
    )
    .await;

    let harmed = env.wallet().await;
    env.create_ata(&harmed.pubkey(), io).await;
    let slash_args = |amount| SlashArgs {
        amount,
        harmed_amount: amount / 2,
        reason: slash_reason::LEASE_FAILURE,
        evidence: Pubkey::new_unique(),
        harmed: harmed.pubkey(),
    };
    let slash = env.slash_ix(node.address, 0, slasher.pubkey(), slash_args(10 * TOKEN));
    refuses_each_read_only_write(&mut env, &mut covered, "slash", slash, &[&slasher]).await;
    let pending: PendingSlash = env.fetch(slash_pda(&node.address, 0)).await.unwrap();
    let reverse = env.reverse_slash_ix(&pending, slasher.pubkey());
    refuses_each_read_only_write(
        &mut env,
        &mut covered,
        "reverse_slash",
        reverse,
        &[&slasher],
    )
    .await;
    let slash = env.slash_ix(node.address, 1, slasher.pubkey(), slash_args(8 * TOKEN));
    env.send(&[slash], &[&slasher]).await.unwrap();
    let pending: PendingSlash = env.fetch(slash_pda(&node.address, 1)).await.unwrap();
    env.warp(101).await;
    let finalize = env.finalize_slash_ix(&pending);
    refuses_each_read_only_write(&mut env, &mut covered, "finalize_slash", finalize, &[]).await;
    covered.assert_exactly(STAKING);
}

#[tokio::test]
async fn reward_instructions_refuse_read_only_writes() {
    let mut covered = Covered::default();
    let mut env = TestEnv::new().await;
    let slasher = env.wallet().await;
    env.enable_staking(10 * TOKEN, slasher.pubkey()).await;
    let node = env.register_node(1).await;
    env.stake(&node, 10 * TOKEN).await.unwrap();
    let tree = RewardTree::build(
        1,
        vec![Allocation {
            node: node.address,
            owner: node.owner.pubkey(),
            amount: 5 * TOKEN,
        }],
    )
    .unwrap();
    env.fund_rewards_reserve(100 * TOKEN).await;
    let authority = env.keys.authority.insecure_clone();
    let deadline = env.now().await + 1_000;
    let publish = env.publish_epoch_ix(
        authority.pubkey(),
        PublishEpochArgs {
            epoch: 1,
            merkle_root: tree.root(),
            total_amount: tree.total(),
            num_leaves: tree.num_leaves(),
            claim_deadline: deadline,
        },
    );
    refuses_each_read_only_write(
        &mut env,
        &mut covered,
        "publish_epoch",
        publish,
        &[&authority],
    )
    .await;
    let claim = env.claim_reward_ix(
        1,
        node.address,
        node.owner.pubkey(),
        ClaimRewardArgs {
            index: 0,
            amount: 5 * TOKEN,
            proof: tree.proof(0).unwrap(),
        },
    );
    refuses_each_read_only_write(
        &mut env,
        &mut covered,
        "claim_reward",
        claim,
        &[&node.owner],
    )
    .await;

    // An epoch too large for one instruction grows in steps; nobody claims it.
    let big = env.publish_epoch_ix(
        authority.pubkey(),
        PublishEpochArgs {
            epoch: 2,
            merkle_root: [9; 32],
            total_amount: 7 * TOKEN,
            num_leaves: 100_000,
            claim_deadline: deadline,
        },
    );
    env.send(&[big], &[&authority]).await.unwrap();
    let grower = env.wallet().await;
    let grow = env.grow_epoch_ix(2, grower.pubkey());
    refuses_each_read_only_write(&mut env, &mut covered, "grow_epoch", grow, &[&grower]).await;
    env.warp(1_001).await;
    let clawback = env.clawback_epoch_ix(2);
    refuses_each_read_only_write(&mut env, &mut covered, "clawback_epoch", clawback, &[]).await;
    covered.assert_exactly(REWARDS);
}

#[tokio::test]
async fn iosd_instructions_refuse_read_only_writes() {
    let mut covered = Covered::default();
    let mut env = TestEnv::new().await;
    env.init_io().await.unwrap();
    let iosd = env.create_iosd_mint().await;
    let authority = env.keys.authority.insecure_clone();
    let feed = [5; 32];
    let init = env.init_iosd_ix(
        iosd,
        authority.pubkey(),
        IosdPolicy {
            price_feed_id: feed,
            max_price_age_secs: 60,
            max_confidence_bps: 100,
            window_secs: 3_600,
            window_cap: 1_000 * TOKEN,
        },
    );
    refuses_each_read_only_write(&mut env, &mut covered, "init_iosd", init, &[&authority]).await;
    let user = env.wallet().await;
    let io = env.io;
    env.fund(&user.pubkey(), io, 10 * TOKEN).await;
    env.create_ata(&user.pubkey(), iosd).await;
    let oracle = Pubkey::new_unique();
    let now = env.now().await;
    env.post_price(
        oracle,
        price_update_data(feed, 50_000_000, 10_000, now, true),
        iomesh::oracle::PYTH_RECEIVER_ID,
    );
    let mint = env.mint_iosd_ix(iosd, oracle, user.pubkey(), TOKEN, 1);
    refuses_each_read_only_write(&mut env, &mut covered, "mint_iosd", mint, &[&user]).await;
    covered.assert_exactly(IOSD);
}

#[tokio::test]
async fn credit_instructions_refuse_read_only_writes() {
    let mut covered = Covered::default();
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(2).await;
    let renter = env.wallet().await;
    env.fund(&renter.pubkey(), usdc, 100 * TOKEN).await;
    let lease = env
        .create_lease(LeaseRequest::new(&renter, &node, usdc, 1))
        .await
        .unwrap();
    env.activate(lease, &node).await.unwrap();
    env.warp(600).await;
    // The renter's account is closed and the treasury's frozen out of reach:
    // a refund waits in a credit, a fee as unswept.
    let authority = env.keys.authority.insecure_clone();
    let treasury = env.keys.treasury.insecure_clone();
    let close_account = anchor_spl::token_2022::spl_token_2022::instruction::close_account(
        &usdc.token_program,
        &usdc.ata(&renter.pubkey()),
        &renter.pubkey(),
        &renter.pubkey(),
        &[],
    )
    .unwrap();
    let drain = anchor_spl::token_2022::spl_token_2022::instruction::transfer_checked(
        &usdc.token_program,
        &usdc.ata(&renter.pubkey()),
        &usdc.mint,
        &usdc.ata(&authority.pubkey()),
        &renter.pubkey(),
        &[],
        env.balance(usdc.ata(&renter.pubkey())).await,
        DECIMALS,
    )
    .unwrap();
    env.create_ata(&authority.pubkey(), usdc).await;
    env.send(&[drain, close_account], &[&renter]).await.unwrap();
    let hand_over = anchor_spl::token_2022::spl_token_2022::instruction::set_authority(
        &usdc.token_program,
        &usdc.ata(&treasury.pubkey()),
        Some(&authority.pubkey()),
        anchor_spl::token_2022::spl_token_2022::instruction::AuthorityType::AccountOwner,
        &treasury.pubkey(),
        &[],
    )
    .unwrap();
    env.airdrop(&treasury.pubkey(), 1_000_000_000).await;
    env.send(&[hand_over], &[&treasury]).await.unwrap();
    env.cancel(lease, &renter).await.unwrap();
    assert!(env.payment_mint(&usdc).await.unswept_fees > 0);

    let destination = env.create_ata(&renter.pubkey(), usdc).await;
    let withdraw = env.withdraw_credit_ix(renter.pubkey(), usdc.vault(), usdc, destination);
    refuses_each_read_only_write(
        &mut env,
        &mut covered,
        "withdraw_credit",
        withdraw,
        &[&renter],
    )
    .await;
    let close = env.close_credit_ix(credit_pda(&usdc.vault(), &renter.pubkey()), renter.pubkey());
    refuses_each_read_only_write(&mut env, &mut covered, "close_credit", close, &[]).await;
    // The treasury takes its account back; anyone sweeps the fees to it.
    let give_back = anchor_spl::token_2022::spl_token_2022::instruction::set_authority(
        &usdc.token_program,
        &usdc.ata(&treasury.pubkey()),
        Some(&treasury.pubkey()),
        anchor_spl::token_2022::spl_token_2022::instruction::AuthorityType::AccountOwner,
        &authority.pubkey(),
        &[],
    )
    .unwrap();
    env.send(&[give_back], &[&authority]).await.unwrap();
    let sweep = env.sweep_fees_ix(usdc);
    refuses_each_read_only_write(&mut env, &mut covered, "sweep_fees", sweep, &[]).await;
    covered.assert_exactly(CREDITS);
}

#[test]
fn every_instruction_of_the_idl_is_covered() {
    let idl: serde_json::Value =
        serde_json::from_str(include_str!("../../../idl/iomesh.json")).unwrap();
    let in_idl: BTreeSet<String> = idl["instructions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    let covered: BTreeSet<String> = [
        MARKET, NODES, LEASES, CLUSTERS, STAKING, REWARDS, IOSD, CREDITS,
    ]
    .concat()
    .into_iter()
    .map(str::to_string)
    .collect();
    assert_eq!(
        in_idl, covered,
        "every instruction needs a read-only case in this file"
    );
}
