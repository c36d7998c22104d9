//! Nobody can block a lease from ending. A payer, a supplier, a treasury or a
//! harmed renter whose token account cannot take a payment (handed to
//! another owner, frozen by the mint, closed), or a payer whose wallet now
//! belongs to another program: every ending still releases the GPUs and
//! closes the lease, and what could not be delivered waits in the
//! recipient's credit account until they withdraw it to an account of their
//! choice. Each test reproduces an attack that locked GPUs or escrow before.

mod common;

use anchor_lang::prelude::{Pubkey, Rent};
use anchor_spl::token_2022::spl_token_2022::{self, instruction::AuthorityType};
use common::*;
use iomesh::{
    error::IomeshError,
    state::{AccountSpace, Credit, Lease},
    SlashArgs,
};
use solana_keypair::Keypair;
use solana_signer::Signer;

/// Hands `owner`'s associated token account to `new_owner` (SPL `SetAuthority`).
async fn give_token_account_away(
    env: &mut TestEnv,
    mint: TestMint,
    owner: &Keypair,
    new_owner: &Pubkey,
) {
    let ix = spl_token_2022::instruction::set_authority(
        &mint.token_program,
        &mint.ata(&owner.pubkey()),
        Some(new_owner),
        AuthorityType::AccountOwner,
        &owner.pubkey(),
        &[],
    )
    .unwrap();
    env.send(&[ix], &[owner]).await.expect("set authority");
}

/// Freezes (or thaws) a token account; the market authority is the fixture's freeze authority.
async fn set_frozen(env: &mut TestEnv, mint: TestMint, account: Pubkey, frozen: bool) {
    let authority = env.keys.authority.insecure_clone();
    let build = if frozen {
        spl_token_2022::instruction::freeze_account
    } else {
        spl_token_2022::instruction::thaw_account
    };
    let ix = build(
        &mint.token_program,
        &account,
        &mint.mint,
        &authority.pubkey(),
        &[],
    )
    .unwrap();
    env.send(&[ix], &[&authority])
        .await
        .expect("freeze or thaw");
}

async fn rent(env: &mut TestEnv) -> Rent {
    env.ctx.banks_client.get_rent().await.unwrap()
}

/// The escrow a lease still holds, plus every credit and unswept fee of the
/// mint, must be exactly what the vault holds.
async fn assert_vault_accounts_for(
    env: &mut TestEnv,
    mint: TestMint,
    open_leases: &[Pubkey],
    owners: &[Pubkey],
) {
    let mut owed = env.payment_mint(&mint).await.unswept_fees;
    for lease in open_leases {
        if let Some(lease) = env.lease(*lease).await {
            owed += lease.deposited - lease.paid_out;
        }
    }
    for owner in owners {
        if let Some(credit) = env.credit(mint.vault(), owner).await {
            owed += credit.amount;
        }
    }
    assert_eq!(
        env.balance(mint.vault()).await,
        owed,
        "vault ≠ escrow + credits + unswept fees"
    );
}

async fn pending_lease(
    env: &mut TestEnv,
    node: &TestNode,
    mint: TestMint,
    renter: &Keypair,
    nonce: u64,
    gpus: u16,
) -> Pubkey {
    env.create_lease(LeaseRequest::new(renter, &node, mint, nonce).gpus(gpus))
        .await
        .expect("create lease")
}

