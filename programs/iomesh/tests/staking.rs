//! Staking and slashing: stake, request_unstake, withdraw_stake, slash,
//! reverse_slash, finalize_slash, and the stake requirement on new leases.

mod common;

use anchor_lang::prelude::Pubkey;
use common::*;
use iomesh::{accounts as acc, error::IomeshError, instruction as args, state::*, SlashArgs};
use solana_keypair::Keypair;
use solana_signer::Signer;

const PER_GPU: u64 = 100 * TOKEN;

/// Staking on (100 IO per GPU) and a 4-GPU node, not yet staked.
async fn setup() -> (TestEnv, Keypair, TestNode) {
    let mut env = TestEnv::new().await;
    let slasher = env.wallet().await;
    env.enable_staking(PER_GPU, slasher.pubkey()).await;
    let node = env.register_node(4).await;
    (env, slasher, node)
}

fn slash_args(amount: u64, harmed_amount: u64, harmed: Pubkey, evidence: Pubkey) -> SlashArgs {
    SlashArgs {
        amount,
        harmed_amount,
        reason: slash_reason::LEASE_FAILURE,
        evidence,
        harmed,
    }
}

#[tokio::test]
async fn a_node_takes_new_leases_only_with_its_full_stake() {
    let (mut env, _, node) = setup().await;
    let usdc = env.usdc;
    let result = env.funded_lease(&node, usdc, 1, HOUR, 100 * TOKEN).await;
    assert_error(result.map(|_| ()), code(IomeshError::InsufficientStake));

    env.stake(&node, 4 * PER_GPU - 1).await.unwrap();
    let result = env.funded_lease(&node, usdc, 1, HOUR, 100 * TOKEN).await;
    assert_error(result.map(|_| ()), code(IomeshError::InsufficientStake));

    env.stake(&node, 1).await.unwrap();
    env.funded_lease(&node, usdc, 1, HOUR, 100 * TOKEN)
        .await
        .unwrap();
    assert_eq!(env.node(node.address).await.staked, 4 * PER_GPU);
    assert_eq!(env.balance(stake_vault_pda()).await, 4 * PER_GPU);
}

