//! Lease instructions: create, activate, settle, extend, cancel, report_failure,
//! expire and close — success paths and every way each must fail.

mod common;

use anchor_lang::error::ErrorCode as AnchorError;
use anchor_spl::{token::spl_token, token_2022::spl_token_2022};
use common::*;
use iomesh::{
    error::IomeshError,
    instruction as args,
    state::{LeaseStatus, MarketParams},
};
use solana_keypair::Keypair;
use solana_signer::Signer;

#[tokio::test]
async fn lease_full_life_pays_supplier_and_treasury_and_refunds_dust() {
    let mut env = TestEnv::new().await;
    let node = env.register_node(4).await;
    let usdc = env.usdc;
    let (renter, lease) = env.simple_lease(&node, usdc, 2, HOUR).await;
    let state = env.lease(lease).await.unwrap();
    assert_eq!(state.status, LeaseStatus::Pending);
    // $2.00 per GPU-hour in a stable 6-decimal mint: 2 GPUs × 1 h = 4 USDC.
    assert_eq!(state.deposited, 4 * TOKEN);
    assert_eq!(env.balance(usdc.vault()).await, 4 * TOKEN);
    assert_eq!(env.node(node.address).await.gpus_in_use, 2);

    env.activate(lease, &node).await.unwrap();
    env.warp(HOUR as i64 + 10).await;
    env.close(lease).await.unwrap();

    assert!(env.lease(lease).await.is_none(), "lease account closed");
    let fee = 4 * TOKEN * u64::from(USDC_FEE_BPS) / 10_000;
    assert_eq!(
        env.balance(usdc.ata(&node.owner.pubkey())).await,
        4 * TOKEN - fee
    );
    assert_eq!(
        env.balance(usdc.ata(&env.keys.treasury.pubkey())).await,
        fee
    );
    assert_eq!(env.balance(usdc.ata(&renter.pubkey())).await, 996 * TOKEN);
    assert_eq!(env.balance(usdc.vault()).await, 0);
    let node_state = env.node(node.address).await;
    assert_eq!(node_state.gpus_in_use, 0);
    assert_eq!(node_state.leases_served, 1);
    assert_eq!(node_state.gpu_seconds_delivered, 2 * u64::from(HOUR));
}

// ---------------------------------------------------------------- helpers

type TxResult = std::result::Result<(), solana_transaction_error::TransactionError>;

/// The fixture's nodes charge $2.00 per GPU-hour.
const NODE_PRICE: u64 = 2_000_000;
/// IO at $0.30 makes a GPU-hour cost ceil(2e12 / 3e5) = 6_666_667 base units,
/// so escrow, payouts and fees all have to round.
const ODD_IO_PRICE: u64 = 300_000;

/// The fixture with IO repriced to $0.30, and the IO rate per GPU-hour of a fixture node.
async fn io_env() -> (TestEnv, u64) {
    let mut env = TestEnv::new().await;
    env.set_io_price(ODD_IO_PRICE).await.unwrap();
    let rate = expected_rate(NODE_PRICE, ODD_IO_PRICE, DECIMALS);
    assert_eq!(rate, 6_666_667);
    (env, rate)
}

fn req<'a>(
    renter: &'a Keypair,
    node: &TestNode,
    mint: TestMint,
    nonce: u64,
    gpus: u16,
    duration_secs: u32,
) -> LeaseRequest<'a> {
    LeaseRequest::new(renter, node, mint, nonce)
        .gpus(gpus)
        .for_secs(duration_secs)
}

/// A new wallet holding 1,000 tokens of `mint`.
async fn funded(env: &mut TestEnv, mint: TestMint) -> Keypair {
    let wallet = env.wallet().await;
    env.fund(&wallet.pubkey(), mint, 1_000 * TOKEN).await;
    wallet
}

/// Token balances of everyone a lease pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Balances {
    supplier: u64,
    treasury: u64,
    payer: u64,
    vault: u64,
}

async fn balances(env: &mut TestEnv, a: &LeaseAccounts) -> Balances {
    Balances {
        supplier: env.balance(a.supplier).await,
        treasury: env.balance(a.treasury).await,
        payer: env.balance(a.payer_token_account).await,
        vault: env.balance(a.mint.vault()).await,
    }
}

async fn create(env: &mut TestEnv, request: LeaseRequest<'_>) -> TxResult {
    env.create_lease(request).await.map(drop)
}

// ---------------------------------------------------------------- create_lease

#[tokio::test]
async fn create_lease_escrows_rounded_up_deposit_and_reserves_gpus() {
    let (mut env, rate) = io_env().await;
    let io = env.io;
    let node = env.register_node(4).await;
    let renter = funded(&mut env, io).await;
    env.warp(77).await;
    let now = env.now().await;
    let lamports_before = env.lamports(renter.pubkey()).await;

    let lease = env
        .create_lease(req(&renter, &node, io, 42, 3, 1_234))
        .await
        .unwrap();
    assert_eq!(lease, lease_pda(&renter.pubkey(), 42));

    // ceil(6_666_667 × 3 × 1234 / 3600) = ceil(6_855_555.89…)
    let deposit = expected_deposit(rate, 3, 1_234);
    assert_eq!(deposit, 6_855_556);
    let state = env.lease(lease).await.unwrap();
    assert_eq!(state.version, 1);
    assert_eq!(state.status, LeaseStatus::Pending);
    assert_eq!(state.fee_bps, IO_FEE_BPS);
    assert_eq!(state.gpus, 3);
    assert_eq!(state.renter, renter.pubkey());
    assert_eq!(state.payer, renter.pubkey());
    assert_eq!(state.node, node.address);
    assert_eq!(state.mint, io.mint);
    assert_eq!(state.nonce, 42);
    assert_eq!(state.rate_per_gpu_hour, rate);
    assert_eq!(state.deposited, deposit);
    assert_eq!(state.paid_out, 0);
    assert_eq!(state.created_at, now);
    assert_eq!(state.activated_at, 0);
    assert_eq!(state.settled_until, 0);
    assert_eq!(state.duration_secs, 1_234);
    assert_eq!(state.job_spec_hash, job_hash(42));

    assert_eq!(env.balance(io.vault()).await, deposit);
    assert_eq!(
        env.balance(io.ata(&renter.pubkey())).await,
        1_000 * TOKEN - deposit
    );
    // The renter (as payer) paid the lease account's rent, nothing else.
    let rent = env.lamports(lease).await;
    assert!(rent > 0);
    assert_eq!(env.lamports(renter.pubkey()).await, lamports_before - rent);
    let node_state = env.node(node.address).await;
    assert_eq!(node_state.gpus_in_use, 3);
    assert_eq!(node_state.open_leases, 1);
}

