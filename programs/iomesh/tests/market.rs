//! Market instructions: initialize_market, update_market, the two-step
//! authority transfer and set_paused — success paths and every way each must fail.

mod common;

use anchor_lang::prelude::Pubkey;
use common::*;
use iomesh::{
    accounts as acc,
    error::IomeshError,
    instruction as args,
    state::{AccountSpace, LeaseStatus},
    MarketParams,
};
use solana_keypair::Keypair;
use solana_signer::Signer;

fn propose_ix(authority: Pubkey, new_authority: Pubkey) -> Instruction {
    ix(
        acc::MarketAdmin {
            market: market_pda(),
            authority,
        },
        args::ProposeAuthority { new_authority },
    )
}

fn accept_ix(new_authority: Pubkey) -> Instruction {
    ix(
        acc::AcceptAuthority {
            market: market_pda(),
            new_authority,
        },
        args::AcceptAuthority {},
    )
}

fn set_paused_ix(authority: Pubkey, paused: bool) -> Instruction {
    ix(
        acc::MarketAdmin {
            market: market_pda(),
            authority,
        },
        args::SetPaused { paused },
    )
}

fn initialize_ix(authority: Pubkey, params: MarketParams) -> Instruction {
    ix(
        acc::InitializeMarket {
            market: market_pda(),
            authority,
            system_program: anchor_lang::system_program::ID,
        },
        args::InitializeMarket { params },
    )
}

async fn propose(env: &mut TestEnv, signer: &Keypair, new_authority: Pubkey) -> TxResult {
    env.send(&[propose_ix(signer.pubkey(), new_authority)], &[signer])
        .await
}

async fn accept(env: &mut TestEnv, signer: &Keypair) -> TxResult {
    env.send(&[accept_ix(signer.pubkey())], &[signer]).await
}

async fn set_paused_by(env: &mut TestEnv, signer: &Keypair, paused: bool) -> TxResult {
    env.send(&[set_paused_ix(signer.pubkey(), paused)], &[signer])
        .await
}

type TxResult = std::result::Result<(), solana_transaction_error::TransactionError>;

/// Market parameters that differ from the defaults in every field.
fn changed_params() -> MarketParams {
    MarketParams {
        treasury: Pubkey::new_unique(),
        scheduler_authority: Pubkey::new_unique(),
        price_authority: Pubkey::new_unique(),
        reward_authority: Pubkey::new_unique(),
        activation_timeout_secs: 300,
        min_lease_secs: 120,
        max_lease_secs: 10 * 24 * HOUR,
        failure_grace_secs: 45,
    }
}

fn assert_params(market: &iomesh::state::Market, params: &MarketParams) {
    assert_eq!(market.treasury, params.treasury);
    assert_eq!(market.scheduler_authority, params.scheduler_authority);
    assert_eq!(market.price_authority, params.price_authority);
    assert_eq!(market.reward_authority, params.reward_authority);
    assert_eq!(
        market.activation_timeout_secs,
        params.activation_timeout_secs
    );
    assert_eq!(market.min_lease_secs, params.min_lease_secs);
    assert_eq!(market.max_lease_secs, params.max_lease_secs);
    assert_eq!(market.failure_grace_secs, params.failure_grace_secs);
}

// ---------------------------------------------------------------- initialize_market

#[tokio::test]
async fn initialize_market_sets_authority_and_policy() {
    let mut env = TestEnv::bare().await;
    assert!(env.account_data(market_pda()).await.is_none());
    env.init_market().await.unwrap();

    let market = env.market().await;
    let params = default_params(&env.keys);
    assert_eq!(market.version, 1);
    assert_eq!(
        market.bump,
        Pubkey::find_program_address(&[iomesh::seeds::MARKET], &iomesh::ID).1
    );
    assert!(!market.paused);
    assert_eq!(market.authority, env.keys.authority.pubkey());
    assert_eq!(market.pending_authority, Pubkey::default());
    assert_params(&market, &params);
    let account = env
        .ctx
        .banks_client
        .get_account(market_pda())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.owner, iomesh::ID);
    assert_eq!(account.data.len(), iomesh::state::Market::SPACE);
}

#[tokio::test]
async fn initialize_market_refuses_reinitialisation() {
    let mut env = TestEnv::new().await;
    // The market address already holds the market: creating it again is
    // refused, whoever asks, and the existing market is never overwritten.
    let refused = |result: std::result::Result<(), solana_transaction_error::TransactionError>| {
        assert_error(result, IomeshError::AccountAlreadyInUse)
    };
    // The same authority again.
    refused(env.init_market().await);
    // Someone else trying to take the market over by re-initialising it.
    let intruder = env.wallet().await;
    let mut params = default_params(&env.keys);
    params.treasury = intruder.pubkey();
    refused(
        env.send(&[initialize_ix(intruder.pubkey(), params)], &[&intruder])
            .await,
    );

    let market = env.market().await;
    assert_eq!(market.authority, env.keys.authority.pubkey());
    assert_eq!(market.treasury, env.keys.treasury.pubkey());
}