#[tokio::test]
async fn a_payer_that_gives_its_token_account_away_cannot_block_cancel_or_expire() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let renter = env.wallet().await;
    let stranger = env.wallet().await;
    let ata = env.fund(&renter.pubkey(), usdc, 100 * TOKEN).await;
    let lease = pending_lease(&mut env, &node, usdc, &renter, 1, 4).await;
    let deposit = env.lease(lease).await.unwrap().deposited;
    give_token_account_away(&mut env, usdc, &renter, &stranger.pubkey()).await;

    // Before: ConstraintTokenOwner, and the node's 4 GPUs stayed reserved.
    let lamports_before = env.lamports(renter.pubkey()).await;
    env.cancel(lease, &renter).await.unwrap();
    assert!(env.lease(lease).await.is_none());
    let state = env.node(node.address).await;
    assert_eq!((state.gpus_in_use, state.open_leases), (0, 0));
    // The refund waits for the renter; the account's new owner got nothing.
    assert_eq!(env.balance(ata).await, 100 * TOKEN - deposit);
    let credit = env.credit(usdc.vault(), &renter.pubkey()).await.unwrap();
    assert_eq!(
        (credit.owner, credit.amount, credit.rent_payer),
        (renter.pubkey(), deposit, renter.pubkey())
    );
    // The lease's rent came back, less the credit account's.
    let r = rent(&mut env).await;
    assert_eq!(
        env.lamports(renter.pubkey()).await,
        lamports_before + r.minimum_balance(Lease::SPACE) - r.minimum_balance(Credit::SPACE)
    );
    assert_vault_accounts_for(&mut env, usdc, &[], &[renter.pubkey()]).await;

    // The node is free again: a full-size lease fits.
    let other = env.wallet().await;
    env.fund(&other.pubkey(), usdc, 100 * TOKEN).await;
    let full = pending_lease(&mut env, &node, usdc, &other, 1, 4).await;

    // Expiry, by anyone, of a lease whose payer did the same.
    give_token_account_away(&mut env, usdc, &other, &stranger.pubkey()).await;
    env.warp(i64::from(ACTIVATION_TIMEOUT) + 1).await;
    let a = env.lease_accounts(full).await;
    let expire = env.expire_ix(&a);
    env.send_as(&stranger, &[expire], &[]).await.result.unwrap();
    assert_eq!(env.node(node.address).await.gpus_in_use, 0);
    let deposit = env
        .credit(usdc.vault(), &other.pubkey())
        .await
        .unwrap()
        .amount;
    assert!(deposit > 0);
    assert_vault_accounts_for(&mut env, usdc, &[], &[renter.pubkey(), other.pubkey()]).await;

    // The renter withdraws to an account of its choice; nobody else can.
    let new_home = env.create_ata(&Pubkey::new_unique(), usdc).await;
    let theft = env.withdraw_credit_ix(stranger.pubkey(), usdc.vault(), usdc, new_home);
    assert!(env.send(&[theft], &[&stranger]).await.is_err());
    let withdraw = env.withdraw_credit_ix(renter.pubkey(), usdc.vault(), usdc, new_home);
    env.send(&[withdraw.clone()], &[&renter]).await.unwrap();
    assert_eq!(env.balance(new_home).await, credit.amount);
    assert_eq!(
        env.credit(usdc.vault(), &renter.pubkey())
            .await
            .unwrap()
            .amount,
        0
    );
    assert_error(
        env.send(&[withdraw], &[&renter]).await,
        code(IomeshError::CreditEmpty),
    );
    // Anyone closes the emptied credit: its rent goes back to whoever funded it.
    let credit_address = credit_pda(&usdc.vault(), &renter.pubkey());
    let before = env.lamports(renter.pubkey()).await;
    let close = env.close_credit_ix(credit_address, renter.pubkey());
    env.send_as(&stranger, &[close], &[]).await.result.unwrap();
    assert_eq!(
        env.lamports(renter.pubkey()).await,
        before + rent(&mut env).await.minimum_balance(Credit::SPACE)
    );
    // A credit still holding tokens cannot be closed.
    let close = env.close_credit_ix(credit_pda(&usdc.vault(), &other.pubkey()), other.pubkey());
    assert_error(
        env.send(&[close], &[]).await,
        code(IomeshError::CreditNotEmpty),
    );
    assert_vault_accounts_for(&mut env, usdc, &[], &[other.pubkey()]).await;
}