#[tokio::test]
async fn create_lease_rejects_overbooking() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let renter = funded(&mut env, usdc).await;
    let other = funded(&mut env, usdc).await;

    // More GPUs than the node has.
    assert_error(
        create(&mut env, req(&renter, &node, usdc, 1, 5, HOUR)).await,
        IomeshError::Overbooked,
    );
    let first = env
        .create_lease(req(&renter, &node, usdc, 1, 3, HOUR))
        .await
        .unwrap();
    // Two leases that each fit but together exceed the node (3 + 2 > 4),
    // whoever the second renter is.
    assert_error(
        create(&mut env, req(&renter, &node, usdc, 2, 2, HOUR)).await,
        IomeshError::Overbooked,
    );
    assert_error(
        create(&mut env, req(&other, &node, usdc, 1, 2, HOUR)).await,
        IomeshError::Overbooked,
    );
    create(&mut env, req(&other, &node, usdc, 1, 1, HOUR))
        .await
        .unwrap();
    // Full.
    assert_error(
        create(&mut env, req(&renter, &node, usdc, 2, 1, HOUR)).await,
        IomeshError::Overbooked,
    );
    let state = env.node(node.address).await;
    assert_eq!((state.gpus_in_use, state.open_leases), (4, 2));
    // Only the two accepted leases were escrowed: 4 GPU-hours at 2 USDC.
    assert_eq!(env.balance(usdc.vault()).await, 8 * TOKEN);

    // Ending a lease frees its GPUs for the next one.
    env.cancel(first, &renter).await.unwrap();
    create(&mut env, req(&renter, &node, usdc, 2, 3, HOUR))
        .await
        .unwrap();
    assert_eq!(env.node(node.address).await.gpus_in_use, 4);
}

#[tokio::test]
async fn create_lease_rejects_too_short_and_too_long() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env
        .register_node_with(iomesh::NodeSpec {
            min_lease_secs: 300,
            max_lease_secs: 2 * HOUR,
            ..TestEnv::node_spec(8, NODE_PRICE)
        })
        .await
        .unwrap();
    let renter = funded(&mut env, usdc).await;

    // The node's bounds.
    assert_error(
        create(&mut env, req(&renter, &node, usdc, 1, 1, 299)).await,
        IomeshError::LeaseTooShort,
    );
    assert_error(
        create(&mut env, req(&renter, &node, usdc, 1, 1, 2 * HOUR + 1)).await,
        IomeshError::LeaseTooLong,
    );
    create(&mut env, req(&renter, &node, usdc, 1, 1, 300))
        .await
        .unwrap();
    create(&mut env, req(&renter, &node, usdc, 2, 1, 2 * HOUR))
        .await
        .unwrap();

    // The market's bounds apply too when they are stricter than the node's.
    let params = MarketParams {
        min_lease_secs: 600,
        max_lease_secs: HOUR,
        ..default_params(&env.keys)
    };
    env.update_market(params).await.unwrap();
    assert_error(
        create(&mut env, req(&renter, &node, usdc, 3, 1, 599)).await,
        IomeshError::LeaseTooShort,
    );
    assert_error(
        create(&mut env, req(&renter, &node, usdc, 3, 1, HOUR + 1)).await,
        IomeshError::LeaseTooLong,
    );
    create(&mut env, req(&renter, &node, usdc, 3, 1, 600))
        .await
        .unwrap();
    create(&mut env, req(&renter, &node, usdc, 4, 1, HOUR))
        .await
        .unwrap();
    assert_eq!(env.node(node.address).await.open_leases, 4);
}

#[tokio::test]
async fn create_lease_rejects_price_above_max() {
    let mut env = TestEnv::new().await;
    let io = env.io;
    let node = env.register_node(4).await;
    let renter = funded(&mut env, io).await;
    // IO at $0.50: 4 IO per GPU-hour.
    let rate = expected_rate(NODE_PRICE, IO_PRICE_MICROS, DECIMALS);
    assert_eq!(rate, 4 * TOKEN);
    let guarded = |nonce, max| LeaseRequest {
        max_price_per_gpu_hour: max,
        ..req(&renter, &node, io, nonce, 1, HOUR)
    };
    assert_error(
        create(&mut env, guarded(1, rate - 1)).await,
        IomeshError::PriceAboveMax,
    );
    create(&mut env, guarded(1, rate)).await.unwrap();

    // IO falls to $0.25: the same GPU-hour now costs 8 IO, above the renter's guard.
    env.set_io_price(250_000).await.unwrap();
    let new_rate = expected_rate(NODE_PRICE, 250_000, DECIMALS);
    assert_eq!(new_rate, 8 * TOKEN);
    assert_error(
        create(&mut env, guarded(2, rate)).await,
        IomeshError::PriceAboveMax,
    );
    assert!(env.lease(lease_pda(&renter.pubkey(), 2)).await.is_none());
    create(&mut env, guarded(2, new_rate)).await.unwrap();
    let state = env.lease(lease_pda(&renter.pubkey(), 2)).await.unwrap();
    assert_eq!(state.rate_per_gpu_hour, new_rate);
}

#[tokio::test]
async fn create_lease_rejects_zero_job_hash() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let renter = funded(&mut env, usdc).await;
    let mut ix = env.create_lease_ix(&req(&renter, &node, usdc, 1, 1, HOUR));
    // The hash is the last field of the instruction data.
    let len = ix.data.len();
    assert_eq!(ix.data[len - 32..], job_hash(1));
    ix.data[len - 32..].fill(0);
    assert_error(
        env.send(&[ix], &[&renter]).await,
        IomeshError::EmptyJobSpecHash,
    );
    assert!(env.lease(lease_pda(&renter.pubkey(), 1)).await.is_none());
    assert_eq!(env.node(node.address).await.gpus_in_use, 0);
}

