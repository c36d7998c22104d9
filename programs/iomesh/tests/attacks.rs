//! Attacks on the lease program, one test (or a few) per class of Solana
//! exploit. Each attack is sent by an attacker who pays its fees; the test
//! asserts the exact refusal (error code and instruction index) and that
//! nothing moved: every watched account (market, payment mint, lease, node,
//! vault, the supplier's, treasury's and victims' token accounts and wallets)
//! is byte-for-byte what it was before.
//!
//! Each attack tampers with one account slot (or one pair that belongs
//! together), so the error code identifies the check that refused it; comments
//! name the account that check sits on and why it is the guard that should fire.

mod common;
use common::*;

use anchor_lang::{error::ErrorCode as AnchorError, prelude::Pubkey, AccountSerialize};
use anchor_spl::{token::spl_token, token_2022::spl_token_2022};
use iomesh::{accounts as acc, error::IomeshError, instruction as args, state::*};
use solana_account::AccountSharedData;
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction_error::TransactionError;

type TxResult = std::result::Result<(), TransactionError>;

// ------------------------------------------------------------------ assertions

/// Asserts the transaction failed at instruction `index` with custom error `expected`.
#[track_caller]
fn assert_error_at(result: &TxResult, index: u8, expected: impl Into<u32>) {
    let expected = expected.into();
    match result {
        Err(TransactionError::InstructionError(i, InstructionError::Custom(actual))) => assert_eq!(
            (*i, *actual),
            (index, expected),
            "expected custom error {expected} at instruction {index}"
        ),
        other => panic!("expected custom error {expected} at instruction {index}, got {other:?}"),
    }
}

/// Every watched account as (lamports, owner, data); None when it does not exist.
type Snapshot = Vec<(Pubkey, Option<(u64, Pubkey, Vec<u8>)>)>;

async fn snapshot(env: &mut TestEnv, addresses: &[Pubkey]) -> Snapshot {
    let mut out = Vec::with_capacity(addresses.len());
    for address in addresses {
        let account = env
            .ctx
            .banks_client
            .get_account(*address)
            .await
            .expect("get_account");
        out.push((*address, account.map(|a| (a.lamports, a.owner, a.data))));
    }
    out
}

/// Asserts every account of `before` is exactly as it was.
#[track_caller]
fn assert_same(before: &Snapshot, after: &Snapshot) {
    assert_eq!(before.len(), after.len());
    for ((address, was), (_, now)) in before.iter().zip(after) {
        assert!(was == now, "account {address} changed: {was:?} -> {now:?}");
    }
}

// ------------------------------------------------------------------ tampering

/// Removes `key`'s signature requirement from an instruction (the attacker
/// names an account it cannot sign for).
fn unsign(ix: &mut Instruction, key: Pubkey) {
    let mut flipped = 0;
    for meta in ix.accounts.iter_mut().filter(|m| m.pubkey == key) {
        flipped += usize::from(meta.is_signer);
        meta.is_signer = false;
    }
    assert!(flipped > 0, "{key} was not a signer of the instruction");
}

/// Writes an arbitrary account into the bank (what another program, or the
/// system program, would let an attacker create at an address it controls).
async fn plant(env: &mut TestEnv, address: Pubkey, owner: Pubkey, data: &[u8]) {
    let rent = env.ctx.banks_client.get_rent().await.unwrap();
    let mut account = AccountSharedData::new(rent.minimum_balance(data.len()), data.len(), &owner);
    account.set_data_from_slice(data);
    env.ctx.set_account(&address, &account);
}

fn serialize<T: AccountSerialize>(account: &T) -> Vec<u8> {
    let mut data = Vec::new();
    account.try_serialize(&mut data).expect("serialize");
    data
}

/// A token account at a fresh (non-associated) address, for `mint`, owned by `owner`.
async fn token_account(env: &mut TestEnv, mint: TestMint, owner: &Pubkey) -> Pubkey {
    let account = Keypair::new();
    let payer = env.payer();
    let space = 165;
    let rent = env.ctx.banks_client.get_rent().await.unwrap();
    let create = solana_system_interface::instruction::create_account(
        &payer.pubkey(),
        &account.pubkey(),
        rent.minimum_balance(space),
        space as u64,
        &mint.token_program,
    );
    let init = spl_token_2022::instruction::initialize_account3(
        &mint.token_program,
        &account.pubkey(),
        &mint.mint,
        owner,
    )
    .unwrap();
    env.send(&[create, init], &[&account])
        .await
        .expect("token account");
    account.pubkey()
}

fn transfer_lamports(from: &Pubkey, to: &Pubkey, lamports: u64) -> Instruction {
    solana_system_interface::instruction::transfer(from, to, lamports)
}

// ------------------------------------------------------------------ instruction builders

fn create_accounts(renter: Pubkey, node: Pubkey, mint: TestMint, nonce: u64) -> acc::CreateLease {
    acc::CreateLease {
        market: market_pda(),
        payment_mint: payment_mint_pda(&mint.mint),
        mint: mint.mint,
        vault: mint.vault(),
        node,
        lease: lease_pda(&renter, nonce),
        payer_token_account: mint.ata(&renter),
        cluster: None,
        price_update: None,
        renter,
        payer: renter,
        token_program: mint.token_program,
        system_program: anchor_lang::system_program::ID,
    }
}

fn create_args(nonce: u64, gpus: u16, duration_secs: u32) -> args::CreateLease {
    args::CreateLease {
        args: iomesh::CreateLeaseArgs {
            nonce,
            gpus,
            duration_secs,
            max_price_per_gpu_hour: u64::MAX,
            job_spec_hash: job_hash(nonce),
        },
    }
}

fn settle(a: &LeaseAccounts) -> Instruction {
    ix(a.settle_accounts(), args::SettleLease {})
}
fn close(a: &LeaseAccounts) -> Instruction {
    ix(a.close_accounts(), args::CloseLease {})
}
fn cancel(a: &LeaseAccounts, renter: Pubkey) -> Instruction {
    ix(a.cancel_accounts(renter, true), args::CancelLease {})
}

// ------------------------------------------------------------------ the scene

/// A victim's lease and an attacker with a funded wallet and USDC account.
struct Scene {
    env: TestEnv,
    node: TestNode,
    renter: Keypair,
    lease: Pubkey,
    a: LeaseAccounts,
    attacker: Keypair,
    attacker_ata: Pubkey,
}