#[tokio::test]
async fn unstake_below_the_minimum_is_refused_while_leases_are_open() {
    let (mut env, _, node) = setup().await;
    let usdc = env.usdc;
    env.stake(&node, 4 * PER_GPU + 50).await.unwrap();
    let (renter, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;

    assert_error(
        env.request_unstake(&node, 51).await,
        code(IomeshError::StakeBelowMinimumWithOpenLeases),
    );
    // The surplus can go.
    env.request_unstake(&node, 50).await.unwrap();
    assert_error(
        env.request_unstake(&node, 4 * PER_GPU + 1).await,
        code(IomeshError::InsufficientStake),
    );
    assert_error(
        env.request_unstake(&node, 0).await,
        code(IomeshError::ZeroAmount),
    );
    // Once the lease is gone, everything can.
    env.cancel(lease, &renter).await.unwrap();
    env.request_unstake(&node, 4 * PER_GPU).await.unwrap();
    let state = env.node(node.address).await;
    assert_eq!((state.staked, state.unstaking), (0, 4 * PER_GPU + 50));
}

#[tokio::test]
async fn withdraw_waits_for_the_cooldown() {
    let (mut env, _, node) = setup().await;
    let io = env.io;
    let owner_io = io.ata(&node.owner.pubkey());
    assert_error(
        env.withdraw_stake(&node).await,
        code(IomeshError::NothingToWithdraw),
    );
    env.stake(&node, 300 * TOKEN).await.unwrap();
    env.request_unstake(&node, 120 * TOKEN).await.unwrap();
    let ready_at = env.now().await + i64::from(STAKE_COOLDOWN);
    assert_eq!(env.node(node.address).await.unstake_ready_at, ready_at);

    env.warp(i64::from(STAKE_COOLDOWN) - 1).await;
    assert_error(
        env.withdraw_stake(&node).await,
        code(IomeshError::UnstakeCooldownActive),
    );
    env.warp(1).await;
    env.withdraw_stake(&node).await.unwrap();
    assert_eq!(env.balance(owner_io).await, 120 * TOKEN);
    assert_eq!(env.balance(stake_vault_pda()).await, 180 * TOKEN);
    let state = env.node(node.address).await;
    assert_eq!(
        (state.staked, state.unstaking, state.unstake_ready_at),
        (180 * TOKEN, 0, 0)
    );
}

#[tokio::test]
async fn only_the_owner_stakes_and_a_staked_node_cannot_retire() {
    let (mut env, _, node) = setup().await;
    let io = env.io;
    let stranger = env.wallet().await;
    env.fund(&stranger.pubkey(), io, 10 * TOKEN).await;
    let mut accounts = env.stake_accounts(&node);
    accounts.owner = stranger.pubkey();
    accounts.owner_token_account = io.ata(&stranger.pubkey());
    let stake = ix(accounts, args::Stake { amount: TOKEN });
    assert_error(
        env.send(&[stake], &[&stranger]).await,
        code(IomeshError::NotNodeOwner),
    );

    env.stake(&node, TOKEN).await.unwrap();
    let retire = ix(
        acc::RetireNode {
            node: node.address,
            owner: node.owner.pubkey(),
        },
        args::RetireNode {},
    );
    let owner = node.owner.insecure_clone();
    assert_error(
        env.send(&[retire], &[&owner]).await,
        code(IomeshError::NodeHasStake),
    );
}

#[tokio::test]
async fn slash_finalized_after_the_appeal_window_pays_the_renter_and_burns_the_rest() {
    let (mut env, slasher, node) = setup().await;
    let io = env.io;
    env.stake(&node, 500 * TOKEN).await.unwrap();
    // Part of the stake is in cooldown: it stays slashable.
    env.request_unstake(&node, 200 * TOKEN).await.unwrap();
    let renter = env.wallet().await;
    env.create_ata(&renter.pubkey(), io).await;
    let failed_lease = Pubkey::new_unique();
    let supply_before = env.supply(io.mint).await;
    let authority_lamports = env.lamports(slasher.pubkey()).await;

    let ix = env.slash_ix(
        node.address,
        0,
        slasher.pubkey(),
        slash_args(400 * TOKEN, 150 * TOKEN, renter.pubkey(), failed_lease),
    );
    env.send(&[ix], &[&slasher]).await.unwrap();
    let state = env.node(node.address).await;
    // Active stake first (300), then unstaking (100 of 200).
    assert_eq!((state.staked, state.unstaking), (0, 100 * TOKEN));
    assert_eq!((state.slashes_pending, state.slash_count), (1, 1));
    let slash: PendingSlash = env.fetch(slash_pda(&node.address, 0)).await.unwrap();
    assert_eq!(slash.evidence, failed_lease);
    assert_eq!(slash.reason, slash_reason::LEASE_FAILURE);
    // Still in the stake vault, pending.
    assert_eq!(env.balance(stake_vault_pda()).await, 500 * TOKEN);

    env.warp(i64::from(APPEAL_WINDOW) - 1).await;
    let finalize = env.finalize_slash_ix(&slash);
    assert_error(
        env.send(&[finalize.clone()], &[]).await,
        code(IomeshError::AppealWindowOpen),
    );
    env.warp(1).await;
    // Reversal is over once the window has passed.
    let reverse = env.reverse_slash_ix(&slash, slasher.pubkey());
    assert_error(
        env.send(&[reverse], &[&slasher]).await,
        code(IomeshError::AppealWindowClosed),
    );
    let anyone = env.wallet().await;
    env.send_as(&anyone, &[finalize], &[]).await.result.unwrap();

    assert_eq!(env.balance(io.ata(&renter.pubkey())).await, 150 * TOKEN);
    assert_eq!(env.supply(io.mint).await, supply_before - 250 * TOKEN);
    assert_eq!(env.balance(stake_vault_pda()).await, 100 * TOKEN);
    assert!(env
        .account_data(slash_pda(&node.address, 0))
        .await
        .is_none());
    // The slash authority paid the pending slash's rent and has it back (less fees).
    assert!(env.lamports(slasher.pubkey()).await + 20_000 >= authority_lamports);
    assert_eq!(env.node(node.address).await.slashes_pending, 0);
}

#[tokio::test]
async fn slash_reversed_within_the_window_restores_the_stake() {
    let (mut env, slasher, node) = setup().await;
    env.stake(&node, 500 * TOKEN).await.unwrap();
    let renter = Pubkey::new_unique();
    let ix = env.slash_ix(
        node.address,
        0,
        slasher.pubkey(),
        slash_args(100 * TOKEN, 100 * TOKEN, renter, Pubkey::new_unique()),
    );
    env.send(&[ix], &[&slasher]).await.unwrap();
    assert_eq!(env.node(node.address).await.staked, 400 * TOKEN);
    let slash: PendingSlash = env.fetch(slash_pda(&node.address, 0)).await.unwrap();

    // Only the slashing authority may reverse.
    let impostor = env.wallet().await;
    let reverse = env.reverse_slash_ix(&slash, impostor.pubkey());
    assert_error(
        env.send(&[reverse], &[&impostor]).await,
        code(IomeshError::NotSlashAuthority),
    );
    env.warp(i64::from(APPEAL_WINDOW) - 1).await;
    let reverse = env.reverse_slash_ix(&slash, slasher.pubkey());
    env.send(&[reverse], &[&slasher]).await.unwrap();
    let state = env.node(node.address).await;
    assert_eq!((state.staked, state.slashes_pending), (500 * TOKEN, 0));
    assert!(env
        .account_data(slash_pda(&node.address, 0))
        .await
        .is_none());
    assert_eq!(env.balance(stake_vault_pda()).await, 500 * TOKEN);
}

#[tokio::test]
async fn slash_is_refused_to_others_and_beyond_the_stake() {
    let (mut env, slasher, node) = setup().await;
    env.stake(&node, 50 * TOKEN).await.unwrap();
    let renter = Pubkey::new_unique();
    let evidence = Pubkey::new_unique();
    let impostor = env.wallet().await;
    let ix = env.slash_ix(
        node.address,
        0,
        impostor.pubkey(),
        slash_args(TOKEN, 0, renter, evidence),
    );
    assert_error(
        env.send(&[ix], &[&impostor]).await,
        code(IomeshError::NotSlashAuthority),
    );
    for (args, error) in [
        (
            slash_args(50 * TOKEN + 1, 0, renter, evidence),
            IomeshError::SlashExceedsStake,
        ),
        (
            slash_args(0, 0, renter, evidence),
            IomeshError::InvalidSlashAmount,
        ),
        (
            slash_args(TOKEN, TOKEN + 1, renter, evidence),
            IomeshError::InvalidSlashAmount,
        ),
    ] {
        let ix = env.slash_ix(node.address, 0, slasher.pubkey(), args);
        assert_error(env.send(&[ix], &[&slasher]).await, code(error));
    }
    assert_eq!(env.node(node.address).await.staked, 50 * TOKEN);
}

#[tokio::test]
async fn io_vaults_are_created_once_and_policy_is_validated() {
    let (mut env, slasher, _) = setup().await;
    assert_error(env.init_io().await, code(IomeshError::IoVaultsExist));
    let authority = env.keys.authority.insecure_clone();
    let bad = iomesh::StakingPolicy {
        slash_authority: slasher.pubkey(),
        stake_per_gpu: 1,
        unstake_cooldown_secs: 0,
        slash_appeal_secs: 1,
    };
    let ix = env.staking_policy_ix(authority.pubkey(), bad.clone());
    assert_error(
        env.send(&[ix], &[&authority]).await,
        code(IomeshError::InvalidStakingPolicy),
    );
    let ix = env.staking_policy_ix(slasher.pubkey(), bad);
    assert_error(
        env.send(&[ix], &[&slasher]).await,
        code(IomeshError::NotMarketAuthority),
    );
    let market = env.market().await;
    assert_eq!(market.io_mint, env.io.mint);
    assert_eq!(market.stake_per_gpu, PER_GPU);
}