#[tokio::test]
async fn initialize_market_refuses_invalid_params() {
    let mut env = TestEnv::bare().await;
    let authority = env.keys.authority.insecure_clone();
    let base = default_params(&env.keys);
    let cases: Vec<(&str, MarketParams)> = vec![
        (
            "min lease above max lease",
            MarketParams {
                min_lease_secs: 3_601,
                max_lease_secs: 3_600,
                ..base.clone()
            },
        ),
        (
            "zero activation timeout",
            MarketParams {
                activation_timeout_secs: 0,
                ..base.clone()
            },
        ),
        (
            "zero min lease",
            MarketParams {
                min_lease_secs: 0,
                ..base.clone()
            },
        ),
        (
            "default treasury",
            MarketParams {
                treasury: Pubkey::default(),
                ..base.clone()
            },
        ),
    ];
    for (case, params) in cases {
        let result = env
            .send(&[initialize_ix(authority.pubkey(), params)], &[&authority])
            .await;
        assert!(result.is_err(), "{case} must be refused");
        assert_error(result, IomeshError::InvalidMarketParams);
        assert!(env.account_data(market_pda()).await.is_none(), "{case}");
    }
    env.init_market().await.unwrap();
}

// ---------------------------------------------------------------- update_market

#[tokio::test]
async fn update_market_changes_policy_for_authority() {
    let mut env = TestEnv::new().await;
    let params = changed_params();
    env.update_market(params.clone()).await.unwrap();
    let market = env.market().await;
    assert_params(&market, &params);
    assert_eq!(market.authority, env.keys.authority.pubkey());
    assert!(!market.paused);
}

#[tokio::test]
async fn update_market_refuses_non_authority() {
    let mut env = TestEnv::new().await;
    let intruder = env.wallet().await;
    let mut params = default_params(&env.keys);
    params.treasury = intruder.pubkey();
    let ix = env.update_market_ix(intruder.pubkey(), params);
    assert_error(
        env.send(&[ix], &[&intruder]).await,
        IomeshError::NotMarketAuthority,
    );
    assert_eq!(env.market().await.treasury, env.keys.treasury.pubkey());
}

#[tokio::test]
async fn update_market_refuses_min_lease_above_max() {
    let mut env = TestEnv::new().await;
    let params = MarketParams {
        min_lease_secs: 2 * HOUR + 1,
        max_lease_secs: 2 * HOUR,
        ..default_params(&env.keys)
    };
    assert_error(
        env.update_market(params).await,
        IomeshError::InvalidMarketParams,
    );
    // min == max is a valid (if strict) policy.
    let params = MarketParams {
        min_lease_secs: 2 * HOUR,
        max_lease_secs: 2 * HOUR,
        ..default_params(&env.keys)
    };
    env.update_market(params).await.unwrap();
    assert_eq!(env.market().await.max_lease_secs, 2 * HOUR);
}

#[tokio::test]
async fn update_market_refuses_zero_activation_timeout() {
    let mut env = TestEnv::new().await;
    let params = MarketParams {
        activation_timeout_secs: 0,
        ..default_params(&env.keys)
    };
    assert_error(
        env.update_market(params).await,
        IomeshError::InvalidMarketParams,
    );
    assert_eq!(
        env.market().await.activation_timeout_secs,
        ACTIVATION_TIMEOUT
    );
}

#[tokio::test]
async fn update_market_refuses_zero_failure_grace_and_missing_authorities() {
    let mut env = TestEnv::new().await;
    let base = default_params(&env.keys);
    for params in [
        MarketParams {
            failure_grace_secs: 0,
            ..base.clone()
        },
        MarketParams {
            min_lease_secs: 0,
            ..base.clone()
        },
        MarketParams {
            scheduler_authority: Pubkey::default(),
            ..base.clone()
        },
        MarketParams {
            price_authority: Pubkey::default(),
            ..base.clone()
        },
    ] {
        assert_error(
            env.update_market(params).await,
            IomeshError::InvalidMarketParams,
        );
    }
    let market = env.market().await;
    assert_params(&market, &base);
}

// ---------------------------------------------------------------- authority transfer