#[tokio::test]
async fn create_lease_rejects_wrong_token_program() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let renter = funded(&mut env, usdc).await;
    let mut ix = env.create_lease_ix(&req(&renter, &node, usdc, 1, 1, HOUR));
    let token_program = ix
        .accounts
        .iter_mut()
        .find(|meta| meta.pubkey == spl_token::ID)
        .unwrap();
    token_program.pubkey = spl_token_2022::ID;
    assert_error(
        env.send(&[ix], &[&renter]).await,
        IomeshError::WrongTokenProgram,
    );
}

#[tokio::test]
async fn create_lease_refuses_payer_without_enough_tokens() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let renter = env.wallet().await;
    env.fund(&renter.pubkey(), usdc, 2 * TOKEN - 1).await;
    // One GPU-hour costs 2 USDC: the token program refuses the deposit.
    assert_error(
        create(&mut env, req(&renter, &node, usdc, 1, 1, HOUR)).await,
        spl_token::error::TokenError::InsufficientFunds as u32,
    );
    assert_eq!(env.node(node.address).await.gpus_in_use, 0);
    assert_eq!(env.balance(usdc.ata(&renter.pubkey())).await, 2 * TOKEN - 1);
}

#[tokio::test]
async fn sponsored_lease_payer_funds_and_receives_refund_and_rent() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let renter = env.wallet().await;
    let sponsor = funded(&mut env, usdc).await;
    let renter_lamports = env.lamports(renter.pubkey()).await;
    let sponsor_lamports = env.lamports(sponsor.pubkey()).await;

    let lease = env
        .create_lease(LeaseRequest {
            payer: Some(&sponsor),
            ..req(&renter, &node, usdc, 1, 2, HOUR)
        })
        .await
        .unwrap();
    assert_eq!(lease, lease_pda(&renter.pubkey(), 1));
    let state = env.lease(lease).await.unwrap();
    assert_eq!(state.renter, renter.pubkey());
    assert_eq!(state.payer, sponsor.pubkey());
    let deposit = expected_deposit(2 * TOKEN, 2, 3_600);
    assert_eq!(state.deposited, deposit);
    // The sponsor paid the escrow and the rent; the renter paid nothing and holds no tokens.
    let rent = env.lamports(lease).await;
    assert_eq!(
        env.balance(usdc.ata(&sponsor.pubkey())).await,
        1_000 * TOKEN - deposit
    );
    assert_eq!(
        env.lamports(sponsor.pubkey()).await,
        sponsor_lamports - rent
    );
    assert_eq!(env.lamports(renter.pubkey()).await, renter_lamports);
    assert!(env.account_data(usdc.ata(&renter.pubkey())).await.is_none());

    env.activate(lease, &node).await.unwrap();
    // Either the sponsor or the renter may buy more time, each with their own tokens.
    env.extend(lease, &sponsor, 600).await.unwrap();
    let after_sponsor = expected_deposit(2 * TOKEN, 2, 4_200);
    assert_eq!(
        env.balance(usdc.ata(&sponsor.pubkey())).await,
        1_000 * TOKEN - after_sponsor
    );
    env.fund(&renter.pubkey(), usdc, 10 * TOKEN).await;
    env.extend(lease, &renter, 600).await.unwrap();
    let total = expected_deposit(2 * TOKEN, 2, 4_800);
    assert_eq!(
        env.balance(usdc.ata(&renter.pubkey())).await,
        10 * TOKEN - (total - after_sponsor)
    );
    assert_eq!(env.lease(lease).await.unwrap().deposited, total);

    // The renter cancels: the refund and the rent go to the sponsor.
    env.warp(1_800).await;
    env.cancel(lease, &renter).await.unwrap();
    let accrued = expected_accrued(2 * TOKEN, 2, 1_800);
    let refund = total - accrued;
    assert_eq!(
        env.balance(usdc.ata(&sponsor.pubkey())).await,
        1_000 * TOKEN - after_sponsor + refund
    );
    assert_eq!(
        env.balance(usdc.ata(&renter.pubkey())).await,
        10 * TOKEN - (total - after_sponsor),
        "no refund to the renter"
    );
    assert_eq!(env.lamports(sponsor.pubkey()).await, sponsor_lamports);
    assert_eq!(env.lamports(renter.pubkey()).await, renter_lamports);
    assert_eq!(
        env.balance(usdc.ata(&node.owner.pubkey())).await,
        accrued - expected_fee(accrued, USDC_FEE_BPS)
    );
    assert_eq!(env.balance(usdc.vault()).await, 0);
}

// ---------------------------------------------------------------- activate_lease

#[tokio::test]
async fn activate_lease_starts_billing_now() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (_, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;
    let created_at = env.now().await;
    env.warp(100).await;
    env.activate(lease, &node).await.unwrap();
    let state = env.lease(lease).await.unwrap();
    assert_eq!(state.status, LeaseStatus::Active);
    assert_eq!(state.created_at, created_at);
    assert_eq!(state.activated_at, created_at + 100);
    assert_eq!(state.settled_until, created_at + 100);
    assert_eq!(state.ends_at().unwrap(), created_at + 100 + i64::from(HOUR));
    assert_eq!(state.paid_out, 0);
    // Activation moves no tokens.
    assert_eq!(env.balance(usdc.vault()).await, 2 * TOKEN);
}

#[tokio::test]
async fn activate_lease_refuses_anyone_but_the_node_operator() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let other = env.register_node(4).await;
    let (_, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;

    // The node account is derived from the operator key, so with any other
    // signer the node passed is not that signer's node: the seeds check refuses
    // before `has_one = operator` (NotNodeOperator) is reached.
    let stranger = env.wallet().await;
    let ix = env.activate_ix(lease, node.address, stranger.pubkey());
    assert_error(
        env.send(&[ix], &[&stranger]).await,
        AnchorError::ConstraintSeeds,
    );
    let owner = node.owner.insecure_clone();
    let ix = env.activate_ix(lease, node.address, owner.pubkey());
    assert_error(
        env.send(&[ix], &[&owner]).await,
        AnchorError::ConstraintSeeds,
    );
    let other_operator = other.operator.insecure_clone();
    let ix = env.activate_ix(lease, node.address, other_operator.pubkey());
    assert_error(
        env.send(&[ix], &[&other_operator]).await,
        AnchorError::ConstraintSeeds,
    );
    // Another node's operator with its own node: the lease is not on that node.
    let ix = env.activate_ix(lease, other.address, other_operator.pubkey());
    assert_error(
        env.send(&[ix], &[&other_operator]).await,
        IomeshError::LeaseAccountMismatch,
    );
    assert_eq!(env.lease(lease).await.unwrap().status, LeaseStatus::Pending);
    env.activate(lease, &node).await.unwrap();
}