impl Scene {
    /// A 2-GPU, one-hour USDC lease on a 4-GPU node; when `active`, activated
    /// and 10 minutes in, so settling or cancelling it would move tokens.
    async fn new(active: bool) -> Scene {
        let mut env = TestEnv::new().await;
        let node = env.register_node(4).await;
        let usdc = env.usdc;
        let (renter, lease) = env.simple_lease(&node, usdc, 2, HOUR).await;
        if active {
            env.activate(lease, &node).await.unwrap();
            env.warp(600).await;
        }
        let a = env.lease_accounts(lease).await;
        let attacker = env.wallet().await;
        let attacker_ata = env.fund(&attacker.pubkey(), usdc, 100 * TOKEN).await;
        Scene {
            env,
            node,
            renter,
            lease,
            a,
            attacker,
            attacker_ata,
        }
    }

    /// Everything an attack on the lease could touch. The attacker pays the
    /// fees, so the victims' wallets (renter = payer) must not change either.
    fn watched(&self) -> Vec<Pubkey> {
        vec![
            market_pda(),
            payment_mint_pda(&self.a.mint.mint),
            self.lease,
            self.node.address,
            self.a.mint.vault(),
            self.a.supplier,
            self.a.treasury,
            self.a.payer_token_account,
            self.a.payer,
            self.node.owner.pubkey(),
            self.attacker_ata,
        ]
    }

    async fn snapshot(&mut self) -> Snapshot {
        let watched = self.watched();
        snapshot(&mut self.env, &watched).await
    }

    async fn assert_unchanged(&mut self, before: &Snapshot) {
        let after = self.snapshot().await;
        assert_same(before, &after);
    }

    /// Sends `ixs` with the attacker paying the fees and signing, plus `signers`.
    async fn attack(&mut self, ixs: &[Instruction], signers: &[&Keypair]) -> Sent {
        let attacker = self.attacker.insecure_clone();
        self.env.send_as(&attacker, ixs, signers).await
    }

    /// The attack (sent by the attacker) fails at instruction `index` with
    /// `expected`, and every watched account is exactly as it was.
    ///
    /// Each attack tampers with one account slot (or one pair that belongs
    /// together), so the error code says which check refused it; the comment
    /// at each call names the account whose check that is. (The program's own
    /// log lines are printed, not recorded, when it runs natively, so the
    /// account name Anchor logs cannot be asserted here.)
    async fn refused(
        &mut self,
        ixs: &[Instruction],
        signers: &[&Keypair],
        index: u8,
        expected: impl Into<u32>,
    ) {
        let before = self.snapshot().await;
        let sent = self.attack(ixs, signers).await;
        assert_error_at(&sent.result, index, expected);
        self.assert_unchanged(&before).await;
    }
}

// ================================================================== 1. missing signer

#[tokio::test]
async fn missing_signer_cancel_activate_register_are_refused() {
    let mut s = Scene::new(true).await;
    let renter = s.renter.pubkey();

    // The attacker names the renter in cancel_lease but cannot sign for it:
    // Anchor's `Signer` type refuses before any constraint or handler runs.
    let mut unsigned = cancel(&s.a, renter);
    unsign(&mut unsigned, renter);
    // The guard sits on `renter`.
    s.refused(&[unsigned], &[], 0, AnchorError::AccountNotSigner)
        .await;

    // A second, still pending lease on the same node: activation without the
    // operator's signature would start billing the renter.
    let renter2 = s.env.wallet().await;
    let usdc = s.env.usdc;
    s.env.fund(&renter2.pubkey(), usdc, 100 * TOKEN).await;
    let pending = s
        .env
        .create_lease(LeaseRequest::new(&renter2, &s.node, usdc, 7))
        .await
        .unwrap();
    let operator = s.node.operator.pubkey();
    let mut unsigned = s.env.activate_ix(pending, s.node.address, operator);
    unsign(&mut unsigned, operator);
    let watched = [pending, s.node.address];
    let before = snapshot(&mut s.env, &watched).await;
    let sent = s.attack(&[unsigned], &[]).await;
    // The guard sits on `operator`.
    assert_error_at(&sent.result, 0, AnchorError::AccountNotSigner);
    assert_same(&before, &snapshot(&mut s.env, &watched).await);
    assert_eq!(
        s.env.lease(pending).await.unwrap().status,
        LeaseStatus::Pending
    );

    // register_node naming a victim's operator key without its signature would
    // squat the node address of that key (["node", operator]).
    let victim_operator = Keypair::new();
    let node = node_pda(&victim_operator.pubkey());
    let mut register = ix(
        acc::RegisterNode {
            market: market_pda(),
            node,
            owner: s.attacker.pubkey(),
            operator: victim_operator.pubkey(),
            system_program: anchor_lang::system_program::ID,
        },
        args::RegisterNode {
            spec: TestEnv::node_spec(8, 1_000_000),
        },
    );
    unsign(&mut register, victim_operator.pubkey());
    let sent = s.attack(&[register.clone()], &[]).await;
    // The guard sits on `operator`.
    assert_error_at(&sent.result, 0, AnchorError::AccountNotSigner);
    assert!(s.env.account_data(node).await.is_none(), "no node created");

    // The owner pays for the node account and owns it: the operator alone
    // cannot register it either.
    for meta in register.accounts.iter_mut() {
        meta.is_signer = meta.pubkey == victim_operator.pubkey();
    }
    let relayer = s.env.wallet().await;
    let sent = s
        .env
        .send_as(&relayer, &[register], &[&victim_operator])
        .await;
    // The guard sits on `owner`.
    assert_error_at(&sent.result, 0, AnchorError::AccountNotSigner);
    assert!(s.env.account_data(node).await.is_none(), "no node created");
}

// ================================================================== 2. wrong owner