#[tokio::test]
async fn a_supplier_that_gives_its_token_account_away_cannot_block_cancel_report_or_close() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let stranger = env.wallet().await;
    let owner = node.owner.pubkey();
    give_token_account_away(&mut env, usdc, &node.owner, &stranger.pubkey()).await;
    let supplier_ata = usdc.ata(&owner);
    let treasury_ata = usdc.ata(&env.keys.treasury.pubkey());
    let renter = env.wallet().await;
    let renter_ata = env.fund(&renter.pubkey(), usdc, 1_000 * TOKEN).await;

    // The renter cancels an active lease: before, ConstraintTokenOwner held
    // its unspent escrow until the supplier gave the account back.
    let first = pending_lease(&mut env, &node, usdc, &renter, 1, 2).await;
    env.activate(first, &node).await.unwrap();
    env.warp(600).await;
    // Settling pays nobody yet: no credit account exists and settle has no rent to create one.
    assert_error(
        env.settle(first).await,
        code(IomeshError::PayeeCannotReceive),
    );
    let state = env.lease(first).await.unwrap();
    let payout = expected_accrued(state.rate_per_gpu_hour, 2, 600);
    let fee = expected_fee(payout, USDC_FEE_BPS);
    let renter_before = env.balance(renter_ata).await;
    env.cancel(first, &renter).await.unwrap();
    assert_eq!(
        env.balance(renter_ata).await,
        renter_before + state.deposited - payout
    );
    assert_eq!(env.balance(treasury_ata).await, fee);
    assert_eq!(env.balance(supplier_ata).await, 0);
    let credit = env.credit(usdc.vault(), &owner).await.unwrap();
    assert_eq!(
        (credit.amount, credit.rent_payer),
        (payout - fee, renter.pubkey())
    );

    // With the credit in place, settling credits it; the scheduler's failure
    // report and the final close go through too.
    let second = pending_lease(&mut env, &node, usdc, &renter, 2, 1).await;
    let third = pending_lease(&mut env, &node, usdc, &renter, 3, 1).await;
    env.activate(second, &node).await.unwrap();
    env.activate(third, &node).await.unwrap();
    env.warp(900).await;
    env.settle(second).await.unwrap();
    let failed_at = env.now().await - 100;
    env.report_failure(third, failed_at).await.unwrap();
    env.warp(i64::from(HOUR)).await;
    env.close(second).await.unwrap();
    let state = env.node(node.address).await;
    assert_eq!((state.gpus_in_use, state.open_leases), (0, 0));
    // Each payment is charged its fee on its own, as the program rounds them.
    let rate = expected_rate(2_000_000, 1_000_000, DECIMALS);
    let share = |payout: u64| payout - expected_fee(payout, USDC_FEE_BPS);
    let at = |secs: u64| expected_accrued(rate, 1, secs);
    let second_share = share(at(900)) + share(at(u64::from(HOUR)) - at(900));
    let third_share = share(at(800));
    let credited = env.credit(usdc.vault(), &owner).await.unwrap().amount;
    assert_eq!(credited, credit.amount + second_share + third_share);
    assert_eq!(env.balance(supplier_ata).await, 0);
    assert_vault_accounts_for(&mut env, usdc, &[], &[owner]).await;

    // The supplier takes its earnings to an account it controls.
    let fresh = env.create_ata(&Pubkey::new_unique(), usdc).await;
    let withdraw = env.withdraw_credit_ix(owner, usdc.vault(), usdc, fresh);
    env.send(&[withdraw], &[&node.owner]).await.unwrap();
    assert_eq!(env.balance(fresh).await, credited);
    assert_vault_accounts_for(&mut env, usdc, &[], &[owner]).await;
}

#[tokio::test]
async fn a_payer_wallet_assigned_to_another_program_still_ends_its_leases() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let renter = env.wallet().await;
    let sponsor = env.wallet().await;
    env.fund(&sponsor.pubkey(), usdc, 100 * TOKEN).await;
    let mut leases = Vec::new();
    for nonce in 1..=3 {
        leases.push(
            env.create_lease(LeaseRequest {
                payer: Some(&sponsor),
                ..LeaseRequest::new(&renter, &node, usdc, nonce)
            })
            .await
            .unwrap(),
        );
    }
    env.activate(leases[2], &node).await.unwrap();
    // The sponsor hands its wallet to another program (System `Assign`):
    // before, cancel, expire and close failed `AccountNotSystemOwned` for good.
    let other_program = Pubkey::new_unique();
    let assign = solana_system_interface::instruction::assign(&sponsor.pubkey(), &other_program);
    env.send(&[assign], &[&sponsor]).await.unwrap();
    let lease_rent = rent(&mut env).await.minimum_balance(Lease::SPACE);
    let sponsor_ata = usdc.ata(&sponsor.pubkey());

    let before = (
        env.lamports(sponsor.pubkey()).await,
        env.balance(sponsor_ata).await,
    );
    let deposit = env.lease(leases[0]).await.unwrap().deposited;
    env.cancel(leases[0], &renter).await.unwrap();
    assert_eq!(
        (
            env.lamports(sponsor.pubkey()).await,
            env.balance(sponsor_ata).await
        ),
        (before.0 + lease_rent, before.1 + deposit)
    );
    env.warp(i64::from(HOUR) + 1).await;
    env.expire(leases[1]).await.unwrap();
    env.close(leases[2]).await.unwrap();
    assert_eq!(
        env.lamports(sponsor.pubkey()).await,
        before.0 + 3 * lease_rent
    );
    let state = env.node(node.address).await;
    assert_eq!((state.gpus_in_use, state.open_leases), (0, 0));
    assert_vault_accounts_for(&mut env, usdc, &[], &[]).await;
}