#[tokio::test]
async fn authority_transfer_takes_two_steps_and_old_authority_loses_power() {
    let mut env = TestEnv::new().await;
    let old = env.keys.authority.insecure_clone();
    let new = env.wallet().await;

    propose(&mut env, &old, new.pubkey()).await.unwrap();
    let market = env.market().await;
    assert_eq!(
        market.authority,
        old.pubkey(),
        "nothing changes until accepted"
    );
    assert_eq!(market.pending_authority, new.pubkey());
    // The proposed authority has no power before it accepts.
    assert_error(
        set_paused_by(&mut env, &new, true).await,
        IomeshError::NotMarketAuthority,
    );

    accept(&mut env, &new).await.unwrap();
    let market = env.market().await;
    assert_eq!(market.authority, new.pubkey());
    assert_eq!(market.pending_authority, Pubkey::default());

    // The old authority can no longer govern the market.
    assert_error(
        set_paused_by(&mut env, &old, true).await,
        IomeshError::NotMarketAuthority,
    );
    let ix = env.update_market_ix(old.pubkey(), default_params(&env.keys));
    assert_error(
        env.send(&[ix], &[&old]).await,
        IomeshError::NotMarketAuthority,
    );
    assert_error(
        propose(&mut env, &old, old.pubkey()).await,
        IomeshError::NotMarketAuthority,
    );
    // The new one can.
    set_paused_by(&mut env, &new, true).await.unwrap();
    assert!(env.market().await.paused);
    // Accepting again after the transfer completed: nothing is pending.
    assert_error(
        accept(&mut env, &new).await,
        IomeshError::NoPendingAuthority,
    );
}

#[tokio::test]
async fn accept_authority_refuses_wrong_acceptor() {
    let mut env = TestEnv::new().await;
    let authority = env.keys.authority.insecure_clone();
    let proposed = env.wallet().await;
    let intruder = env.wallet().await;
    propose(&mut env, &authority, proposed.pubkey())
        .await
        .unwrap();

    assert_error(
        accept(&mut env, &intruder).await,
        IomeshError::NotPendingAuthority,
    );
    // Not even the current authority may accept on the proposed key's behalf.
    assert_error(
        accept(&mut env, &authority).await,
        IomeshError::NotPendingAuthority,
    );
    let market = env.market().await;
    assert_eq!(market.authority, authority.pubkey());
    assert_eq!(market.pending_authority, proposed.pubkey());
}

#[tokio::test]
async fn accept_authority_refuses_when_none_pending() {
    let mut env = TestEnv::new().await;
    let someone = env.wallet().await;
    assert_error(
        accept(&mut env, &someone).await,
        IomeshError::NoPendingAuthority,
    );
    assert_eq!(env.market().await.authority, env.keys.authority.pubkey());
}

#[tokio::test]
async fn propose_authority_refuses_non_authority() {
    let mut env = TestEnv::new().await;
    let intruder = env.wallet().await;
    assert_error(
        propose(&mut env, &intruder, intruder.pubkey()).await,
        IomeshError::NotMarketAuthority,
    );
    assert_eq!(env.market().await.pending_authority, Pubkey::default());
}

#[tokio::test]
async fn propose_default_pubkey_withdraws_pending_proposal() {
    let mut env = TestEnv::new().await;
    let authority = env.keys.authority.insecure_clone();
    let proposed = env.wallet().await;
    propose(&mut env, &authority, proposed.pubkey())
        .await
        .unwrap();
    assert_eq!(env.market().await.pending_authority, proposed.pubkey());

    propose(&mut env, &authority, Pubkey::default())
        .await
        .unwrap();
    assert_eq!(env.market().await.pending_authority, Pubkey::default());
    assert_error(
        accept(&mut env, &proposed).await,
        IomeshError::NoPendingAuthority,
    );
    assert_eq!(env.market().await.authority, authority.pubkey());
}

#[tokio::test]
async fn propose_authority_replaces_earlier_proposal() {
    let mut env = TestEnv::new().await;
    let authority = env.keys.authority.insecure_clone();
    let first = env.wallet().await;
    let second = env.wallet().await;
    propose(&mut env, &authority, first.pubkey()).await.unwrap();
    propose(&mut env, &authority, second.pubkey())
        .await
        .unwrap();
    assert_error(
        accept(&mut env, &first).await,
        IomeshError::NotPendingAuthority,
    );
    accept(&mut env, &second).await.unwrap();
    assert_eq!(env.market().await.authority, second.pubkey());
}

// ---------------------------------------------------------------- set_paused

#[tokio::test]
async fn set_paused_refuses_non_authority() {
    let mut env = TestEnv::new().await;
    let intruder = env.wallet().await;
    assert_error(
        set_paused_by(&mut env, &intruder, true).await,
        IomeshError::NotMarketAuthority,
    );
    assert!(!env.market().await.paused);
    // The scheduler and price authorities do not govern the market either.
    let scheduler = env.keys.scheduler.insecure_clone();
    assert_error(
        set_paused_by(&mut env, &scheduler, true).await,
        IomeshError::NotMarketAuthority,
    );
    let price_authority = env.keys.price_authority.insecure_clone();
    assert_error(
        set_paused_by(&mut env, &price_authority, true).await,
        IomeshError::NotMarketAuthority,
    );
    assert!(!env.market().await.paused);
}