#[tokio::test]
async fn accounts_owned_by_another_program_are_refused() {
    let mut s = Scene::new(true).await;
    let now = s.env.now().await;

    // A lease-shaped account (right discriminator, plausible bytes) claiming a
    // week of service at a huge rate, at an address the attacker controls.
    let mut fake = s.env.lease(s.lease).await.unwrap();
    fake.rate_per_gpu_hour = 1_000_000 * TOKEN;
    fake.activated_at = now - 7 * 24 * 3_600;
    fake.settled_until = fake.activated_at;
    let fake_bytes = serialize(&fake);
    let attacker_program = Pubkey::new_unique();
    for owner in [attacker_program, anchor_lang::system_program::ID] {
        let address = Pubkey::new_unique();
        plant(&mut s.env, address, owner, &fake_bytes).await;
        let mut accounts = s.a.settle_accounts();
        accounts.lease = address;
        s.refused(
            &[ix(accounts, args::SettleLease {})],
            &[],
            0,
            AnchorError::AccountOwnedByWrongProgram,
            // the guard sits on `lease`
        )
        .await;
    }

    // A market naming the attacker as treasury (to collect every network fee).
    let mut market = s.env.market().await;
    market.treasury = s.attacker.pubkey();
    let fake_market = Pubkey::new_unique();
    plant(
        &mut s.env,
        fake_market,
        attacker_program,
        &serialize(&market),
    )
    .await;
    let mut accounts = s.a.settle_accounts();
    accounts.market = fake_market;
    accounts.treasury_token_account = s.attacker_ata;
    s.refused(
        &[ix(accounts, args::SettleLease {})],
        &[],
        0,
        AnchorError::AccountOwnedByWrongProgram,
        // the guard sits on `market`
    )
    .await;

    // A node with 1024 free GPUs at 1 micro-USD per GPU-hour, for create_lease.
    let mut node = s.env.node(s.node.address).await;
    node.gpu_count = 1_024;
    node.gpus_in_use = 0;
    node.open_leases = 0;
    node.price_usd_micros_per_gpu_hour = 1;
    let fake_node = Pubkey::new_unique();
    plant(&mut s.env, fake_node, attacker_program, &serialize(&node)).await;
    let attacker = s.attacker.pubkey();
    let usdc = s.env.usdc;
    let create = ix(
        create_accounts(attacker, fake_node, usdc, 1),
        create_args(1, 1_024, HOUR),
    );
    s.refused(
        &[create],
        &[],
        0,
        AnchorError::AccountOwnedByWrongProgram,
        // the guard sits on `node`
    )
    .await;
    assert!(s.env.lease(lease_pda(&attacker, 1)).await.is_none());

    // Even at the lease's own address (so its seeds would check out), bytes
    // under another program's ownership are not a lease: the owner check alone
    // refuses it. (The bank is edited directly: nobody else could put an
    // account at this program-derived address.)
    let real = s.env.account_data(s.lease).await.unwrap();
    plant(&mut s.env, s.lease, attacker_program, &real).await;
    let settle_real = settle(&s.a);
    s.refused(
        &[settle_real],
        &[],
        0,
        AnchorError::AccountOwnedByWrongProgram,
        // the guard sits on `lease`
    )
    .await;
}

// ================================================================== 3. type cosplay

#[tokio::test]
async fn one_account_type_cannot_pose_as_another() {
    let mut s = Scene::new(true).await;

    // A node where a lease is expected (both owned by the program).
    let mut accounts = s.a.settle_accounts();
    accounts.lease = s.node.address;
    s.refused(
        &[ix(accounts, args::SettleLease {})],
        &[],
        0,
        AnchorError::AccountDiscriminatorMismatch,
        // the guard sits on `lease`
    )
    .await;

    // A lease where a node is expected: the operator's lease stands in for its node.
    let ix_activate = s
        .env
        .activate_ix(s.lease, s.lease, s.node.operator.pubkey());
    let operator = s.node.operator.insecure_clone();
    s.refused(
        &[ix_activate],
        &[&operator],
        0,
        AnchorError::AccountDiscriminatorMismatch,
        // the guard sits on `node`
    )
    .await;

    // A payment mint where the market is expected.
    let mut accounts = s.a.settle_accounts();
    accounts.market = payment_mint_pda(&s.a.mint.mint);
    s.refused(
        &[ix(accounts, args::SettleLease {})],
        &[],
        0,
        AnchorError::AccountDiscriminatorMismatch,
        // the guard sits on `market`
    )
    .await;

    // A lease where a payment mint is expected.
    let attacker = s.attacker.pubkey();
    let usdc = s.env.usdc;
    let mut accounts = create_accounts(attacker, s.node.address, usdc, 1);
    accounts.payment_mint = s.lease;
    s.refused(
        &[ix(accounts, create_args(1, 1, HOUR))],
        &[],
        0,
        AnchorError::AccountDiscriminatorMismatch,
        // the guard sits on `payment_mint`
    )
    .await;
}

// ================================================================== 4. fake vault, mint and token accounts

#[tokio::test]
async fn fake_vaults_are_refused() {
    let mut s = Scene::new(true).await;
    let usdc = s.env.usdc;
    let attacker = s.attacker.pubkey();
    // Two fakes: one the attacker controls, one even under the market's
    // authority (anyone can open a token account owned by the market PDA).
    let market_owned = token_account(&mut s.env, usdc, &market_pda()).await;
    for fake in [s.attacker_ata, market_owned] {
        let mut accounts = s.a.settle_accounts();
        accounts.vault = fake;
        s.refused(
            &[ix(accounts, args::SettleLease {})],
            &[],
            0,
            AnchorError::ConstraintSeeds,
            // the guard sits on `vault`
        )
        .await;

        let mut accounts = s.a.cancel_accounts(s.renter.pubkey(), true);
        accounts.vault = fake;
        let renter = s.renter.insecure_clone();
        s.refused(
            &[ix(accounts, args::CancelLease {})],
            &[&renter],
            0,
            AnchorError::ConstraintSeeds,
            // the guard sits on `vault`
        )
        .await;
    }

    // create_lease depositing into an account the attacker owns while the lease
    // records a deposit the real vault would later refund: the vault must be
    // the payment mint's recorded vault.
    let spare = token_account(&mut s.env, usdc, &attacker).await;
    for fake in [spare, market_owned] {
        let mut accounts = create_accounts(attacker, s.node.address, usdc, 1);
        accounts.vault = fake;
        s.refused(
            &[ix(accounts, create_args(1, 1, HOUR))],
            &[],
            0,
            AnchorError::ConstraintAddress,
            // the guard sits on `vault`
        )
        .await;
        assert!(s.env.lease(lease_pda(&attacker, 1)).await.is_none());
    }

    // close_lease, once the lease has run to its end.
    s.env.warp(i64::from(HOUR)).await;
    for fake in [s.attacker_ata, market_owned] {
        let mut accounts = s.a.close_accounts();
        accounts.vault = fake;
        s.refused(
            &[ix(accounts, args::CloseLease {})],
            &[],
            0,
            AnchorError::ConstraintSeeds,
            // the guard sits on `vault`
        )
        .await;
    }
    // The real accounts still close it: the refusals above were the fakes'.
    s.env.close(s.lease).await.unwrap();
}