#[tokio::test]
async fn frozen_token_accounts_cannot_block_endings() {
    let mut env = TestEnv::new().await;
    // A USDC-like mint whose issuer can freeze holders (blacklisting).
    let authority = env.keys.authority.pubkey();
    let fusd = env
        .create_mint_with(anchor_spl::token::ID, Some(&authority))
        .await;
    env.add_payment_mint(fusd, iomesh::PriceSource::Stable, 0, 200, "fUSD")
        .await
        .unwrap();
    let treasury = env.keys.treasury.pubkey();
    let treasury_ata = env.create_ata(&treasury, fusd).await;
    let node = env.register_node(4).await;
    let owner = node.owner.pubkey();
    let supplier_ata = env.create_ata(&owner, fusd).await;
    let renter = env.wallet().await;
    let renter_ata = env.fund(&renter.pubkey(), fusd, 1_000 * TOKEN).await;
    let accounts = |lease| {
        lease_accounts_in(
            lease,
            node.address,
            &owner,
            fusd,
            &treasury,
            &renter.pubkey(),
        )
    };
    let everyone = [renter.pubkey(), owner];

    // The payer is frozen: the renter's cancel pays the supplier and keeps the refund for it.
    let first = pending_lease(&mut env, &node, fusd, &renter, 1, 2).await;
    env.activate(first, &node).await.unwrap();
    env.warp(300).await;
    set_frozen(&mut env, fusd, renter_ata, true).await;
    let cancel = env.cancel_ix(&accounts(first), renter.pubkey(), true);
    env.send(&[cancel], &[&renter]).await.unwrap();
    let lease = |deposit: u64, secs: u64| {
        let rate = expected_rate(2_000_000, 1_000_000, DECIMALS);
        let payout = expected_accrued(rate, 2, secs);
        (deposit - payout, payout - expected_fee(payout, 200))
    };
    let deposit = expected_deposit(expected_rate(2_000_000, 1_000_000, DECIMALS), 2, 3_600);
    let (refund, supplier) = lease(deposit, 300);
    assert_eq!(
        env.credit(fusd.vault(), &renter.pubkey())
            .await
            .unwrap()
            .amount,
        refund
    );
    assert_eq!(env.balance(supplier_ata).await, supplier);
    assert_eq!(env.node(node.address).await.gpus_in_use, 0);
    assert_vault_accounts_for(&mut env, fusd, &[], &everyone).await;
    set_frozen(&mut env, fusd, renter_ata, false).await;

    // The supplier is frozen: the close after the end keeps its payout for it.
    let second = pending_lease(&mut env, &node, fusd, &renter, 2, 2).await;
    env.activate(second, &node).await.unwrap();
    set_frozen(&mut env, fusd, supplier_ata, true).await;
    env.warp(i64::from(HOUR)).await;
    let close = env.close_ix(&accounts(second));
    env.send(&[close], &[]).await.unwrap();
    let (_, full) = lease(deposit, 3_600);
    assert_eq!(env.credit(fusd.vault(), &owner).await.unwrap().amount, full);
    assert_eq!(env.balance(supplier_ata).await, supplier);
    assert_vault_accounts_for(&mut env, fusd, &[], &everyone).await;
    set_frozen(&mut env, fusd, supplier_ata, false).await;

    // The treasury is frozen: the scheduler's failure report keeps the fee
    // as unswept, and anyone sweeps it once the treasury can take it again.
    let third = pending_lease(&mut env, &node, fusd, &renter, 3, 2).await;
    env.activate(third, &node).await.unwrap();
    env.warp(1_200).await;
    set_frozen(&mut env, fusd, treasury_ata, true).await;
    let treasury_before = env.balance(treasury_ata).await;
    let failed_at = env.now().await;
    let report = env.report_failure_ix(&accounts(third), failed_at);
    let scheduler = env.keys.scheduler.insecure_clone();
    env.send(&[report], &[&scheduler]).await.unwrap();
    let rate = expected_rate(2_000_000, 1_000_000, DECIMALS);
    let fee = expected_fee(expected_accrued(rate, 2, 1_200), 200);
    assert_eq!(env.payment_mint(&fusd).await.unswept_fees, fee);
    assert_vault_accounts_for(&mut env, fusd, &[], &everyone).await;
    assert_error(
        env.send(&[env.sweep_fees_ix(fusd)], &[]).await,
        code(IomeshError::TreasuryCannotReceive),
    );
    set_frozen(&mut env, fusd, treasury_ata, false).await;
    env.send(&[env.sweep_fees_ix(fusd)], &[]).await.unwrap();
    assert_eq!(env.balance(treasury_ata).await, treasury_before + fee);
    assert_eq!(env.payment_mint(&fusd).await.unswept_fees, 0);
    assert_error(
        env.send(&[env.sweep_fees_ix(fusd)], &[]).await,
        code(IomeshError::NoUnsweptFees),
    );

    // A frozen destination cannot take a withdrawal; another account can.
    set_frozen(&mut env, fusd, supplier_ata, true).await;
    let withdraw = env.withdraw_credit_ix(owner, fusd.vault(), fusd, supplier_ata);
    assert!(env.send(&[withdraw], &[&node.owner]).await.is_err());
    let elsewhere = env.create_ata(&Pubkey::new_unique(), fusd).await;
    let withdraw = env.withdraw_credit_ix(owner, fusd.vault(), fusd, elsewhere);
    env.send(&[withdraw], &[&node.owner]).await.unwrap();
    assert_eq!(env.balance(elsewhere).await, full);
    assert_vault_accounts_for(&mut env, fusd, &[], &everyone).await;
}