#[tokio::test]
async fn activate_lease_refuses_after_activation_timeout() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (_, on_time) = env.simple_lease(&node, usdc, 1, HOUR).await;
    let (_, late) = env.simple_lease(&node, usdc, 1, HOUR).await;
    // Exactly at the deadline is still in time.
    env.warp(i64::from(ACTIVATION_TIMEOUT)).await;
    env.activate(on_time, &node).await.unwrap();
    env.warp(1).await;
    assert_error(
        env.activate(late, &node).await,
        IomeshError::ActivationTimedOut,
    );
    assert_eq!(env.lease(late).await.unwrap().status, LeaseStatus::Pending);
    // It can only be expired now.
    env.expire(late).await.unwrap();
}

#[tokio::test]
async fn activate_lease_twice_refused_with_lease_not_pending() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (_, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;
    env.activate(lease, &node).await.unwrap();
    let activated_at = env.lease(lease).await.unwrap().activated_at;
    assert_error(
        env.activate(lease, &node).await,
        IomeshError::LeaseNotPending,
    );
    env.warp(10).await;
    assert_error(
        env.activate(lease, &node).await,
        IomeshError::LeaseNotPending,
    );
    assert_eq!(env.lease(lease).await.unwrap().activated_at, activated_at);
}

// ---------------------------------------------------------------- settle_lease

#[tokio::test]
async fn settle_lease_pays_accrued_minus_fee() {
    let (mut env, rate) = io_env().await;
    let io = env.io;
    let node = env.register_node(4).await;
    let (_, lease) = env.simple_lease(&node, io, 3, 2 * HOUR).await;
    let deposit = expected_deposit(rate, 3, 7_200);
    env.activate(lease, &node).await.unwrap();
    let activated_at = env.now().await;
    let a = env.lease_accounts(lease).await;

    env.warp(1_234).await;
    env.settle(lease).await.unwrap();
    let accrued_1 = expected_accrued(rate, 3, 1_234);
    let fee_1 = expected_fee(accrued_1, IO_FEE_BPS);
    assert_eq!((accrued_1, fee_1), (6_855_555, 17_138));
    assert_eq!(
        balances(&mut env, &a).await,
        Balances {
            supplier: accrued_1 - fee_1,
            treasury: fee_1,
            payer: 1_000 * TOKEN - deposit,
            vault: deposit - accrued_1,
        }
    );
    let state = env.lease(lease).await.unwrap();
    assert_eq!(state.paid_out, accrued_1);
    assert_eq!(state.settled_until, activated_at + 1_234);
    assert_eq!(state.status, LeaseStatus::Active);
    assert_eq!(
        env.node(node.address).await.gpu_seconds_delivered,
        3 * 1_234
    );

    // A second settlement pays only the seconds since the first.
    env.warp(1_000).await;
    env.settle(lease).await.unwrap();
    let accrued_2 = expected_accrued(rate, 3, 2_234);
    let delta = accrued_2 - accrued_1;
    let fee_2 = expected_fee(delta, IO_FEE_BPS);
    assert_eq!(
        balances(&mut env, &a).await,
        Balances {
            supplier: accrued_1 - fee_1 + delta - fee_2,
            treasury: fee_1 + fee_2,
            payer: 1_000 * TOKEN - deposit,
            vault: deposit - accrued_2,
        }
    );
    let state = env.lease(lease).await.unwrap();
    assert_eq!(state.paid_out, accrued_2);
    assert_eq!(state.settled_until, activated_at + 2_234);
    assert_eq!(
        env.node(node.address).await.gpu_seconds_delivered,
        3 * 2_234
    );
}

#[tokio::test]
async fn settle_lease_twice_in_same_second_refused_with_nothing_to_settle() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (_, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;
    env.activate(lease, &node).await.unwrap();
    // Nothing has accrued in the second of activation.
    assert_error(env.settle(lease).await, IomeshError::NothingToSettle);
    env.warp(10).await;
    env.settle(lease).await.unwrap();
    let paid = env.lease(lease).await.unwrap().paid_out;
    assert_eq!(paid, expected_accrued(2 * TOKEN, 1, 10));
    let supplier = env.balance(usdc.ata(&node.owner.pubkey())).await;
    assert_error(env.settle(lease).await, IomeshError::NothingToSettle);
    assert_eq!(env.lease(lease).await.unwrap().paid_out, paid);
    assert_eq!(env.balance(usdc.ata(&node.owner.pubkey())).await, supplier);
}

#[tokio::test]
async fn settle_lease_on_pending_lease_refused_with_lease_not_active() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (_, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;
    env.warp(100).await;
    assert_error(env.settle(lease).await, IomeshError::LeaseNotActive);
    assert_eq!(env.balance(usdc.vault()).await, 2 * TOKEN);
}

#[tokio::test]
async fn settle_lease_after_end_caps_payout_at_end() {
    let (mut env, rate) = io_env().await;
    let io = env.io;
    let node = env.register_node(4).await;
    let (renter, lease) = env.simple_lease(&node, io, 1, 61).await;
    let deposit = expected_deposit(rate, 1, 61);
    env.activate(lease, &node).await.unwrap();
    let ends_at = env.now().await + 61;
    env.warp(61 + 500).await;

    env.settle(lease).await.unwrap();
    let accrued = expected_accrued(rate, 1, 61);
    // ceil vs floor of 6_666_667 × 61 / 3600 = 112_962.97…
    assert_eq!((deposit, accrued), (112_963, 112_962));
    let fee = expected_fee(accrued, IO_FEE_BPS);
    let state = env.lease(lease).await.unwrap();
    assert_eq!(state.paid_out, accrued);
    assert_eq!(state.settled_until, ends_at);
    let supplier = io.ata(&node.owner.pubkey());
    assert_eq!(env.balance(supplier).await, accrued - fee);
    assert_eq!(env.node(node.address).await.gpu_seconds_delivered, 61);

    // Time past the end never accrues.
    env.warp(100).await;
    assert_error(env.settle(lease).await, IomeshError::NothingToSettle);
    // Closing pays nothing more and refunds the rounding dust.
    env.close(lease).await.unwrap();
    assert_eq!(env.balance(supplier).await, accrued - fee);
    assert_eq!(
        env.balance(io.ata(&renter.pubkey())).await,
        1_000 * TOKEN - accrued
    );
    assert_eq!(env.balance(io.vault()).await, 0);
    assert_eq!(env.node(node.address).await.gpu_seconds_delivered, 61);
}