#[tokio::test]
async fn fake_mint_with_same_decimals_is_refused() {
    let mut s = Scene::new(true).await;
    let fake_mint = s.env.create_mint(spl_token::ID).await;
    s.env.fund(&s.attacker.pubkey(), fake_mint, TOKEN).await;

    // The real vault with the attacker's mint: the lease names its mint.
    let mut accounts = s.a.settle_accounts();
    accounts.mint = fake_mint.mint;
    s.refused(
        &[ix(accounts, args::SettleLease {})],
        &[],
        0,
        IomeshError::LeaseAccountMismatch,
        // the guard sits on `lease`
    )
    .await;

    // cancel_lease by the renter with the fake mint (refund in the fake
    // token, real escrow kept): the lease names its mint.
    let renter = s.renter.insecure_clone();
    let mut accounts = s.a.cancel_accounts(s.renter.pubkey(), true);
    accounts.mint = fake_mint.mint;
    s.refused(
        &[ix(accounts, args::CancelLease {})],
        &[&renter],
        0,
        IomeshError::LeaseAccountMismatch,
        // the guard sits on `lease`
    )
    .await;

    s.env.warp(i64::from(HOUR)).await;
    let mut accounts = s.a.close_accounts();
    accounts.mint = fake_mint.mint;
    s.refused(
        &[ix(accounts, args::CloseLease {})],
        &[],
        0,
        IomeshError::LeaseAccountMismatch,
        // the guard sits on `lease`
    )
    .await;
}

#[tokio::test]
async fn payouts_and_refunds_cannot_be_redirected() {
    let mut s = Scene::new(true).await;
    let attacker = s.attacker.pubkey();

    // Supplier or treasury share to the attacker's account: each is pinned to
    // the address of the node owner's / market treasury's associated token
    // account (`payouts`).
    let mut accounts = s.a.settle_accounts();
    accounts.supplier_token_account = s.attacker_ata;
    s.refused(
        &[ix(accounts, args::SettleLease {})],
        &[],
        0,
        IomeshError::PayoutAccountMismatch,
        // the guard sits on `supplier_token_account`
    )
    .await;
    let mut accounts = s.a.settle_accounts();
    accounts.treasury_token_account = s.attacker_ata;
    s.refused(
        &[ix(accounts, args::SettleLease {})],
        &[],
        0,
        IomeshError::PayoutAccountMismatch,
        // the guard sits on `treasury_token_account`
    )
    .await;
    // A non-associated account that the node owner does own is refused too
    // (payouts go to one well-known address per owner and mint).
    let usdc = s.env.usdc;
    let owner_side_account = token_account(&mut s.env, usdc, &s.node.owner.pubkey()).await;
    let mut accounts = s.a.settle_accounts();
    accounts.supplier_token_account = owner_side_account;
    s.refused(
        &[ix(accounts, args::SettleLease {})],
        &[],
        0,
        IomeshError::PayoutAccountMismatch,
        // the guard sits on `supplier_token_account`
    )
    .await;

    // close_lease is permissionless: the refund must still go to the payer.
    s.env.warp(i64::from(HOUR)).await;
    let mut accounts = s.a.close_accounts();
    accounts.payer_token_account = s.attacker_ata;
    s.refused(
        &[ix(accounts, args::CloseLease {})],
        &[],
        0,
        IomeshError::PayoutAccountMismatch,
        // the guard sits on `payer_token_account`
    )
    .await;
    // ... and naming the attacker as payer (refund and rent) contradicts the lease.
    let mut accounts = s.a.close_accounts();
    accounts.payer = attacker;
    accounts.payer_token_account = s.attacker_ata;
    s.refused(
        &[ix(accounts, args::CloseLease {})],
        &[],
        0,
        IomeshError::LeaseAccountMismatch,
        // the guard sits on `lease`
    )
    .await;
    s.env.close(s.lease).await.unwrap();
}

#[tokio::test]
async fn renter_cannot_take_a_sponsors_refund() {
    let mut env = TestEnv::new().await;
    let node = env.register_node(4).await;
    let usdc = env.usdc;
    let renter = env.wallet().await;
    let sponsor = env.wallet().await;
    let renter_ata = env.fund(&renter.pubkey(), usdc, TOKEN).await;
    let sponsor_ata = env.fund(&sponsor.pubkey(), usdc, 100 * TOKEN).await;
    let lease = env
        .create_lease(LeaseRequest {
            payer: Some(&sponsor),
            ..LeaseRequest::new(&renter, &node, usdc, 1).gpus(2)
        })
        .await
        .unwrap();
    let a = env.lease_accounts(lease).await;
    let watched = [
        lease,
        node.address,
        usdc.vault(),
        sponsor_ata,
        sponsor.pubkey(),
        renter_ata,
    ];

    // The renter may cancel, but the refund belongs to the sponsor.
    let mut accounts = a.cancel_accounts(renter.pubkey(), true);
    accounts.payer_token_account = renter_ata;
    let before = snapshot(&mut env, &watched).await;
    let sent = env
        .send_as(&renter, &[ix(accounts, args::CancelLease {})], &[])
        .await;
    // The guard sits on `payer_token_account`.
    assert_error_at(&sent.result, 0, IomeshError::PayoutAccountMismatch);
    let mut accounts = a.cancel_accounts(renter.pubkey(), true);
    accounts.payer = renter.pubkey();
    accounts.payer_token_account = renter_ata;
    let sent = env
        .send_as(&renter, &[ix(accounts, args::CancelLease {})], &[])
        .await;
    // The guard sits on `lease`.
    assert_error_at(&sent.result, 0, IomeshError::LeaseAccountMismatch);
    assert_same(&before, &snapshot(&mut env, &watched).await);

    // The honest cancel refunds the sponsor in full.
    let deposit = env.lease(lease).await.unwrap().deposited;
    env.cancel(lease, &renter).await.unwrap();
    assert_eq!(env.balance(sponsor_ata).await, 100 * TOKEN);
    assert_eq!(env.balance(renter_ata).await, TOKEN);
    assert_eq!(deposit, 4 * TOKEN);
}

// ================================================================== 5. PDA substitution