#[tokio::test]
async fn paused_market_refuses_create_lease_and_extend_lease() {
    let mut env = TestEnv::new().await;
    let node = env.register_node(4).await;
    let usdc = env.usdc;
    let (renter, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;
    env.activate(lease, &node).await.unwrap();

    env.set_paused(true).await.unwrap();
    assert!(env.market().await.paused);

    let request = LeaseRequest::new(&renter, &node, usdc, 2);
    assert_error(
        env.create_lease(request).await.map(drop),
        IomeshError::MarketPaused,
    );
    assert!(env.lease(lease_pda(&renter.pubkey(), 2)).await.is_none());
    let before = env.lease(lease).await.unwrap();
    assert_error(
        env.extend(lease, &renter, 60).await,
        IomeshError::MarketPaused,
    );
    assert_eq!(env.lease(lease).await.unwrap().deposited, before.deposited);
    assert_eq!(env.node(node.address).await.gpus_in_use, 1);

    // Resuming lets both through again.
    env.set_paused(false).await.unwrap();
    assert!(!env.market().await.paused);
    env.extend(lease, &renter, 60).await.unwrap();
    assert_eq!(env.lease(lease).await.unwrap().duration_secs, HOUR + 60);
    let request = LeaseRequest::new(&renter, &node, usdc, 2);
    env.create_lease(request).await.unwrap();
    assert_eq!(env.node(node.address).await.gpus_in_use, 2);
}

#[tokio::test]
async fn paused_market_still_allows_activate_settle_cancel_close_expire_and_report_failure() {
    let mut env = TestEnv::new().await;
    let node = env.register_node(8).await;
    let usdc = env.usdc;
    let duration = 900;
    let (_, to_run) = env.simple_lease(&node, usdc, 1, duration).await;
    let (pending_renter, to_cancel_pending) = env.simple_lease(&node, usdc, 1, duration).await;
    let (_, to_expire) = env.simple_lease(&node, usdc, 1, duration).await;
    let (_, to_fail) = env.simple_lease(&node, usdc, 1, duration).await;
    let (active_renter, to_cancel_active) = env.simple_lease(&node, usdc, 1, duration).await;
    assert_eq!(env.node(node.address).await.gpus_in_use, 5);

    env.set_paused(true).await.unwrap();

    // activate
    for lease in [to_run, to_fail, to_cancel_active] {
        env.activate(lease, &node).await.unwrap();
        assert_eq!(env.lease(lease).await.unwrap().status, LeaseStatus::Active);
    }
    let supplier = usdc.ata(&node.owner.pubkey());
    env.warp(100).await;

    // settle
    env.settle(to_run).await.unwrap();
    // $2.00 per GPU-hour in USDC, one GPU, 100 s: floor(2_000_000 × 100 / 3600).
    let accrued = expected_accrued(2 * TOKEN, 1, 100);
    assert_eq!(accrued, 55_555);
    assert_eq!(env.lease(to_run).await.unwrap().paid_out, accrued);
    assert_eq!(
        env.balance(supplier).await,
        accrued - expected_fee(accrued, USDC_FEE_BPS)
    );

    // report_failure
    let now = env.now().await;
    env.report_failure(to_fail, now).await.unwrap();
    assert!(env.lease(to_fail).await.is_none());

    // cancel, pending and active
    env.cancel(to_cancel_pending, &pending_renter)
        .await
        .unwrap();
    assert!(env.lease(to_cancel_pending).await.is_none());
    assert_eq!(
        env.balance(usdc.ata(&pending_renter.pubkey())).await,
        1_000 * TOKEN
    );
    env.cancel(to_cancel_active, &active_renter).await.unwrap();
    assert!(env.lease(to_cancel_active).await.is_none());

    // expire
    env.warp(i64::from(ACTIVATION_TIMEOUT)).await;
    env.expire(to_expire).await.unwrap();
    assert!(env.lease(to_expire).await.is_none());

    // close
    env.warp(i64::from(duration)).await;
    env.close(to_run).await.unwrap();
    assert!(env.lease(to_run).await.is_none());

    let node_state = env.node(node.address).await;
    assert_eq!(node_state.gpus_in_use, 0);
    assert_eq!(node_state.open_leases, 0);
    assert_eq!(node_state.leases_served, 1);
    assert_eq!(node_state.failures, 1);
    assert!(env.market().await.paused, "still paused throughout");
    assert_eq!(env.balance(usdc.vault()).await, 0);
}