// ---------------------------------------------------------------- extend_lease

#[tokio::test]
async fn extend_lease_deposit_grows_by_exact_cost_difference() {
    let (mut env, rate) = io_env().await;
    let io = env.io;
    let node = env.register_node(4).await;
    let (renter, lease) = env.simple_lease(&node, io, 1, 61).await;
    let renter_ata = io.ata(&renter.pubkey());
    let deposit_61 = expected_deposit(rate, 1, 61);

    // Pending: 61 s → 120 s.
    env.extend(lease, &renter, 59).await.unwrap();
    let deposit_120 = expected_deposit(rate, 1, 120);
    assert_eq!(deposit_120, 222_223);
    assert_eq!(deposit_120 - deposit_61, 109_260);
    let state = env.lease(lease).await.unwrap();
    assert_eq!(state.duration_secs, 120);
    assert_eq!(state.deposited, deposit_120);
    assert_eq!(env.balance(renter_ata).await, 1_000 * TOKEN - deposit_120);
    assert_eq!(env.balance(io.vault()).await, deposit_120);

    // Active: 120 s → 1120 s, at the price locked at creation even if IO moves.
    env.activate(lease, &node).await.unwrap();
    env.set_io_price(1_000_000).await.unwrap();
    env.warp(30).await;
    env.extend(lease, &renter, 1_000).await.unwrap();
    let deposit_1120 = expected_deposit(rate, 1, 1_120);
    let state = env.lease(lease).await.unwrap();
    assert_eq!(state.duration_secs, 1_120);
    assert_eq!(state.deposited, deposit_1120);
    assert_eq!(state.rate_per_gpu_hour, rate);
    assert_eq!(env.balance(renter_ata).await, 1_000 * TOKEN - deposit_1120);
    assert_eq!(env.balance(io.vault()).await, deposit_1120);
    assert_eq!(
        state.ends_at().unwrap(),
        state.activated_at + 1_120,
        "the end moves by the added seconds"
    );
}

#[tokio::test]
async fn extend_lease_refuses_anyone_but_renter_or_payer() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (_, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;
    // A stranger with tokens of their own.
    let stranger = funded(&mut env, usdc).await;
    assert_error(
        env.extend(lease, &stranger, 60).await,
        IomeshError::NotRenterOrPayer,
    );
    // The node owner is no exception.
    let owner = node.owner.insecure_clone();
    env.fund(&owner.pubkey(), usdc, 10 * TOKEN).await;
    assert_error(
        env.extend(lease, &owner, 60).await,
        IomeshError::NotRenterOrPayer,
    );
    let state = env.lease(lease).await.unwrap();
    assert_eq!(state.duration_secs, HOUR);
    assert_eq!(
        env.balance(usdc.ata(&stranger.pubkey())).await,
        1_000 * TOKEN
    );
}

#[tokio::test]
async fn extend_lease_refuses_horizon_beyond_node_max() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env
        .register_node_with(iomesh::NodeSpec {
            max_lease_secs: 2 * HOUR,
            ..TestEnv::node_spec(4, NODE_PRICE)
        })
        .await
        .unwrap();
    let (renter, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;

    // Pending: the whole duration is still ahead.
    assert_error(
        env.extend(lease, &renter, HOUR + 1).await,
        IomeshError::LeaseTooLong,
    );
    env.extend(lease, &renter, HOUR).await.unwrap();
    assert_eq!(env.lease(lease).await.unwrap().duration_secs, 2 * HOUR);

    // Active: only the time still to run counts (2 h − 30 min = 90 min).
    env.activate(lease, &node).await.unwrap();
    env.warp(1_800).await;
    assert_error(
        env.extend(lease, &renter, 1_801).await,
        IomeshError::LeaseTooLong,
    );
    env.extend(lease, &renter, 1_800).await.unwrap();
    let state = env.lease(lease).await.unwrap();
    assert_eq!(state.duration_secs, 2 * HOUR + 1_800);
    assert_eq!(state.deposited, expected_deposit(2 * TOKEN, 1, 9_000));
}

#[tokio::test]
async fn extend_lease_after_end_refused_with_lease_ended() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (renter, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;
    env.activate(lease, &node).await.unwrap();
    env.warp(i64::from(HOUR) - 1).await;
    // One second before the end it can still be extended...
    env.extend(lease, &renter, 1).await.unwrap();
    // ...and once the (new) end is reached it cannot.
    env.warp(2).await;
    assert_error(
        env.extend(lease, &renter, 60).await,
        IomeshError::LeaseEnded,
    );
    env.warp(1_000).await;
    assert_error(
        env.extend(lease, &renter, 60).await,
        IomeshError::LeaseEnded,
    );
    assert_eq!(env.lease(lease).await.unwrap().duration_secs, HOUR + 1);
}

#[tokio::test]
async fn extend_lease_by_zero_refused() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (renter, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;
    assert_error(
        env.extend(lease, &renter, 0).await,
        IomeshError::ZeroExtension,
    );
    env.activate(lease, &node).await.unwrap();
    assert_error(
        env.extend(lease, &renter, 0).await,
        IomeshError::ZeroExtension,
    );
    assert_eq!(env.lease(lease).await.unwrap().deposited, 2 * TOKEN);
}

// ---------------------------------------------------------------- cancel_lease