#[tokio::test]
async fn another_renters_lease_and_another_nodes_operator_are_refused() {
    let mut s = Scene::new(true).await;
    let attacker = s.attacker.insecure_clone();

    // The attacker signs as "renter" of the victim's lease. The lease address
    // is re-derived from the signing renter, so the seeds check refuses it.
    // (`has_one = renter @ NotRenter` stands behind it but cannot fire first:
    // a lease's stored renter is the key its address was derived from.)
    let steal = cancel(&s.a, attacker.pubkey());
    // The guard sits on `lease`.
    s.refused(&[steal], &[], 0, AnchorError::ConstraintSeeds)
        .await;

    // A second node, run by another operator, and a pending lease on the first.
    let other = s.env.register_node(4).await;
    let renter2 = s.env.wallet().await;
    let usdc = s.env.usdc;
    s.env.fund(&renter2.pubkey(), usdc, 100 * TOKEN).await;
    let pending = s
        .env
        .create_lease(LeaseRequest::new(&renter2, &s.node, usdc, 1))
        .await
        .unwrap();
    let watched = [pending, s.node.address, other.address];
    let operator = other.operator.insecure_clone();

    s.env.airdrop(&operator.pubkey(), 1_000_000_000).await;
    // ... naming the lease's node: the node address is re-derived from the
    // signing operator, so the seeds check refuses it. (`has_one = operator @
    // NotNodeOperator` stands behind it but cannot fire first: a node's stored
    // operator is the key its address was derived from.)
    let before = snapshot(&mut s.env, &watched).await;
    let foreign = s
        .env
        .activate_ix(pending, s.node.address, operator.pubkey());
    let sent = s.env.send_as(&operator, &[foreign], &[]).await;
    // The guard sits on `node`.
    assert_error_at(&sent.result, 0, AnchorError::ConstraintSeeds);
    // ... naming his own node: the lease belongs to another node.
    let own_node = s.env.activate_ix(pending, other.address, operator.pubkey());
    let sent = s.env.send_as(&operator, &[own_node], &[]).await;
    // The guard sits on `lease`.
    assert_error_at(&sent.result, 0, IomeshError::LeaseAccountMismatch);
    assert_same(&before, &snapshot(&mut s.env, &watched).await);

    // The other node's owner settles the victim's lease to his own node and
    // token account: the lease names its node.
    let mut accounts = s.a.settle_accounts();
    accounts.node = other.address;
    accounts.supplier_token_account = usdc.ata(&other.owner.pubkey());
    s.refused(
        &[ix(accounts, args::SettleLease {})],
        &[],
        0,
        IomeshError::LeaseAccountMismatch,
        // the guard sits on `lease`
    )
    .await;

    // The rightful operator still activates it.
    s.env.activate(pending, &s.node).await.unwrap();
}

// ================================================================== 6. re-initialisation

#[tokio::test]
async fn accounts_cannot_be_initialised_twice() {
    let mut s = Scene::new(false).await;
    let attacker = s.attacker.insecure_clone();
    let usdc = s.env.usdc;

    // initialize_market again, by the attacker, naming himself authority and treasury.
    let mut params = default_params(&s.env.keys);
    params.treasury = attacker.pubkey();
    let reinit = ix(
        acc::InitializeMarket {
            market: market_pda(),
            authority: attacker.pubkey(),
            system_program: anchor_lang::system_program::ID,
        },
        args::InitializeMarket {
            params: params.clone(),
        },
    );
    let before = s.snapshot().await;
    let sent = s.attack(&[reinit], &[]).await;
    assert_reinit_refused(&sent);
    // ... and by the market authority itself.
    let authority = s.env.keys.authority.insecure_clone();
    let reinit = ix(
        acc::InitializeMarket {
            market: market_pda(),
            authority: authority.pubkey(),
            system_program: anchor_lang::system_program::ID,
        },
        args::InitializeMarket { params },
    );
    let sent = s.attack(&[reinit], &[&authority]).await;
    assert_reinit_refused(&sent);
    s.assert_unchanged(&before).await;

    // add_payment_mint twice for USDC (whose vault holds the victim's escrow):
    // a second init would reset the fee, price and vault.
    let again = s
        .env
        .add_payment_mint_ix(usdc, PriceSource::Stable, 0, 0, "USDC");
    let sent = s.attack(&[again], &[&authority]).await;
    assert_reinit_refused(&sent);
    s.assert_unchanged(&before).await;
    assert_eq!(s.env.balance(usdc.vault()).await, 4 * TOKEN);

    // register_node twice for the same operator (and owner): would reset
    // gpus_in_use under the victim's open lease.
    let owner = s.node.owner.insecure_clone();
    let operator = s.node.operator.insecure_clone();
    let again = ix(
        acc::RegisterNode {
            market: market_pda(),
            node: s.node.address,
            owner: owner.pubkey(),
            operator: operator.pubkey(),
            system_program: anchor_lang::system_program::ID,
        },
        args::RegisterNode {
            spec: TestEnv::node_spec(4, 1),
        },
    );
    let sent = s.attack(&[again], &[&owner, &operator]).await;
    assert_reinit_refused(&sent);
    s.assert_unchanged(&before).await;
    assert_eq!(s.env.node(s.node.address).await.gpus_in_use, 2);

    // create_lease twice with the same nonce: would overwrite the lease (its
    // deposit, GPUs and price) while the vault holds the first deposit.
    let renter = s.renter.insecure_clone();
    let again = ix(
        create_accounts(renter.pubkey(), s.node.address, usdc, 1),
        create_args(1, 1, MARKET_MIN_LEASE),
    );
    let sent = s.attack(&[again], &[&renter]).await;
    assert_reinit_refused(&sent);
    s.assert_unchanged(&before).await;
}

/// iomesh refused to create an account at an address that already holds one.
///
/// Accounts are created by `account_creation`, which refuses an address that
/// holds data or belongs to a program before asking the system program for
/// anything, so re-initialising can neither overwrite nor re-fund an account.
#[track_caller]
fn assert_reinit_refused(sent: &Sent) {
    assert_eq!(
        sent.result,
        Err(TransactionError::InstructionError(
            0,
            InstructionError::Custom(code(IomeshError::AccountAlreadyInUse))
        ))
    );
}

// ================================================================== 7. close and revive