/// An expired 1-of-2 cluster with a lease funded on `node` by `payer`.
async fn expired_cluster_with_one_lease(
    env: &mut TestEnv,
    node: &TestNode,
    payer: &Keypair,
) -> (Keypair, Pubkey, LeaseAccounts) {
    let usdc = env.usdc;
    let renter = env.wallet().await;
    env.fund(&payer.pubkey(), usdc, 100 * TOKEN).await;
    let cluster = env.create_cluster(&renter, 1, 2, 600).await.unwrap();
    let gpus = node_gpus(env, node).await;
    let lease = env
        .create_cluster_lease(
            LeaseRequest {
                payer: Some(payer),
                ..LeaseRequest::new(&renter, &node, usdc, 1).gpus(gpus)
            },
            cluster,
        )
        .await
        .unwrap();
    env.warp(601).await;
    let a = env.lease_accounts(lease).await;
    (renter, cluster, a)
}

async fn node_gpus(env: &mut TestEnv, node: &TestNode) -> u16 {
    env.node(node.address).await.gpu_count
}

#[tokio::test]
async fn unwind_refuses_a_node_passed_read_only() {
    let mut env = TestEnv::new().await;
    let victim = env.register_node(4).await;
    let payer = env.wallet().await;
    let (renter, cluster, a) = expired_cluster_with_one_lease(&mut env, &victim, &payer).await;
    let attacker = env.wallet().await;
    let mut unwind = env.unwind_cluster_ix(cluster, renter.pubkey(), env.usdc, &[a]);
    let node_meta = unwind
        .accounts
        .iter_mut()
        .rev()
        .find(|m| m.pubkey == victim.address)
        .unwrap();
    node_meta.is_writable = false;
    // Before: the lease was refunded and closed while the node kept its 4
    // GPUs reserved forever (Overbooked, NodeHasOpenLeases).
    let sent = env.send_as(&attacker, &[unwind], &[]).await;
    assert_error(sent.result, code(IomeshError::AccountNotWritable));
    assert!(env.lease(a.lease).await.is_some());
    assert_eq!(env.node(victim.address).await.gpus_in_use, 4);

    let unwind = env.unwind_cluster_ix(cluster, renter.pubkey(), env.usdc, &[a]);
    env.send_as(&attacker, &[unwind], &[]).await.result.unwrap();
    let state = env.node(victim.address).await;
    assert_eq!((state.gpus_in_use, state.open_leases), (0, 0));
    assert!(env.cluster(cluster).await.is_none());
    // All 4 GPUs can be rented again, and the owner could retire the node.
    let usdc = env.usdc;
    let next = env.funded_lease(&victim, usdc, 4, HOUR, 100 * TOKEN).await;
    assert!(next.is_ok(), "{next:?}");
}