#[tokio::test]
async fn cancel_pending_lease_refunds_everything() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (renter, lease) = env.simple_lease(&node, usdc, 2, HOUR).await;
    let a = env.lease_accounts(lease).await;
    let rent = env.lamports(lease).await;
    let lamports = env.lamports(renter.pubkey()).await;
    env.warp(100).await;
    // Nothing is owed to the supplier, so the payout accounts may be left out.
    let ix = env.cancel_ix(&a, renter.pubkey(), false);
    env.send(&[ix], &[&renter]).await.unwrap();

    assert!(env.lease(lease).await.is_none());
    assert_eq!(
        balances(&mut env, &a).await,
        Balances {
            supplier: 0,
            treasury: 0,
            payer: 1_000 * TOKEN,
            vault: 0,
        }
    );
    assert_eq!(env.lamports(renter.pubkey()).await, lamports + rent);
    let state = env.node(node.address).await;
    assert_eq!((state.gpus_in_use, state.open_leases), (0, 0));
    assert_eq!((state.leases_served, state.failures), (0, 0));
}

#[tokio::test]
async fn cancel_active_lease_pays_pro_rata_and_refunds_the_rest() {
    let (mut env, rate) = io_env().await;
    let io = env.io;
    let node = env.register_node(4).await;
    let (renter, lease) = env.simple_lease(&node, io, 3, 2 * HOUR).await;
    let deposit = expected_deposit(rate, 3, 7_200);
    let a = env.lease_accounts(lease).await;
    let rent = env.lamports(lease).await;
    let lamports = env.lamports(renter.pubkey()).await;
    env.activate(lease, &node).await.unwrap();
    env.warp(1_000).await;
    env.settle(lease).await.unwrap();
    env.warp(777).await;
    env.cancel(lease, &renter).await.unwrap();

    // 1000 s settled, then 777 s more paid at cancellation; the rest refunded.
    let settled = expected_accrued(rate, 3, 1_000);
    let total = expected_accrued(rate, 3, 1_777);
    let fee_1 = expected_fee(settled, IO_FEE_BPS);
    let fee_2 = expected_fee(total - settled, IO_FEE_BPS);
    assert_eq!(
        balances(&mut env, &a).await,
        Balances {
            supplier: settled - fee_1 + (total - settled) - fee_2,
            treasury: fee_1 + fee_2,
            payer: 1_000 * TOKEN - deposit + (deposit - total),
            vault: 0,
        }
    );
    assert!(env.lease(lease).await.is_none());
    assert_eq!(env.lamports(renter.pubkey()).await, lamports + rent);
    let state = env.node(node.address).await;
    assert_eq!((state.gpus_in_use, state.open_leases), (0, 0));
    assert_eq!(state.gpu_seconds_delivered, 3 * 1_777);
    assert_eq!(state.leases_served, 0, "a cancelled lease is not served");
}

#[tokio::test]
async fn cancel_active_lease_without_payout_accounts_refused() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (renter, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;
    env.activate(lease, &node).await.unwrap();
    env.warp(100).await;
    let a = env.lease_accounts(lease).await;
    let ix = env.cancel_ix(&a, renter.pubkey(), false);
    assert_error(
        env.send(&[ix], &[&renter]).await,
        IomeshError::MissingPayoutAccount,
    );
    assert!(env.lease(lease).await.is_some());
}

#[tokio::test]
async fn cancel_lease_refuses_anyone_but_the_renter() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let renter = env.wallet().await;
    let sponsor = funded(&mut env, usdc).await;
    let lease = env
        .create_lease(LeaseRequest {
            payer: Some(&sponsor),
            ..req(&renter, &node, usdc, 1, 1, HOUR)
        })
        .await
        .unwrap();
    env.activate(lease, &node).await.unwrap();
    env.warp(100).await;
    let a = env.lease_accounts(lease).await;
    // The lease address is derived from its renter, so for any other signer the
    // lease passed is not theirs: the seeds check refuses before
    // `has_one = renter` (NotRenter) is reached.
    let stranger = env.wallet().await;
    let owner = node.owner.insecure_clone();
    let scheduler = env.keys.scheduler.insecure_clone();
    for signer in [&stranger, &sponsor, &owner, &scheduler] {
        let ix = env.cancel_ix(&a, signer.pubkey(), true);
        assert_error(
            env.send(&[ix], &[signer]).await,
            AnchorError::ConstraintSeeds,
        );
    }
    assert!(env.lease(lease).await.is_some());
    assert_eq!(env.balance(usdc.vault()).await, 2 * TOKEN);
    env.cancel(lease, &renter).await.unwrap();
}

#[tokio::test]
async fn cancel_after_close_refused_with_account_not_initialized() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (renter, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;
    let a = env.lease_accounts(lease).await;
    env.activate(lease, &node).await.unwrap();
    env.warp(i64::from(HOUR)).await;
    env.close(lease).await.unwrap();
    let renter_balance = env.balance(usdc.ata(&renter.pubkey())).await;

    let ix = env.cancel_ix(&a, renter.pubkey(), true);
    assert_error(
        env.send(&[ix], &[&renter]).await,
        AnchorError::AccountNotInitialized,
    );
    assert_eq!(
        env.balance(usdc.ata(&renter.pubkey())).await,
        renter_balance
    );
}

// ---------------------------------------------------------------- report_failure

#[tokio::test]
async fn report_failure_pays_supplier_to_failed_at_and_refunds_the_rest() {
    let (mut env, rate) = io_env().await;
    let io = env.io;
    let node = env.register_node(4).await;
    let (renter, lease) = env.simple_lease(&node, io, 2, 2 * HOUR).await;
    let deposit = expected_deposit(rate, 2, 7_200);
    let a = env.lease_accounts(lease).await;
    let rent = env.lamports(lease).await;
    let lamports = env.lamports(renter.pubkey()).await;
    env.activate(lease, &node).await.unwrap();
    let activated_at = env.now().await;
    env.warp(1_000).await;

    env.report_failure(lease, activated_at + 700).await.unwrap();
    let accrued = expected_accrued(rate, 2, 700);
    let fee = expected_fee(accrued, IO_FEE_BPS);
    assert_eq!(
        balances(&mut env, &a).await,
        Balances {
            supplier: accrued - fee,
            treasury: fee,
            payer: 1_000 * TOKEN - accrued,
            vault: 0,
        }
    );
    assert!(deposit > accrued);
    assert!(env.lease(lease).await.is_none());
    assert_eq!(env.lamports(renter.pubkey()).await, lamports + rent);
    let state = env.node(node.address).await;
    assert_eq!(state.failures, 1);
    assert_eq!(state.leases_served, 0);
    assert_eq!((state.gpus_in_use, state.open_leases), (0, 0));
    assert_eq!(state.gpu_seconds_delivered, 2 * 700);
}