#[tokio::test]
async fn a_closed_lease_stays_dead_within_and_across_transactions() {
    let mut s = Scene::new(true).await;
    let attacker = s.attacker.pubkey();

    // An active lease, cancelled and settled in one transaction.
    let renter = s.renter.insecure_clone();
    let ixs = [cancel(&s.a, renter.pubkey()), settle(&s.a)];
    s.refused(
        &ixs,
        &[&renter],
        1,
        AnchorError::AccountNotInitialized,
        // the guard sits on `lease`
    )
    .await;

    s.env.warp(i64::from(HOUR)).await;
    let revive = transfer_lamports(&attacker, &s.lease, 1_000_000_000);
    let attempts: Vec<(Vec<Instruction>, u8, AnchorError)> = vec![
        // Closed, then settled: the account is now system-owned and empty.
        (
            vec![close(&s.a), settle(&s.a)],
            1,
            AnchorError::AccountNotInitialized,
        ),
        // Closed twice: the second close finds no lease.
        (
            vec![close(&s.a), close(&s.a)],
            1,
            AnchorError::AccountNotInitialized,
        ),
        // Closed, lamports sent back, then settled or closed again: the revived
        // address belongs to the system program, not to iomesh.
        (
            vec![close(&s.a), revive.clone(), settle(&s.a)],
            2,
            AnchorError::AccountOwnedByWrongProgram,
        ),
        (
            vec![close(&s.a), revive.clone(), close(&s.a)],
            2,
            AnchorError::AccountOwnedByWrongProgram,
        ),
    ];
    for (ixs, index, expected) in attempts {
        // The transaction fails as a whole: the lease is not even closed.
        // The guard sits on `lease`.
        s.refused(&ixs, &[], index, expected).await;
    }

    // Closed for real, then revived with lamports in a later transaction.
    s.env.close(s.lease).await.unwrap();
    let sent = s.attack(&[revive], &[]).await;
    sent.result.unwrap();
    let account = s
        .env
        .ctx
        .banks_client
        .get_account(s.lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.owner, anchor_lang::system_program::ID);
    assert!(account.data.is_empty());
    let vault_after_close = s.env.balance(s.a.mint.vault()).await;
    assert_eq!(
        vault_after_close, 0,
        "close paid out and refunded everything"
    );
    let a = s.a;
    let extend = s.env.extend_ix(&a, renter.pubkey(), HOUR);
    for (ix, signers) in [
        (settle(&a), vec![]),
        (close(&a), vec![]),
        (cancel(&a, renter.pubkey()), vec![&renter]),
        (extend, vec![&renter]),
    ] {
        s.refused(
            &[ix],
            &signers,
            0,
            AnchorError::AccountOwnedByWrongProgram,
            // the guard sits on `lease`
        )
        .await;
    }

    // Only create_lease can put a lease at that address again, signed by the
    // renter and with a fresh, full deposit: the stray lamports change nothing
    // (they only lower the rent the renter pays), and the old lease's money is gone.
    let usdc = s.env.usdc;
    let renter_before = s.env.balance(usdc.ata(&renter.pubkey())).await;
    let same_nonce = ix(
        create_accounts(renter.pubkey(), s.node.address, usdc, 1),
        create_args(1, 2, HOUR),
    );
    s.env
        .send_as(&renter, &[same_nonce], &[])
        .await
        .result
        .unwrap();
    let lease = s.env.lease(lease_pda(&renter.pubkey(), 1)).await.unwrap();
    assert_eq!(lease.status, LeaseStatus::Pending);
    assert_eq!(lease.paid_out, 0);
    assert_eq!(lease.deposited, 4 * TOKEN);
    assert_eq!(s.env.balance(usdc.vault()).await, 4 * TOKEN);
    assert_eq!(
        s.env.balance(usdc.ata(&renter.pubkey())).await,
        renter_before - 4 * TOKEN
    );
}

// ================================================================== 8. duplicate mutable accounts

#[tokio::test]
async fn one_account_in_two_mutable_slots_is_refused() {
    let mut s = Scene::new(true).await;
    let vault = s.a.mint.vault();
    let renter = s.renter.insecure_clone();

    // The vault as the supplier's / treasury's account (the vault paying
    // itself while the lease records a payout). These slots are marked `dup`
    // (node owner, treasury and payer may legitimately share an account), so
    // Anchor's duplicate check skips them; the address pin is the guard: the
    // vault is not the node owner's associated token account.
    let mut accounts = s.a.settle_accounts();
    accounts.supplier_token_account = vault;
    s.refused(
        &[ix(accounts, args::SettleLease {})],
        &[],
        0,
        IomeshError::PayoutAccountMismatch,
        // the guard sits on `supplier_token_account`
    )
    .await;
    let mut accounts = s.a.settle_accounts();
    accounts.treasury_token_account = vault;
    s.refused(
        &[ix(accounts, args::SettleLease {})],
        &[],
        0,
        IomeshError::PayoutAccountMismatch,
        // the guard sits on `treasury_token_account`
    )
    .await;
    // The vault as the payer's refund account.
    let mut accounts = s.a.cancel_accounts(renter.pubkey(), true);
    accounts.payer_token_account = vault;
    s.refused(
        &[ix(accounts, args::CancelLease {})],
        &[&renter],
        0,
        IomeshError::PayoutAccountMismatch,
        // the guard sits on `payer_token_account`
    )
    .await;

    // The lease also passed as its node: the node slot refuses a lease.
    let mut accounts = s.a.settle_accounts();
    accounts.node = s.lease;
    s.refused(
        &[ix(accounts, args::SettleLease {})],
        &[],
        0,
        AnchorError::AccountDiscriminatorMismatch,
        // the guard sits on `node`
    )
    .await;

    // Where two plain mutable token slots meet, Anchor's duplicate check fires
    // before any other constraint: the vault as the funding account of a new
    // lease or of an extension (the vault "paying" its own deposit).
    let usdc = s.env.usdc;
    let mut accounts = create_accounts(renter.pubkey(), s.node.address, usdc, 2);
    accounts.payer_token_account = vault;
    s.refused(
        &[ix(accounts, create_args(2, 1, HOUR))],
        &[&renter],
        0,
        AnchorError::ConstraintDuplicateMutableAccount,
        // the guard sits on `payer_token_account`
    )
    .await;
    assert!(s.env.lease(lease_pda(&renter.pubkey(), 2)).await.is_none());
    let mut ix_extend = s.env.extend_ix(&s.a, renter.pubkey(), HOUR);
    let position = ix_extend
        .accounts
        .iter()
        .position(|m| m.pubkey == usdc.ata(&renter.pubkey()))
        .unwrap();
    ix_extend.accounts[position].pubkey = vault;
    s.refused(
        &[ix_extend],
        &[&renter],
        0,
        AnchorError::ConstraintDuplicateMutableAccount,
        // the guard sits on `funder_token_account`
    )
    .await;
}

// ================================================================== 9. overflow

/// What `secs` seconds at `rate` on `gpus` GPUs cost, rounded up (independent of the program's math).
fn expected_cost(rate: u64, gpus: u16, secs: u32) -> u128 {
    (u128::from(rate) * u128::from(gpus) * u128::from(secs)).div_ceil(3_600)
}