#[tokio::test]
async fn unwind_with_a_read_only_payer_token_account_fails_cleanly() {
    let mut env = TestEnv::new().await;
    let node = env.register_node(2).await;
    let payer = env.wallet().await;
    let (renter, cluster, a) = expired_cluster_with_one_lease(&mut env, &node, &payer).await;
    let mut unwind = env.unwind_cluster_ix(cluster, renter.pubkey(), env.usdc, &[a]);
    for meta in unwind.accounts.iter_mut() {
        if meta.pubkey == a.payer_token_account {
            meta.is_writable = false;
        }
    }
    // Before: the CPI's privilege escalation panicked inside the native host.
    let sent = env.send_as(&payer, &[unwind], &[]).await;
    assert!(!sent.logged("panicked"));
    assert_error(sent.result, code(IomeshError::AccountNotWritable));
    assert!(env.lease(a.lease).await.is_some());
}

#[tokio::test]
async fn an_unwind_keeps_the_refund_of_a_payer_that_cannot_receive() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(2).await;
    let payer = env.wallet().await;
    let (renter, cluster, a) = expired_cluster_with_one_lease(&mut env, &node, &payer).await;
    let deposit = env.lease(a.lease).await.unwrap().deposited;
    give_token_account_away(&mut env, usdc, &payer, &Pubkey::new_unique()).await;
    let unwind = env.unwind_cluster_ix(cluster, renter.pubkey(), usdc, &[a]);
    let anyone = env.wallet().await;
    env.send_as(&anyone, &[unwind], &[]).await.result.unwrap();
    assert_eq!(
        env.credit(usdc.vault(), &payer.pubkey())
            .await
            .unwrap()
            .amount,
        deposit
    );
    assert_eq!(env.node(node.address).await.gpus_in_use, 0);
    assert!(env.cluster(cluster).await.is_none());
    assert_vault_accounts_for(&mut env, usdc, &[], &[payer.pubkey()]).await;
}

#[tokio::test]
async fn a_slash_is_finalized_even_when_the_harmed_wallet_cannot_receive() {
    let mut env = TestEnv::new().await;
    let slasher = env.wallet().await;
    env.enable_staking(10 * TOKEN, slasher.pubkey()).await;
    let node = env.register_node(4).await;
    env.stake(&node, 100 * TOKEN).await.unwrap();
    // The harmed renter has no IO account at all.
    let harmed = env.wallet().await;
    let slash = env.slash_ix(
        node.address,
        0,
        slasher.pubkey(),
        SlashArgs {
            amount: 30 * TOKEN,
            harmed_amount: 12 * TOKEN,
            reason: iomesh::state::slash_reason::LEASE_FAILURE,
            evidence: Pubkey::new_unique(),
            harmed: harmed.pubkey(),
        },
    );
    env.send(&[slash], &[&slasher]).await.unwrap();
    let pending: iomesh::state::PendingSlash =
        env.fetch(slash_pda(&node.address, 0)).await.unwrap();
    env.warp(i64::from(APPEAL_WINDOW)).await;
    // Before: AccountNotInitialized, and the slash stayed pending for good.
    let finalize = env.finalize_slash_ix(&pending);
    env.send(&[finalize], &[]).await.unwrap();
    assert_eq!(env.node(node.address).await.slashes_pending, 0);
    let credit = env
        .credit(stake_vault_pda(), &harmed.pubkey())
        .await
        .unwrap();
    assert_eq!(
        (credit.amount, credit.rent_payer),
        (12 * TOKEN, slasher.pubkey())
    );
    assert_eq!(
        env.balance(stake_vault_pda()).await,
        70 * TOKEN + 12 * TOKEN
    );

    let io = env.io;
    let destination = env.create_ata(&harmed.pubkey(), io).await;
    let withdraw = env.withdraw_credit_ix(harmed.pubkey(), stake_vault_pda(), io, destination);
    env.send(&[withdraw], &[&harmed]).await.unwrap();
    assert_eq!(env.balance(destination).await, 12 * TOKEN);
    assert_eq!(env.balance(stake_vault_pda()).await, 70 * TOKEN);
}