#[tokio::test]
async fn report_failure_refuses_anyone_but_the_scheduler() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (_, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;
    env.activate(lease, &node).await.unwrap();
    let now = env.now().await;
    let a = env.lease_accounts(lease).await;
    let stranger = env.wallet().await;
    let authority = env.keys.authority.insecure_clone();
    let operator = node.operator.insecure_clone();
    env.airdrop(&operator.pubkey(), 1_000_000_000).await;
    for signer in [&stranger, &authority, &operator] {
        let ix = ix(
            a.report_failure_accounts(signer.pubkey()),
            args::ReportFailure { failed_at: now },
        );
        assert_error(
            env.send(&[ix], &[signer]).await,
            IomeshError::NotSchedulerAuthority,
        );
    }
    assert!(env.lease(lease).await.is_some());
    assert_eq!(env.node(node.address).await.failures, 0);
}

#[tokio::test]
async fn report_failure_refuses_failure_before_activation_or_in_the_future() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (renter, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;
    env.warp(50).await;
    env.activate(lease, &node).await.unwrap();
    let activated_at = env.now().await;
    env.warp(300).await;
    let now = env.now().await;
    assert_error(
        env.report_failure(lease, activated_at - 1).await,
        IomeshError::InvalidFailureTime,
    );
    assert_error(
        env.report_failure(lease, now + 1).await,
        IomeshError::InvalidFailureTime,
    );
    assert_error(
        env.report_failure(lease, 0).await,
        IomeshError::InvalidFailureTime,
    );
    assert!(env.lease(lease).await.is_some());
    // Failing at the very second of activation is valid: nothing is paid.
    env.report_failure(lease, activated_at).await.unwrap();
    assert_eq!(env.balance(usdc.ata(&node.owner.pubkey())).await, 0);
    assert_eq!(env.balance(usdc.ata(&renter.pubkey())).await, 1_000 * TOKEN);
    assert_eq!(env.node(node.address).await.failures, 1);
}

#[tokio::test]
async fn report_failure_refuses_failure_at_or_after_lease_end() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (_, served) = env.simple_lease(&node, usdc, 1, HOUR).await;
    let (renter, failed) = env.simple_lease(&node, usdc, 1, HOUR).await;
    env.activate(served, &node).await.unwrap();
    env.activate(failed, &node).await.unwrap();
    let ends_at = env.now().await + i64::from(HOUR);
    env.warp(i64::from(HOUR) + 100).await;

    // A lease served to its end did not fail: it is closed instead.
    assert_error(
        env.report_failure(served, ends_at).await,
        IomeshError::InvalidFailureTime,
    );
    assert_error(
        env.report_failure(served, ends_at + 50).await,
        IomeshError::InvalidFailureTime,
    );
    env.close(served).await.unwrap();
    assert_eq!(env.node(node.address).await.leases_served, 1);

    // The last second before the end is still a failure.
    env.report_failure(failed, ends_at - 1).await.unwrap();
    let accrued = expected_accrued(2 * TOKEN, 1, u64::from(HOUR) - 1);
    assert_eq!(
        env.balance(usdc.ata(&renter.pubkey())).await,
        1_000 * TOKEN - accrued
    );
    let state = env.node(node.address).await;
    assert_eq!((state.failures, state.leases_served), (1, 1));
    assert_eq!(state.gpus_in_use, 0);
}

#[tokio::test]
async fn report_failure_on_pending_lease_refused_with_lease_not_active() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (_, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;
    let now = env.now().await;
    assert_error(
        env.report_failure(lease, now).await,
        IomeshError::LeaseNotActive,
    );
    assert!(env.lease(lease).await.is_some());
}

#[tokio::test]
async fn report_failure_never_claws_back_settled_seconds() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (_, lease) = env.simple_lease(&node, usdc, 2, HOUR).await;
    let a = env.lease_accounts(lease).await;
    env.activate(lease, &node).await.unwrap();
    let activated_at = env.now().await;
    env.warp(900).await;
    env.settle(lease).await.unwrap();
    // The scheduler later reports the node failed at 700 s: the 900 s already
    // settled stay paid, nothing more is paid, and the rest is refunded.
    env.report_failure(lease, activated_at + 700).await.unwrap();
    let settled = expected_accrued(2 * TOKEN, 2, 900);
    let fee = expected_fee(settled, USDC_FEE_BPS);
    assert_eq!(
        balances(&mut env, &a).await,
        Balances {
            supplier: settled - fee,
            treasury: fee,
            payer: 1_000 * TOKEN - settled,
            vault: 0,
        }
    );
    assert!(env.lease(lease).await.is_none());
    let state = env.node(node.address).await;
    assert_eq!(state.failures, 1);
    assert_eq!(state.gpu_seconds_delivered, 2 * 900);
}

// ---------------------------------------------------------------- expire_lease

#[tokio::test]
async fn expire_lease_refused_while_activation_window_open() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (_, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;
    assert_error(env.expire(lease).await, IomeshError::ActivationWindowOpen);
    // At the deadline itself the operator may still activate, so it is still open.
    env.warp(i64::from(ACTIVATION_TIMEOUT)).await;
    assert_error(env.expire(lease).await, IomeshError::ActivationWindowOpen);
    assert!(env.lease(lease).await.is_some());
    assert_eq!(env.balance(usdc.vault()).await, 2 * TOKEN);
}

#[tokio::test]
async fn expire_lease_after_timeout_refunds_everything() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (renter, lease) = env.simple_lease(&node, usdc, 3, HOUR).await;
    let a = env.lease_accounts(lease).await;
    let rent = env.lamports(lease).await;
    let lamports = env.lamports(renter.pubkey()).await;
    env.warp(i64::from(ACTIVATION_TIMEOUT) + 1).await;
    // Anyone may expire it (only the fixture payer signs).
    env.expire(lease).await.unwrap();
    assert!(env.lease(lease).await.is_none());
    assert_eq!(
        balances(&mut env, &a).await,
        Balances {
            supplier: 0,
            treasury: 0,
            payer: 1_000 * TOKEN,
            vault: 0,
        }
    );
    assert_eq!(env.lamports(renter.pubkey()).await, lamports + rent);
    let state = env.node(node.address).await;
    assert_eq!((state.gpus_in_use, state.open_leases), (0, 0));
    assert_eq!((state.leases_served, state.failures), (0, 0));
}