#[tokio::test]
async fn extreme_prices_and_durations_fail_cleanly() {
    let mut env = TestEnv::new().await;
    let (io, usdc) = (env.io, env.usdc);
    let max_node = env
        .register_node_with(TestEnv::node_spec(1_024, u64::MAX))
        .await
        .unwrap();
    let node_max_secs = TestEnv::node_spec(1, 1).max_lease_secs;
    let renter = env.wallet().await;
    env.fund(&renter.pubkey(), io, TOKEN).await;
    env.fund(&renter.pubkey(), usdc, TOKEN).await;
    let watched = [
        max_node.address,
        io.vault(),
        usdc.vault(),
        io.ata(&renter.pubkey()),
        usdc.ata(&renter.pubkey()),
        lease_pda(&renter.pubkey(), 1),
    ];

    // u64::MAX micro-USD per GPU-hour paid in IO priced at 1 micro-USD:
    // the per-GPU-hour rate itself (× 10^6 base units per token) exceeds u64.
    env.set_io_price(1).await.unwrap();
    let before = snapshot(&mut env, &watched).await;
    let create = ix(
        create_accounts(renter.pubkey(), max_node.address, io, 1),
        create_args(1, 1, MARKET_MIN_LEASE),
    );
    let sent = env.send_as(&renter, &[create], &[]).await;
    assert_error_at(&sent.result, 0, IomeshError::MathOverflow);
    // In USDC the rate fits (exactly u64::MAX), but 1024 GPUs × a week does not.
    let create = ix(
        create_accounts(renter.pubkey(), max_node.address, usdc, 1),
        create_args(1, 1_024, node_max_secs),
    );
    let sent = env.send_as(&renter, &[create], &[]).await;
    assert_error_at(&sent.result, 0, IomeshError::MathOverflow);
    assert_same(&before, &snapshot(&mut env, &watched).await);

    // One GPU for a minute at u64::MAX per GPU-hour does fit: the renter pays it.
    let deposit = u64::try_from(expected_cost(u64::MAX, 1, MARKET_MIN_LEASE)).unwrap();
    env.fund(&renter.pubkey(), usdc, deposit).await;
    let lease = env
        .create_lease(LeaseRequest::new(&renter, &max_node, usdc, 1).for_secs(MARKET_MIN_LEASE))
        .await
        .unwrap();
    let state = env.lease(lease).await.unwrap();
    assert_eq!(state.rate_per_gpu_hour, u64::MAX);
    assert_eq!(state.deposited, deposit);
    let a = env.lease_accounts(lease).await;
    let before = snapshot(&mut env, &watched).await;
    // Extending by u32::MAX seconds: the prepaid-horizon check (done in i64,
    // where remaining + u32::MAX cannot overflow) refuses it before the u32
    // duration addition could overflow, so the error is LeaseTooLong.
    let extend = env.extend_ix(&a, renter.pubkey(), u32::MAX);
    let sent = env.send_as(&renter, &[extend], &[]).await;
    assert_error_at(&sent.result, 0, IomeshError::LeaseTooLong);
    // An extension inside the horizon whose cost exceeds u64: MathOverflow.
    let extend = env.extend_ix(&a, renter.pubkey(), HOUR);
    let sent = env.send_as(&renter, &[extend], &[]).await;
    assert_error_at(&sent.result, 0, IomeshError::MathOverflow);
    assert_same(&before, &snapshot(&mut env, &watched).await);

    // The extreme lease still runs and ends with every base unit accounted for.
    env.activate(lease, &max_node).await.unwrap();
    env.warp(i64::from(MARKET_MIN_LEASE)).await;
    // A failure reported at an absurd time is refused, not wrapped.
    for failed_at in [i64::MAX, i64::MIN] {
        let report = env.report_failure_ix(&a, failed_at);
        let scheduler = env.keys.scheduler.insecure_clone();
        let sent = env.send_as(&scheduler, &[report], &[]).await;
        assert_error_at(&sent.result, 0, IomeshError::InvalidFailureTime);
    }
    let supplier_before = env.balance(a.supplier).await;
    let treasury_before = env.balance(a.treasury).await;
    let renter_before = env.balance(a.payer_token_account).await;
    env.close(lease).await.unwrap();
    let supplier = env.balance(a.supplier).await - supplier_before;
    let treasury = env.balance(a.treasury).await - treasury_before;
    let refund = env.balance(a.payer_token_account).await - renter_before;
    let payout = (u128::from(u64::MAX) * u128::from(MARKET_MIN_LEASE) / 3_600) as u64;
    assert_eq!(supplier + treasury, payout);
    assert_eq!(
        treasury,
        (u128::from(payout) * u128::from(USDC_FEE_BPS) / 10_000) as u64
    );
    assert_eq!(refund, deposit - payout);
    assert_eq!(env.balance(usdc.vault()).await, 0);
}

#[tokio::test]
async fn extreme_mint_price_rounds_up_and_never_leases_for_free() {
    let mut env = TestEnv::new().await;
    let io = env.io;
    let cheap = env.register_node(4).await; // $2.00 per GPU-hour
    let dear = env
        .register_node_with(TestEnv::node_spec(4, u64::MAX))
        .await
        .unwrap();
    env.set_io_price(u64::MAX).await.unwrap();
    assert_eq!(env.payment_mint(&io).await.usd_price_micros, u64::MAX);

    let renter = env.wallet().await;
    let renter_ata = env.fund(&renter.pubkey(), io, 100 * TOKEN).await;
    for (nonce, node, usd_per_gpu_hour) in [(1, &cheap, 2_000_000u64), (2, &dear, u64::MAX)] {
        let lease = env
            .create_lease(LeaseRequest::new(&renter, &node, io, nonce).for_secs(MARKET_MIN_LEASE))
            .await
            .unwrap();
        let state = env.lease(lease).await.unwrap();
        // rate = ceil(usd × 10^6 / u64::MAX): a $2 GPU-hour costs 1 base unit,
        // never 0; a u64::MAX one costs exactly 10^6 (one whole token).
        let rate = (u128::from(usd_per_gpu_hour) * u128::from(TOKEN)).div_ceil(u128::from(u64::MAX))
            as u64;
        assert!(rate >= 1);
        assert_eq!(state.rate_per_gpu_hour, rate);
        assert_eq!(
            u128::from(state.deposited),
            expected_cost(rate, 1, MARKET_MIN_LEASE)
        );
        assert!(state.deposited >= 1, "a lease is never free");
    }
    let deposits = 1 + expected_cost(TOKEN, 1, MARKET_MIN_LEASE) as u64;
    assert_eq!(env.balance(io.vault()).await, deposits);
    assert_eq!(env.balance(renter_ata).await, 100 * TOKEN - deposits);
}

// ================================================================== 10. wrong token program