#[tokio::test]
async fn expire_active_lease_refused_with_lease_not_pending() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (_, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;
    env.activate(lease, &node).await.unwrap();
    env.warp(i64::from(ACTIVATION_TIMEOUT) + 1).await;
    assert_error(env.expire(lease).await, IomeshError::LeaseNotPending);
    assert_eq!(env.lease(lease).await.unwrap().status, LeaseStatus::Active);
}

// ---------------------------------------------------------------- close_lease

#[tokio::test]
async fn close_lease_refused_before_end() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (_, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;
    // A pending lease never ends by itself: it is cancelled or expired.
    assert_error(env.close(lease).await, IomeshError::LeaseNotActive);
    env.activate(lease, &node).await.unwrap();
    env.warp(i64::from(HOUR) - 1).await;
    assert_error(env.close(lease).await, IomeshError::LeaseNotEnded);
    assert!(env.lease(lease).await.is_some());
    env.warp(1).await;
    env.close(lease).await.unwrap();
    assert!(env.lease(lease).await.is_none());
}

#[tokio::test]
async fn close_lease_after_end_pays_final_seconds_refunds_dust_and_returns_rent() {
    let (mut env, rate) = io_env().await;
    let io = env.io;
    let node = env.register_node(4).await;
    let (renter, lease) = env.simple_lease(&node, io, 3, 1_234).await;
    let deposit = expected_deposit(rate, 3, 1_234);
    let a = env.lease_accounts(lease).await;
    let rent = env.lamports(lease).await;
    let lamports = env.lamports(renter.pubkey()).await;
    env.activate(lease, &node).await.unwrap();
    env.warp(600).await;
    env.settle(lease).await.unwrap();
    assert_eq!(env.node(node.address).await.gpus_in_use, 3);
    env.warp(5_000).await;
    env.close(lease).await.unwrap();

    let settled = expected_accrued(rate, 3, 600);
    let total = expected_accrued(rate, 3, 1_234);
    let fee_1 = expected_fee(settled, IO_FEE_BPS);
    let fee_2 = expected_fee(total - settled, IO_FEE_BPS);
    assert_eq!(deposit - total, 1, "one base unit of rounding dust");
    assert_eq!(
        balances(&mut env, &a).await,
        Balances {
            supplier: settled - fee_1 + (total - settled) - fee_2,
            treasury: fee_1 + fee_2,
            payer: 1_000 * TOKEN - total,
            vault: 0,
        }
    );
    assert!(env.lease(lease).await.is_none());
    assert_eq!(env.lamports(renter.pubkey()).await, lamports + rent);
    let state = env.node(node.address).await;
    assert_eq!((state.gpus_in_use, state.open_leases), (0, 0));
    assert_eq!(state.leases_served, 1);
    assert_eq!(state.gpu_seconds_delivered, 3 * 1_234);
    // Closed leases cannot be closed again.
    let ix = env.close_ix(&a);
    assert_error(
        env.send(&[ix], &[]).await,
        AnchorError::AccountNotInitialized,
    );
}

#[tokio::test]
async fn closed_lease_gpus_are_free_for_a_new_lease_on_a_full_node() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(2).await;
    let (renter, lease) = env.simple_lease(&node, usdc, 2, HOUR).await;
    assert_error(
        create(&mut env, req(&renter, &node, usdc, 2, 1, HOUR)).await,
        IomeshError::Overbooked,
    );
    env.activate(lease, &node).await.unwrap();
    env.warp(i64::from(HOUR)).await;
    env.close(lease).await.unwrap();
    create(&mut env, req(&renter, &node, usdc, 2, 2, HOUR))
        .await
        .unwrap();
    assert_eq!(env.node(node.address).await.gpus_in_use, 2);
}

#[tokio::test]
async fn create_lease_rejects_zero_gpus_with_invalid_gpu_count() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let renter = funded(&mut env, usdc).await;
    let ix = env.create_lease_ix(&req(&renter, &node, usdc, 1, 0, HOUR));
    assert_error(
        env.send(&[ix], &[&renter]).await,
        IomeshError::InvalidGpuCount,
    );
    assert!(env.lease(lease_pda(&renter.pubkey(), 1)).await.is_none());
    assert_eq!(env.node(node.address).await.open_leases, 0);
}

#[tokio::test]
async fn extend_pending_lease_after_activation_timeout_refused() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (renter, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;
    env.warp(i64::from(ACTIVATION_TIMEOUT)).await;
    // Still inside the window (it is inclusive)...
    env.extend(lease, &renter, 60).await.unwrap();
    env.warp(1).await;
    // ...one second past it, new money would only wait for the refund.
    let vault_before = env.balance(usdc.vault()).await;
    assert_error(
        env.extend(lease, &renter, 60).await,
        IomeshError::ActivationTimedOut,
    );
    assert_eq!(env.balance(usdc.vault()).await, vault_before);
    assert_eq!(env.lease(lease).await.unwrap().duration_secs, HOUR + 60);
}

#[tokio::test]
async fn cancel_after_the_end_counts_as_a_completed_lease() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let (renter, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;
    env.activate(lease, &node).await.unwrap();
    env.warp(i64::from(HOUR) + 30).await;
    env.cancel(lease, &renter).await.unwrap();
    assert!(env.lease(lease).await.is_none());
    let node_state = env.node(node.address).await;
    assert_eq!(node_state.leases_served, 1, "served to its end");
    assert_eq!(node_state.gpus_in_use, 0);
    let fee = expected_fee(2 * TOKEN, USDC_FEE_BPS);
    assert_eq!(
        env.balance(usdc.ata(&node.owner.pubkey())).await,
        2 * TOKEN - fee
    );
    assert_eq!(env.balance(usdc.ata(&renter.pubkey())).await, 998 * TOKEN);
}