#[tokio::test]
async fn the_other_token_program_or_a_fake_one_is_refused() {
    let mut s = Scene::new(true).await;
    let (usdc, iosd) = (s.env.usdc, s.env.iosd);
    let attacker = s.attacker.pubkey();

    // Token-2022 named for an SPL Token mint.
    let mut accounts = s.a.settle_accounts();
    accounts.token_program = spl_token_2022::ID;
    s.refused(
        &[ix(accounts, args::SettleLease {})],
        &[],
        0,
        AnchorError::ConstraintMintTokenProgram,
        // the guard sits on `mint`
    )
    .await;
    let mut accounts = s.a.cancel_accounts(s.renter.pubkey(), true);
    accounts.token_program = spl_token_2022::ID;
    let renter = s.renter.insecure_clone();
    s.refused(
        &[ix(accounts, args::CancelLease {})],
        &[&renter],
        0,
        AnchorError::ConstraintMintTokenProgram,
        // the guard sits on `mint`
    )
    .await;
    // A new lease: the payment mint records which program owns its mint.
    let mut accounts = create_accounts(attacker, s.node.address, usdc, 1);
    accounts.token_program = spl_token_2022::ID;
    s.refused(
        &[ix(accounts, create_args(1, 1, HOUR))],
        &[],
        0,
        IomeshError::WrongTokenProgram,
        // the guard sits on `payment_mint`
    )
    .await;
    // SPL Token named for a Token-2022 mint (IOSD).
    s.env.fund(&attacker, iosd, 10 * TOKEN).await;
    let mut accounts = create_accounts(attacker, s.node.address, iosd, 1);
    accounts.token_program = spl_token::ID;
    s.refused(
        &[ix(accounts, create_args(1, 1, HOUR))],
        &[],
        0,
        IomeshError::WrongTokenProgram,
        // the guard sits on `payment_mint`
    )
    .await;

    // A program that is not a token program at all (it could fake transfers):
    // the token-program interface only accepts SPL Token and Token-2022.
    let mut accounts = s.a.settle_accounts();
    accounts.token_program = anchor_lang::system_program::ID;
    s.refused(
        &[ix(accounts, args::SettleLease {})],
        &[],
        0,
        AnchorError::InvalidProgramId,
        // the guard sits on `token_program`
    )
    .await;
    let mut accounts = create_accounts(attacker, s.node.address, usdc, 1);
    accounts.token_program = iomesh::ID;
    s.refused(
        &[ix(accounts, create_args(1, 1, HOUR))],
        &[],
        0,
        AnchorError::InvalidProgramId,
        // the guard sits on `token_program`
    )
    .await;
    assert!(s.env.lease(lease_pda(&attacker, 1)).await.is_none());
}

// ================================================================== 11. settling twice

#[tokio::test]
async fn no_second_is_paid_twice() {
    let mut s = Scene::new(true).await;
    let state = s.env.lease(s.lease).await.unwrap();
    let paid = |secs: i64| -> u64 {
        (u128::from(state.rate_per_gpu_hour) * u128::from(state.gpus) * secs as u128 / 3_600) as u64
    };

    // Ten minutes in: the first settlement pays them.
    s.env.settle(s.lease).await.unwrap();
    let after_first = s.env.lease(s.lease).await.unwrap();
    let elapsed = after_first.settled_until - state.activated_at;
    assert_eq!(elapsed, 600);
    assert_eq!(after_first.paid_out, paid(elapsed));
    let vault_after_first = s.env.balance(s.a.mint.vault()).await;
    assert_eq!(vault_after_first, state.deposited - paid(elapsed));

    // Again, the clock unmoved: nothing accrued, nothing paid.
    let again = settle(&s.a);
    s.refused(&[again], &[], 0, IomeshError::NothingToSettle)
        .await;

    // Two settlements in one transaction after the clock moves: the second
    // finds nothing to pay, and the whole transaction (the first too) is undone.
    s.env.warp(60).await;
    let ixs = [settle(&s.a), settle(&s.a)];
    let before = s.snapshot().await;
    let sent = s.attack(&ixs, &[]).await;
    assert_error_at(&sent.result, 1, IomeshError::NothingToSettle);
    s.assert_unchanged(&before).await;

    // One settlement pays exactly the 60 new seconds.
    s.env.settle(s.lease).await.unwrap();
    let after_second = s.env.lease(s.lease).await.unwrap();
    assert_eq!(after_second.settled_until, after_first.settled_until + 60);
    assert_eq!(after_second.paid_out, paid(660));
    assert_eq!(
        s.env.balance(s.a.mint.vault()).await,
        state.deposited - paid(660)
    );
}

// ================================================================== 12. blocking creation by prefunding

/// Anyone can send lamports to an address before it is created. That must not
/// block the market, a payment mint, its vault, a node or a lease from being
/// created there (a plain CreateAccount would fail on such an address).
#[tokio::test]
async fn prefunded_addresses_cannot_block_account_creation() {
    let mut env = TestEnv::bare().await;
    // Less than rent exemption, so the program must top the account up.
    let dust = 1_000_000;
    env.airdrop(&market_pda(), dust).await;
    env.init_market().await.unwrap();
    assert_eq!(env.market().await.authority, env.keys.authority.pubkey());
    assert_eq!(
        env.lamports(market_pda()).await,
        env.rent_exempt(Market::SPACE).await
    );

    for token_program in [spl_token::ID, spl_token_2022::ID] {
        let mint = env.create_mint(token_program).await;
        env.airdrop(&payment_mint_pda(&mint.mint), dust).await;
        // More than rent exemption: nothing to top up, still allocated and assigned.
        env.airdrop(&mint.vault(), 10_000_000).await;
        env.add_payment_mint(mint, PriceSource::Stable, 0, 10, "USD")
            .await
            .unwrap();
        let payment_mint = env.payment_mint(&mint).await;
        assert_eq!(payment_mint.vault, mint.vault());
        let vault = env
            .ctx
            .banks_client
            .get_account(mint.vault())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            vault.owner, token_program,
            "vault belongs to the token program"
        );
        env.usdc = mint;
        env.io = mint;
        env.iosd = mint;
        env.create_ata(&env.keys.treasury.pubkey(), mint).await;

        // A node whose address was prefunded.
        let owner = env.wallet().await;
        let operator = Keypair::new();
        env.airdrop(&node_pda(&operator.pubkey()), dust).await;
        let register = ix(
            acc::RegisterNode {
                market: market_pda(),
                node: node_pda(&operator.pubkey()),
                owner: owner.pubkey(),
                operator: operator.pubkey(),
                system_program: anchor_lang::system_program::ID,
            },
            args::RegisterNode {
                spec: TestEnv::node_spec(2, 1_000_000),
            },
        );
        env.send(&[register], &[&owner, &operator]).await.unwrap();
        env.create_ata(&owner.pubkey(), mint).await;
        let node = TestNode {
            address: node_pda(&operator.pubkey()),
            owner,
            operator,
        };

        // A lease whose address was prefunded; it still lives its whole life.
        let renter = env.wallet().await;
        env.fund(&renter.pubkey(), mint, 10 * TOKEN).await;
        env.airdrop(&lease_pda(&renter.pubkey(), 9), dust).await;
        let lease = env
            .create_lease(LeaseRequest::new(&renter, &node, mint, 9))
            .await
            .unwrap();
        assert_eq!(env.balance(mint.vault()).await, TOKEN);
        env.activate(lease, &node).await.unwrap();
        env.warp(i64::from(HOUR)).await;
        env.close(lease).await.unwrap();
        assert!(env.lease(lease).await.is_none());
        assert_eq!(env.balance(mint.vault()).await, 0);
    }
}
