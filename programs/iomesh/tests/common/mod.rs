//! Test fixture: the iomesh program hosted natively in a real bank next to the
//! real SPL Token, Token-2022 and Associated Token Account programs, with a
//! market, three payment mints (IO, USDC on SPL Token; IOSD on Token-2022),
//! and helpers to register nodes, fund wallets and drive leases in a line.
#![allow(dead_code)]

use anchor_lang::{prelude::*, AccountDeserialize, InstructionData, ToAccountMetas};
use anchor_spl::{
    associated_token::{
        get_associated_token_address_with_program_id, spl_associated_token_account,
    },
    token::spl_token,
    token_2022::spl_token_2022,
};
use iomesh::{accounts as acc, instruction as args, seeds, state::*};
use solana_keypair::Keypair;
use solana_program_test::{ProgramTest, ProgramTestContext};
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;
use std::collections::HashSet;

pub use anchor_lang::solana_program::instruction::Instruction;
pub use solana_instruction_error::InstructionError;

pub const DECIMALS: u8 = 6;
/// One whole token in base units (all fixture mints have 6 decimals).
pub const TOKEN: u64 = 1_000_000;
pub const HOUR: u32 = 3_600;
pub const IO_PRICE_MICROS: u64 = 500_000; // $0.50
pub const IO_FEE_BPS: u16 = 25;
pub const USDC_FEE_BPS: u16 = 200;
pub const IOSD_FEE_BPS: u16 = 0;
pub const ACTIVATION_TIMEOUT: u32 = 600;
pub const MARKET_MIN_LEASE: u32 = 60;
pub const MARKET_MAX_LEASE: u32 = 30 * 24 * HOUR;

pub fn program_test() -> ProgramTest {
    let mut test = ProgramTest::new(
        "iomesh",
        iomesh::ID,
        iomesh_native_host::checked_processor!(
            iomesh::native::process_instruction,
            iomesh::compute::estimated_units
        ),
    );
    test.prefer_bpf(false);
    test
}

/// An Anchor instruction from its accounts struct and its args.
pub fn ix(accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
    Instruction {
        program_id: iomesh::ID,
        accounts: accounts.to_account_metas(None),
        data: data.data(),
    }
}

pub fn market_pda() -> Pubkey {
    Pubkey::find_program_address(&[seeds::MARKET], &iomesh::ID).0
}
pub fn payment_mint_pda(mint: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[seeds::PAYMENT_MINT, mint.as_ref()], &iomesh::ID).0
}
pub fn vault_pda(mint: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[seeds::VAULT, mint.as_ref()], &iomesh::ID).0
}
pub fn node_pda(operator: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[seeds::NODE, operator.as_ref()], &iomesh::ID).0
}
pub fn lease_pda(renter: &Pubkey, nonce: u64) -> Pubkey {
    Pubkey::find_program_address(
        &[seeds::LEASE, renter.as_ref(), &nonce.to_le_bytes()],
        &iomesh::ID,
    )
    .0
}

/// The custom error code a program error maps to (Anchor's and iomesh's alike).
pub fn code(error: impl Into<u32>) -> u32 {
    error.into()
}

/// Asserts a transaction failed with exactly `expected` as its custom error code.
#[track_caller]
pub fn assert_error(result: std::result::Result<(), TransactionError>, expected: impl Into<u32>) {
    let expected = expected.into();
    match result {
        Err(TransactionError::InstructionError(_, InstructionError::Custom(actual))) => {
            assert_eq!(
                actual, expected,
                "expected custom error {expected}, got {actual}"
            )
        }
        other => panic!("expected custom error {expected}, got {other:?}"),
    }
}

/// Asserts a transaction failed with a specific non-custom instruction error.
#[track_caller]
pub fn assert_instruction_error(
    result: std::result::Result<(), TransactionError>,
    expected: InstructionError,
) {
    match result {
        Err(TransactionError::InstructionError(_, actual)) => assert_eq!(actual, expected),
        other => panic!("expected {expected:?}, got {other:?}"),
    }
}

pub fn default_params(env_keys: &MarketKeys) -> MarketParams {
    MarketParams {
        treasury: env_keys.treasury.pubkey(),
        scheduler_authority: env_keys.scheduler.pubkey(),
        price_authority: env_keys.price_authority.pubkey(),
        reward_authority: env_keys.authority.pubkey(),
        activation_timeout_secs: ACTIVATION_TIMEOUT,
        min_lease_secs: MARKET_MIN_LEASE,
        max_lease_secs: MARKET_MAX_LEASE,
        failure_grace_secs: 120,
    }
}

pub struct MarketKeys {
    pub authority: Keypair,
    pub treasury: Keypair,
    pub scheduler: Keypair,
    pub price_authority: Keypair,
}

/// A payment mint of the fixture.
#[derive(Clone, Copy, Debug)]
pub struct TestMint {
    pub mint: Pubkey,
    pub token_program: Pubkey,
}

impl TestMint {
    pub fn ata(&self, owner: &Pubkey) -> Pubkey {
        get_associated_token_address_with_program_id(owner, &self.mint, &self.token_program)
    }
    pub fn vault(&self) -> Pubkey {
        vault_pda(&self.mint)
    }
}

pub struct TestNode {
    pub owner: Keypair,
    pub operator: Keypair,
    pub address: Pubkey,
}

pub struct LeaseRequest<'a> {
    pub renter: &'a Keypair,
    pub payer: Option<&'a Keypair>,
    pub node: Pubkey,
    pub mint: TestMint,
    pub nonce: u64,
    pub gpus: u16,
    pub duration_secs: u32,
    pub max_price_per_gpu_hour: u64,
}

impl<'a> LeaseRequest<'a> {
    /// `renter` pays for one GPU of `node` for an hour, in `mint`, with no price guard.
    pub fn new(renter: &'a Keypair, node: &TestNode, mint: TestMint, nonce: u64) -> Self {
        LeaseRequest {
            renter,
            payer: None,
            node: node.address,
            mint,
            nonce,
            gpus: 1,
            duration_secs: HOUR,
            max_price_per_gpu_hour: u64::MAX,
        }
    }
    pub fn gpus(self, gpus: u16) -> Self {
        LeaseRequest { gpus, ..self }
    }
    pub fn for_secs(self, duration_secs: u32) -> Self {
        LeaseRequest {
            duration_secs,
            ..self
        }
    }
}

pub fn job_hash(nonce: u64) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(format!("{{\"image\":\"pytorch\",\"nonce\":{nonce}}}")).into()
}

pub struct TestEnv {
    pub ctx: ProgramTestContext,
    pub keys: MarketKeys,
    pub io: TestMint,
    pub usdc: TestMint,
    pub iosd: TestMint,
    seen: HashSet<[u8; 64]>,
    uniquifier: u32,
}

impl TestEnv {
    /// The program and SPL programs, with funded market keys but no market yet.
    pub async fn bare() -> Self {
        let ctx = program_test().start_with_context().await;
        iomesh_native_host::install_cpi_checks();
        let keys = MarketKeys {
            authority: Keypair::new(),
            treasury: Keypair::new(),
            scheduler: Keypair::new(),
            price_authority: Keypair::new(),
        };
        let placeholder = TestMint {
            mint: Pubkey::default(),
            token_program: spl_token::ID,
        };
        let mut env = TestEnv {
            ctx,
            keys,
            io: placeholder,
            usdc: placeholder,
            iosd: placeholder,
            seen: HashSet::new(),
            uniquifier: 0,
        };
        for key in [
            env.keys.authority.pubkey(),
            env.keys.scheduler.pubkey(),
            env.keys.price_authority.pubkey(),
        ] {
            env.airdrop(&key, 10_000_000_000).await;
        }
        env
    }

    /// A market with IO (authority-priced, SPL Token), USDC (stable, SPL Token)
    /// and IOSD (stable, Token-2022), and treasury token accounts for all three.
    pub async fn new() -> Self {
        let mut env = Self::bare().await;
        env.init_market().await.expect("initialize market");
        env.io = env.create_mint(spl_token::ID).await;
        env.usdc = env.create_mint(spl_token::ID).await;
        env.iosd = env.create_mint(spl_token_2022::ID).await;
        let (io, usdc, iosd) = (env.io, env.usdc, env.iosd);
        env.add_payment_mint(
            io,
            PriceSource::Authority,
            IO_PRICE_MICROS,
            IO_FEE_BPS,
            "IO",
        )
        .await
        .expect("add IO");
        env.add_payment_mint(usdc, PriceSource::Stable, 0, USDC_FEE_BPS, "USDC")
            .await
            .expect("add USDC");
        env.add_payment_mint(iosd, PriceSource::Stable, 0, IOSD_FEE_BPS, "IOSD")
            .await
            .expect("add IOSD");
        let treasury = env.keys.treasury.pubkey();
        for mint in [io, usdc, iosd] {
            env.create_ata(&treasury, mint).await;
        }
        env
    }

    pub fn payer(&self) -> Keypair {
        self.ctx.payer.insecure_clone()
    }

    /// Signs with the fixture payer (fees) plus `signers` and processes the transaction.
    pub async fn send(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> std::result::Result<(), TransactionError> {
        let payer = self.payer();
        self.refresh_blockhash().await;
        let tx = self.sign_unique(&payer, instructions, signers);
        self.ctx
            .banks_client
            .process_transaction(tx)
            .await
            .map_err(|e| e.unwrap())
    }

    pub async fn airdrop(&mut self, to: &Pubkey, lamports: u64) {
        let payer = self.payer();
        let transfer =
            solana_system_interface::instruction::transfer(&payer.pubkey(), to, lamports);
        self.send(&[transfer], &[]).await.expect("airdrop");
    }

    /// A new wallet with 10 SOL.
    pub async fn wallet(&mut self) -> Keypair {
        let wallet = Keypair::new();
        self.airdrop(&wallet.pubkey(), 10_000_000_000).await;
        wallet
    }

    // ---------------------------------------------------------------- clock

    pub async fn clock(&mut self) -> Clock {
        self.ctx
            .banks_client
            .get_sysvar::<Clock>()
            .await
            .expect("clock")
    }

    pub async fn now(&mut self) -> i64 {
        self.clock().await.unix_timestamp
    }

    /// Moves the bank's clock forward by `secs` seconds (and one slot).
    pub async fn warp(&mut self, secs: i64) {
        let mut clock = self.clock().await;
        clock.unix_timestamp += secs;
        self.ctx.set_sysvar(&clock);
    }

    // ---------------------------------------------------------------- accounts

    pub async fn account_data(&mut self, address: Pubkey) -> Option<Vec<u8>> {
        self.ctx
            .banks_client
            .get_account(address)
            .await
            .expect("get_account")
            .filter(|a| a.lamports > 0)
            .map(|a| a.data)
    }

    /// Lamports that keep an account of `space` bytes rent-exempt.
    pub async fn rent_exempt(&mut self, space: usize) -> u64 {
        self.ctx
            .banks_client
            .get_rent()
            .await
            .expect("rent")
            .minimum_balance(space)
    }

    pub async fn lamports(&mut self, address: Pubkey) -> u64 {
        self.ctx
            .banks_client
            .get_balance(address)
            .await
            .expect("balance")
    }

    pub async fn fetch<T: AccountDeserialize>(&mut self, address: Pubkey) -> Option<T> {
        let data = self.account_data(address).await?;
        Some(T::try_deserialize(&mut data.as_slice()).expect("decode account"))
    }

    pub async fn market(&mut self) -> Market {
        self.fetch(market_pda()).await.expect("market exists")
    }
    pub async fn node(&mut self, address: Pubkey) -> Node {
        self.fetch(address).await.expect("node exists")
    }
    pub async fn lease(&mut self, address: Pubkey) -> Option<Lease> {
        self.fetch(address).await
    }
    pub async fn payment_mint(&mut self, mint: &TestMint) -> PaymentMint {
        self.fetch(payment_mint_pda(&mint.mint))
            .await
            .expect("payment mint exists")
    }

    /// Token balance of a token account (0 when it does not exist).
    pub async fn balance(&mut self, token_account: Pubkey) -> u64 {
        match self.account_data(token_account).await {
            // amount sits at bytes 64..72 in both SPL Token and Token-2022 accounts
            Some(data) => u64::from_le_bytes(data[64..72].try_into().unwrap()),
            None => 0,
        }
    }

    // ---------------------------------------------------------------- market

    pub async fn init_market(&mut self) -> std::result::Result<(), TransactionError> {
        let params = default_params(&self.keys);
        let authority = self.keys.authority.insecure_clone();
        let ix = ix(
            acc::InitializeMarket {
                market: market_pda(),
                authority: authority.pubkey(),
                system_program: anchor_lang::system_program::ID,
            },
            args::InitializeMarket { params },
        );
        self.send(&[ix], &[&authority]).await
    }

    /// A mint with 6 decimals whose mint authority is the market authority.
    pub async fn create_mint(&mut self, token_program: Pubkey) -> TestMint {
        self.create_mint_with(token_program, None).await
    }

    /// Like `create_mint`, with a freeze authority (as USDC has one).
    pub async fn create_mint_with(
        &mut self,
        token_program: Pubkey,
        freeze_authority: Option<&Pubkey>,
    ) -> TestMint {
        let mint = Keypair::new();
        let payer = self.payer();
        // A mint without extensions is 82 bytes in both token programs.
        let space = 82;
        let rent = self.rent_exempt(space).await;
        let create = solana_system_interface::instruction::create_account(
            &payer.pubkey(),
            &mint.pubkey(),
            rent,
            space as u64,
            &token_program,
        );
        let init = spl_token_2022::instruction::initialize_mint2(
            &token_program,
            &mint.pubkey(),
            &self.keys.authority.pubkey(),
            freeze_authority,
            DECIMALS,
        )
        .unwrap();
        self.send(&[create, init], &[&mint])
            .await
            .expect("create mint");
        TestMint {
            mint: mint.pubkey(),
            token_program,
        }
    }

    pub fn add_payment_mint_ix(
        &self,
        mint: TestMint,
        price_source: PriceSource,
        usd_price_micros: u64,
        fee_bps: u16,
        symbol: &str,
    ) -> Instruction {
        ix(
            acc::AddPaymentMint {
                market: market_pda(),
                payment_mint: payment_mint_pda(&mint.mint),
                mint: mint.mint,
                vault: mint.vault(),
                authority: self.keys.authority.pubkey(),
                token_program: mint.token_program,
                system_program: anchor_lang::system_program::ID,
            },
            args::AddPaymentMint {
                args: iomesh::AddPaymentMintArgs {
                    fee_bps,
                    price_source,
                    usd_price_micros,
                    max_price_age_secs: 3_600,
                    symbol: symbol.to_string(),
                },
            },
        )
    }

    pub async fn add_payment_mint(
        &mut self,
        mint: TestMint,
        price_source: PriceSource,
        usd_price_micros: u64,
        fee_bps: u16,
        symbol: &str,
    ) -> std::result::Result<(), TransactionError> {
        let ix = self.add_payment_mint_ix(mint, price_source, usd_price_micros, fee_bps, symbol);
        let authority = self.keys.authority.insecure_clone();
        self.send(&[ix], &[&authority]).await
    }

    pub async fn set_io_price(
        &mut self,
        usd_price_micros: u64,
    ) -> std::result::Result<(), TransactionError> {
        let price_authority = self.keys.price_authority.insecure_clone();
        let ix = ix(
            acc::SetMintPrice {
                market: market_pda(),
                payment_mint: payment_mint_pda(&self.io.mint),
                price_authority: price_authority.pubkey(),
            },
            args::SetMintPrice { usd_price_micros },
        );
        self.send(&[ix], &[&price_authority]).await
    }

    pub async fn set_paused(&mut self, paused: bool) -> std::result::Result<(), TransactionError> {
        let authority = self.keys.authority.insecure_clone();
        let ix = ix(
            acc::MarketAdmin {
                market: market_pda(),
                authority: authority.pubkey(),
            },
            args::SetPaused { paused },
        );
        self.send(&[ix], &[&authority]).await
    }

    // ---------------------------------------------------------------- tokens

    pub async fn create_ata(&mut self, owner: &Pubkey, mint: TestMint) -> Pubkey {
        let payer = self.payer();
        let create =
            spl_associated_token_account::instruction::create_associated_token_account_idempotent(
                &payer.pubkey(),
                owner,
                &mint.mint,
                &mint.token_program,
            );
        self.send(&[create], &[]).await.expect("create ATA");
        mint.ata(owner)
    }

    /// Creates `owner`'s associated token account if needed and mints `amount` into it.
    pub async fn fund(&mut self, owner: &Pubkey, mint: TestMint, amount: u64) -> Pubkey {
        let ata = self.create_ata(owner, mint).await;
        let mint_to = spl_token_2022::instruction::mint_to(
            &mint.token_program,
            &mint.mint,
            &ata,
            &self.keys.authority.pubkey(),
            &[],
            amount,
        )
        .unwrap();
        let authority = self.keys.authority.insecure_clone();
        self.send(&[mint_to], &[&authority]).await.expect("mint to");
        ata
    }

    // ---------------------------------------------------------------- nodes

    pub fn node_spec(gpu_count: u16, price_usd_micros_per_gpu_hour: u64) -> iomesh::NodeSpec {
        iomesh::NodeSpec {
            gpu_model: "RTX 4090".into(),
            gpu_count,
            vram_mib: 24_576,
            region: "eu-west".into(),
            price_usd_micros_per_gpu_hour,
            min_lease_secs: MARKET_MIN_LEASE,
            max_lease_secs: 7 * 24 * HOUR,
        }
    }

    pub async fn register_node_with(
        &mut self,
        spec: iomesh::NodeSpec,
    ) -> std::result::Result<TestNode, TransactionError> {
        let owner = self.wallet().await;
        let operator = Keypair::new();
        let address = node_pda(&operator.pubkey());
        let ix = ix(
            acc::RegisterNode {
                market: market_pda(),
                node: address,
                owner: owner.pubkey(),
                operator: operator.pubkey(),
                system_program: anchor_lang::system_program::ID,
            },
            args::RegisterNode { spec },
        );
        self.send(&[ix], &[&owner, &operator]).await?;
        // Suppliers and the treasury hold token accounts for every accepted mint.
        for mint in [self.io, self.usdc, self.iosd] {
            self.create_ata(&owner.pubkey(), mint).await;
        }
        Ok(TestNode {
            owner,
            operator,
            address,
        })
    }

    /// A node with `gpus` RTX 4090s at $2.00 per GPU-hour.
    pub async fn register_node(&mut self, gpus: u16) -> TestNode {
        self.register_node_with(Self::node_spec(gpus, 2_000_000))
            .await
            .expect("register node")
    }

    // ---------------------------------------------------------------- leases

    pub fn create_lease_ix(&self, request: &LeaseRequest<'_>) -> Instruction {
        self.create_lease_ix_in(request, None)
    }

    /// `create_lease`, joining `cluster` when given.
    pub fn create_lease_ix_in(
        &self,
        request: &LeaseRequest<'_>,
        cluster: Option<Pubkey>,
    ) -> Instruction {
        self.create_lease_ix_full(request, cluster, None)
    }

    /// `create_lease`, joining `cluster` and reading the oracle `price_update` when given.
    pub fn create_lease_ix_full(
        &self,
        request: &LeaseRequest<'_>,
        cluster: Option<Pubkey>,
        price_update: Option<Pubkey>,
    ) -> Instruction {
        let payer = request.payer.unwrap_or(request.renter).pubkey();
        ix(
            acc::CreateLease {
                market: market_pda(),
                payment_mint: payment_mint_pda(&request.mint.mint),
                mint: request.mint.mint,
                vault: request.mint.vault(),
                node: request.node,
                lease: lease_pda(&request.renter.pubkey(), request.nonce),
                payer_token_account: request.mint.ata(&payer),
                cluster,
                price_update,
                renter: request.renter.pubkey(),
                payer,
                token_program: request.mint.token_program,
                system_program: anchor_lang::system_program::ID,
            },
            args::CreateLease {
                args: iomesh::CreateLeaseArgs {
                    nonce: request.nonce,
                    gpus: request.gpus,
                    duration_secs: request.duration_secs,
                    max_price_per_gpu_hour: request.max_price_per_gpu_hour,
                    job_spec_hash: job_hash(request.nonce),
                },
            },
        )
    }

    pub async fn create_lease(
        &mut self,
        request: LeaseRequest<'_>,
    ) -> std::result::Result<Pubkey, TransactionError> {
        let ix = self.create_lease_ix(&request);
        let renter = request.renter.insecure_clone();
        match request.payer {
            Some(payer) => {
                let payer = payer.insecure_clone();
                self.send(&[ix], &[&renter, &payer]).await?
            }
            None => self.send(&[ix], &[&renter]).await?,
        }
        Ok(lease_pda(&renter.pubkey(), request.nonce))
    }

    /// A renter funded with 1,000 tokens of `mint` leasing `gpus` GPUs on `node` for `secs`.
    pub async fn simple_lease(
        &mut self,
        node: &TestNode,
        mint: TestMint,
        gpus: u16,
        secs: u32,
    ) -> (Keypair, Pubkey) {
        self.funded_lease(node, mint, gpus, secs, 1_000 * TOKEN)
            .await
            .expect("create lease")
    }

    pub fn activate_ix(&self, lease: Pubkey, node: Pubkey, operator: Pubkey) -> Instruction {
        ix(
            acc::ActivateLease {
                market: market_pda(),
                lease,
                node,
                cluster: None,
                operator,
            },
            args::ActivateLease {},
        )
    }

    pub async fn activate(
        &mut self,
        lease: Pubkey,
        node: &TestNode,
    ) -> std::result::Result<(), TransactionError> {
        let ix = self.activate_ix(lease, node.address, node.operator.pubkey());
        let operator = node.operator.insecure_clone();
        self.send(&[ix], &[&operator]).await
    }

    /// Addresses a settlement or ending instruction needs, read from the lease and node.
    pub async fn lease_accounts(&mut self, lease: Pubkey) -> LeaseAccounts {
        let state = self.lease(lease).await.expect("lease exists");
        let node = self.node(state.node).await;
        let mint = [self.io, self.usdc, self.iosd]
            .into_iter()
            .find(|m| m.mint == state.mint)
            .expect("fixture mint");
        LeaseAccounts {
            lease,
            node: state.node,
            mint,
            node_owner: node.owner,
            supplier: mint.ata(&node.owner),
            treasury: mint.ata(&self.keys.treasury.pubkey()),
            payer: state.payer,
            payer_token_account: mint.ata(&state.payer),
            cluster: state
                .in_cluster
                .then(|| cluster_pda(&state.renter, state.cluster_nonce)),
        }
    }

    pub fn settle_ix(&self, a: &LeaseAccounts) -> Instruction {
        ix(a.settle_accounts(), args::SettleLease {})
    }

    pub fn close_ix(&self, a: &LeaseAccounts) -> Instruction {
        ix(a.close_accounts(), args::CloseLease {})
    }

    pub fn cancel_ix(
        &self,
        a: &LeaseAccounts,
        renter: Pubkey,
        with_payout_accounts: bool,
    ) -> Instruction {
        a.with_cluster(ix(
            a.cancel_accounts(renter, with_payout_accounts),
            args::CancelLease {},
        ))
    }

    pub fn report_failure_ix(&self, a: &LeaseAccounts, failed_at: i64) -> Instruction {
        ix(
            a.report_failure_accounts(self.keys.scheduler.pubkey()),
            args::ReportFailure { failed_at },
        )
    }

    pub fn expire_ix(&self, a: &LeaseAccounts) -> Instruction {
        a.with_cluster(ix(a.expire_accounts(), args::ExpireLease {}))
    }

    pub fn extend_ix(&self, a: &LeaseAccounts, funder: Pubkey, added_secs: u32) -> Instruction {
        ix(
            acc::ExtendLease {
                market: market_pda(),
                lease: a.lease,
                node: a.node,
                mint: a.mint.mint,
                vault: a.mint.vault(),
                funder_token_account: a.mint.ata(&funder),
                funder,
                token_program: a.mint.token_program,
            },
            args::ExtendLease { added_secs },
        )
    }

    pub async fn settle(&mut self, lease: Pubkey) -> std::result::Result<(), TransactionError> {
        let a = self.lease_accounts(lease).await;
        let ix = self.settle_ix(&a);
        self.send(&[ix], &[]).await
    }

    pub async fn close(&mut self, lease: Pubkey) -> std::result::Result<(), TransactionError> {
        let a = self.lease_accounts(lease).await;
        let ix = self.close_ix(&a);
        self.send(&[ix], &[]).await
    }

    pub async fn cancel(
        &mut self,
        lease: Pubkey,
        renter: &Keypair,
    ) -> std::result::Result<(), TransactionError> {
        let a = self.lease_accounts(lease).await;
        let ix = self.cancel_ix(&a, renter.pubkey(), true);
        self.send(&[ix], &[renter]).await
    }

    pub async fn report_failure(
        &mut self,
        lease: Pubkey,
        failed_at: i64,
    ) -> std::result::Result<(), TransactionError> {
        let a = self.lease_accounts(lease).await;
        let ix = self.report_failure_ix(&a, failed_at);
        let scheduler = self.keys.scheduler.insecure_clone();
        self.send(&[ix], &[&scheduler]).await
    }

    pub async fn expire(&mut self, lease: Pubkey) -> std::result::Result<(), TransactionError> {
        let a = self.lease_accounts(lease).await;
        let ix = self.expire_ix(&a);
        self.send(&[ix], &[]).await
    }

    pub async fn extend(
        &mut self,
        lease: Pubkey,
        funder: &Keypair,
        added_secs: u32,
    ) -> std::result::Result<(), TransactionError> {
        let a = self.lease_accounts(lease).await;
        let ix = self.extend_ix(&a, funder.pubkey(), added_secs);
        self.send(&[ix], &[funder]).await
    }
}

/// Everything an instruction that pays out of or ends a lease touches.
#[derive(Clone, Copy, Debug)]
pub struct LeaseAccounts {
    pub lease: Pubkey,
    pub node: Pubkey,
    pub mint: TestMint,
    pub node_owner: Pubkey,
    pub supplier: Pubkey,
    pub treasury: Pubkey,
    pub payer: Pubkey,
    pub payer_token_account: Pubkey,
    /// The lease's cluster, passed after the named accounts when a pending lease ends.
    pub cluster: Option<Pubkey>,
}

impl LeaseAccounts {
    /// Appends the cluster (writable) to an instruction that ends the lease.
    pub fn with_cluster(&self, mut instruction: Instruction) -> Instruction {
        if let Some(cluster) = self.cluster {
            instruction.accounts.push(AccountMeta::new(cluster, false));
        }
        instruction
    }

    /// Where the supplier's payouts are kept when its token account cannot take them.
    pub fn supplier_credit(&self) -> Pubkey {
        credit_pda(&self.mint.vault(), &self.node_owner)
    }

    /// Where the payer's refunds are kept when its token account cannot take them.
    pub fn payer_credit(&self) -> Pubkey {
        credit_pda(&self.mint.vault(), &self.payer)
    }

    pub fn settle_accounts(&self) -> acc::SettleLease {
        acc::SettleLease {
            market: market_pda(),
            lease: self.lease,
            node: self.node,
            mint: self.mint.mint,
            payment_mint: payment_mint_pda(&self.mint.mint),
            vault: self.mint.vault(),
            supplier_token_account: self.supplier,
            treasury_token_account: self.treasury,
            supplier_credit: self.supplier_credit(),
            token_program: self.mint.token_program,
        }
    }

    pub fn close_accounts(&self) -> acc::CloseLease {
        acc::CloseLease {
            market: market_pda(),
            lease: self.lease,
            node: self.node,
            mint: self.mint.mint,
            payment_mint: payment_mint_pda(&self.mint.mint),
            vault: self.mint.vault(),
            supplier_token_account: self.supplier,
            treasury_token_account: self.treasury,
            payer_token_account: self.payer_token_account,
            supplier_credit: self.supplier_credit(),
            payer_credit: self.payer_credit(),
            payer: self.payer,
            token_program: self.mint.token_program,
            system_program: anchor_lang::system_program::ID,
        }
    }

    /// Cancelling a pending lease needs no payout accounts; `with_payout_accounts` leaves them out.
    pub fn cancel_accounts(&self, renter: Pubkey, with_payout_accounts: bool) -> acc::CancelLease {
        acc::CancelLease {
            market: market_pda(),
            lease: self.lease,
            node: self.node,
            mint: self.mint.mint,
            payment_mint: payment_mint_pda(&self.mint.mint),
            vault: self.mint.vault(),
            supplier_token_account: with_payout_accounts.then_some(self.supplier),
            treasury_token_account: with_payout_accounts.then_some(self.treasury),
            payer_token_account: self.payer_token_account,
            supplier_credit: self.supplier_credit(),
            payer_credit: self.payer_credit(),
            payer: self.payer,
            renter,
            token_program: self.mint.token_program,
            system_program: anchor_lang::system_program::ID,
        }
    }

    pub fn report_failure_accounts(&self, scheduler_authority: Pubkey) -> acc::ReportFailure {
        acc::ReportFailure {
            market: market_pda(),
            lease: self.lease,
            node: self.node,
            mint: self.mint.mint,
            payment_mint: payment_mint_pda(&self.mint.mint),
            vault: self.mint.vault(),
            supplier_token_account: self.supplier,
            treasury_token_account: self.treasury,
            payer_token_account: self.payer_token_account,
            supplier_credit: self.supplier_credit(),
            payer_credit: self.payer_credit(),
            payer: self.payer,
            scheduler_authority,
            token_program: self.mint.token_program,
            system_program: anchor_lang::system_program::ID,
        }
    }

    pub fn expire_accounts(&self) -> acc::ExpireLease {
        acc::ExpireLease {
            market: market_pda(),
            lease: self.lease,
            node: self.node,
            mint: self.mint.mint,
            vault: self.mint.vault(),
            payer_token_account: self.payer_token_account,
            payer_credit: self.payer_credit(),
            payer: self.payer,
            token_program: self.mint.token_program,
            system_program: anchor_lang::system_program::ID,
        }
    }
}

impl TestEnv {
    /// What the program keeps for `owner` out of `vault`, if anything was ever kept.
    pub async fn credit(&mut self, vault: Pubkey, owner: &Pubkey) -> Option<Credit> {
        self.fetch(credit_pda(&vault, owner)).await
    }

    /// `owner` takes its credit out of `mint`'s vault into `destination`.
    pub fn withdraw_credit_ix(
        &self,
        owner: Pubkey,
        vault: Pubkey,
        mint: TestMint,
        destination: Pubkey,
    ) -> Instruction {
        ix(
            acc::WithdrawCredit {
                market: market_pda(),
                credit: credit_pda(&vault, &owner),
                vault,
                mint: mint.mint,
                destination,
                owner,
                token_program: mint.token_program,
            },
            args::WithdrawCredit {},
        )
    }

    pub fn close_credit_ix(&self, credit: Pubkey, rent_payer: Pubkey) -> Instruction {
        ix(
            acc::CloseCredit { credit, rent_payer },
            args::CloseCredit {},
        )
    }

    pub fn sweep_fees_ix(&self, mint: TestMint) -> Instruction {
        ix(
            acc::SweepFees {
                market: market_pda(),
                mint: mint.mint,
                payment_mint: payment_mint_pda(&mint.mint),
                vault: mint.vault(),
                treasury_token_account: mint.ata(&self.keys.treasury.pubkey()),
                token_program: mint.token_program,
            },
            args::SweepFees {},
        )
    }
}

/// `["credit", vault, owner]`: what the program keeps for `owner` out of `vault`.
pub fn credit_pda(vault: &Pubkey, owner: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(
        &[seeds::CREDIT, vault.as_ref(), owner.as_ref()],
        &iomesh::ID,
    )
    .0
}

// ---------------------------------------------------------------- pricing rules
//
// The pricing rules restated independently of `iomesh::math`, so tests check
// the program against the specification rather than against itself.

/// Mint base units per GPU-hour: ceil(usd_micros_per_gpu_hour × 10^decimals / token_usd_micros).
pub fn expected_rate(usd_micros_per_gpu_hour: u64, token_usd_micros: u64, decimals: u8) -> u64 {
    let numerator = u128::from(usd_micros_per_gpu_hour) * 10u128.pow(u32::from(decimals));
    u64::try_from(numerator.div_ceil(u128::from(token_usd_micros))).unwrap()
}

/// Escrow for `secs` seconds on `gpus` GPUs: ceil(rate × gpus × secs / 3600).
pub fn expected_deposit(rate: u64, gpus: u16, secs: u64) -> u64 {
    let numerator = u128::from(rate) * u128::from(gpus) * u128::from(secs);
    u64::try_from(numerator.div_ceil(3_600)).unwrap()
}

/// Earned after `elapsed` seconds of service: floor(rate × gpus × elapsed / 3600).
pub fn expected_accrued(rate: u64, gpus: u16, elapsed: u64) -> u64 {
    let numerator = u128::from(rate) * u128::from(gpus) * u128::from(elapsed);
    u64::try_from(numerator / 3_600).unwrap()
}

/// The network's share of a payout: floor(payout × fee_bps / 10000).
pub fn expected_fee(payout: u64, fee_bps: u16) -> u64 {
    u64::try_from(u128::from(payout) * u128::from(fee_bps) / 10_000).unwrap()
}

/// The lease accounts of a lease in any mint (`lease_accounts` only knows the fixture mints).
pub fn lease_accounts_in(
    lease: Pubkey,
    node: Pubkey,
    node_owner: &Pubkey,
    mint: TestMint,
    treasury: &Pubkey,
    payer: &Pubkey,
) -> LeaseAccounts {
    LeaseAccounts {
        lease,
        node,
        mint,
        node_owner: *node_owner,
        supplier: mint.ata(node_owner),
        treasury: mint.ata(treasury),
        payer: *payer,
        payer_token_account: mint.ata(payer),
        cluster: None,
    }
}

impl TestEnv {
    /// Sets the USD price of any authority-priced mint, signed by the price authority.
    pub async fn set_mint_price(
        &mut self,
        mint: TestMint,
        usd_price_micros: u64,
    ) -> std::result::Result<(), TransactionError> {
        let price_authority = self.keys.price_authority.insecure_clone();
        let ix = ix(
            acc::SetMintPrice {
                market: market_pda(),
                payment_mint: payment_mint_pda(&mint.mint),
                price_authority: price_authority.pubkey(),
            },
            args::SetMintPrice { usd_price_micros },
        );
        self.send(&[ix], &[&price_authority]).await
    }

    pub fn update_payment_mint_ix(
        &self,
        mint: TestMint,
        authority: Pubkey,
        args: iomesh::UpdatePaymentMintArgs,
    ) -> Instruction {
        ix(
            acc::PaymentMintAdmin {
                market: market_pda(),
                payment_mint: payment_mint_pda(&mint.mint),
                authority,
            },
            args::UpdatePaymentMint { args },
        )
    }

    /// Updates a payment mint, signed by the market authority.
    pub async fn update_payment_mint(
        &mut self,
        mint: TestMint,
        args: iomesh::UpdatePaymentMintArgs,
    ) -> std::result::Result<(), TransactionError> {
        let authority = self.keys.authority.insecure_clone();
        let ix = self.update_payment_mint_ix(mint, authority.pubkey(), args);
        self.send(&[ix], &[&authority]).await
    }

    pub fn update_market_ix(&self, authority: Pubkey, params: MarketParams) -> Instruction {
        ix(
            acc::MarketAdmin {
                market: market_pda(),
                authority,
            },
            args::UpdateMarket { params },
        )
    }

    /// Updates the market policy, signed by the market authority.
    pub async fn update_market(
        &mut self,
        params: MarketParams,
    ) -> std::result::Result<(), TransactionError> {
        let authority = self.keys.authority.insecure_clone();
        let ix = self.update_market_ix(authority.pubkey(), params);
        self.send(&[ix], &[&authority]).await
    }

    /// A renter funded with `funds` of `mint` leasing `gpus` GPUs on `node` for `secs`
    /// with the given nonce and no price guard.
    pub async fn funded_lease(
        &mut self,
        node: &TestNode,
        mint: TestMint,
        gpus: u16,
        secs: u32,
        funds: u64,
    ) -> std::result::Result<(Keypair, Pubkey), TransactionError> {
        let renter = self.wallet().await;
        self.fund(&renter.pubkey(), mint, funds).await;
        let lease = self
            .create_lease(LeaseRequest {
                renter: &renter,
                payer: None,
                node: node.address,
                mint,
                nonce: 1,
                gpus,
                duration_secs: secs,
                max_price_per_gpu_hour: u64::MAX,
            })
            .await?;
        Ok((renter, lease))
    }
}

// ---------------------------------------------------------------- helpers for tests/attacks.rs

/// What one transaction did: its result and its program log.
pub struct Sent {
    pub result: std::result::Result<(), TransactionError>,
    pub logs: Vec<String>,
    /// The transaction's compute units, as the bank metered them.
    pub units: u64,
}

impl Sent {
    /// Whether some log line contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.logs.iter().any(|line| line.contains(needle))
    }
}

impl TestEnv {
    /// Like `send`, but `fee_payer` (e.g. an attacker) pays and signs, and the
    /// log is returned.
    pub async fn send_as(
        &mut self,
        fee_payer: &Keypair,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> Sent {
        self.refresh_blockhash().await;
        let tx = self.sign_unique(fee_payer, instructions, signers);
        let outcome = self
            .ctx
            .banks_client
            .process_transaction_with_metadata(tx)
            .await
            .expect("banks client");
        let (logs, units) = outcome
            .metadata
            .map(|m| (m.log_messages, m.compute_units_consumed))
            .unwrap_or_default();
        Sent {
            result: outcome.result,
            logs,
            units,
        }
    }
}

impl TestEnv {
    /// Fetches the bank's newest blockhash before every transaction.
    ///
    /// program-test registers a new blockhash every few milliseconds of wall
    /// time (whenever the runtime polls its ticker) without advancing the block
    /// height, and panics on a blockhash more than 150 registrations old. A
    /// blockhash kept for a while therefore fails by chance on a slow machine;
    /// one fetched right before sending is at most a few registrations old.
    async fn refresh_blockhash(&mut self) {
        self.ctx.last_blockhash = self.latest_blockhash().await;
    }

    /// The bank's newest blockhash, for a transaction signed by the test itself.
    pub async fn latest_blockhash(&mut self) -> solana_hash::Hash {
        self.ctx
            .banks_client
            .get_latest_blockhash()
            .await
            .expect("latest blockhash")
    }

    /// Signs `instructions` with `fee_payer` (paying) and `signers`. A transaction
    /// identical to one already sent gets a distinct compute-budget instruction,
    /// placed last so instruction indices in errors still match `instructions`,
    /// so that the bank does not reject it as already processed.
    fn sign_unique(
        &mut self,
        fee_payer: &Keypair,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> Transaction {
        let blockhash = self.ctx.last_blockhash;
        let mut all_signers: Vec<&Keypair> = vec![fee_payer];
        all_signers.extend(
            signers
                .iter()
                .copied()
                .filter(|s| s.pubkey() != fee_payer.pubkey()),
        );
        let mut ixs = instructions.to_vec();
        loop {
            let tx = Transaction::new_signed_with_payer(
                &ixs,
                Some(&fee_payer.pubkey()),
                &all_signers,
                blockhash,
            );
            if self.seen.insert(tx.signatures[0].into()) {
                return tx;
            }
            self.uniquifier += 1;
            ixs = instructions.to_vec();
            ixs.push(
                solana_compute_budget_interface::ComputeBudgetInstruction::set_compute_unit_limit(
                    1_400_000 - self.uniquifier,
                ),
            );
        }
    }
}

// ---------------------------------------------------------------- clusters

pub fn cluster_pda(renter: &Pubkey, nonce: u64) -> Pubkey {
    Pubkey::find_program_address(
        &[seeds::CLUSTER, renter.as_ref(), &nonce.to_le_bytes()],
        &iomesh::ID,
    )
    .0
}

impl TestEnv {
    pub fn create_cluster_ix(
        &self,
        renter: Pubkey,
        nonce: u64,
        leases_expected: u16,
        funding_deadline: i64,
    ) -> Instruction {
        ix(
            acc::CreateCluster {
                market: market_pda(),
                cluster: cluster_pda(&renter, nonce),
                renter,
                system_program: anchor_lang::system_program::ID,
            },
            args::CreateCluster {
                args: iomesh::CreateClusterArgs {
                    nonce,
                    leases_expected,
                    funding_deadline,
                },
            },
        )
    }

    /// Creates a cluster of `leases_expected` leases funded within `window` seconds.
    pub async fn create_cluster(
        &mut self,
        renter: &Keypair,
        nonce: u64,
        leases_expected: u16,
        window: i64,
    ) -> std::result::Result<Pubkey, TransactionError> {
        let deadline = self.now().await + window;
        let ix = self.create_cluster_ix(renter.pubkey(), nonce, leases_expected, deadline);
        self.send(&[ix], &[renter]).await?;
        Ok(cluster_pda(&renter.pubkey(), nonce))
    }

    pub async fn create_cluster_lease(
        &mut self,
        request: LeaseRequest<'_>,
        cluster: Pubkey,
    ) -> std::result::Result<Pubkey, TransactionError> {
        let ix = self.create_lease_ix_in(&request, Some(cluster));
        let renter = request.renter.insecure_clone();
        match request.payer {
            Some(payer) => {
                let payer = payer.insecure_clone();
                self.send(&[ix], &[&renter, &payer]).await?
            }
            None => self.send(&[ix], &[&renter]).await?,
        }
        Ok(lease_pda(&renter.pubkey(), request.nonce))
    }

    pub fn activate_in_cluster_ix(
        &self,
        lease: Pubkey,
        node: &TestNode,
        cluster: Option<Pubkey>,
    ) -> Instruction {
        ix(
            acc::ActivateLease {
                market: market_pda(),
                lease,
                node: node.address,
                cluster,
                operator: node.operator.pubkey(),
            },
            args::ActivateLease {},
        )
    }

    pub async fn activate_in_cluster(
        &mut self,
        lease: Pubkey,
        node: &TestNode,
        cluster: Pubkey,
    ) -> std::result::Result<(), TransactionError> {
        let ix = self.activate_in_cluster_ix(lease, node, Some(cluster));
        let operator = node.operator.insecure_clone();
        self.send(&[ix], &[&operator]).await
    }

    /// `unwind_cluster` for the given leases (all in `mint`).
    pub fn unwind_cluster_ix(
        &self,
        cluster: Pubkey,
        renter: Pubkey,
        mint: TestMint,
        leases: &[LeaseAccounts],
    ) -> Instruction {
        let mut instruction = ix(
            acc::UnwindCluster {
                market: market_pda(),
                cluster,
                renter,
                mint: mint.mint,
                vault: mint.vault(),
                token_program: mint.token_program,
                system_program: anchor_lang::system_program::ID,
            },
            args::UnwindCluster {},
        );
        use anchor_lang::solana_program::instruction::AccountMeta;
        for lease in leases {
            instruction.accounts.extend([
                AccountMeta::new(lease.lease, false),
                AccountMeta::new(lease.node, false),
                AccountMeta::new(lease.payer_token_account, false),
                AccountMeta::new(lease.payer, false),
                AccountMeta::new(lease.payer_credit(), false),
            ]);
        }
        instruction
    }

    pub fn close_cluster_ix(&self, cluster: Pubkey, renter: Pubkey) -> Instruction {
        ix(acc::CloseCluster { cluster, renter }, args::CloseCluster {})
    }

    pub async fn cluster(&mut self, address: Pubkey) -> Option<Cluster> {
        self.fetch(address).await
    }
}

// ---------------------------------------------------------------- IO: staking and slashing

pub fn stake_vault_pda() -> Pubkey {
    Pubkey::find_program_address(&[seeds::STAKE_VAULT], &iomesh::ID).0
}
pub fn rewards_reserve_pda() -> Pubkey {
    Pubkey::find_program_address(&[seeds::REWARDS_RESERVE], &iomesh::ID).0
}
pub fn rewards_escrow_pda() -> Pubkey {
    Pubkey::find_program_address(&[seeds::REWARDS_ESCROW], &iomesh::ID).0
}
pub fn slash_pda(node: &Pubkey, index: u32) -> Pubkey {
    Pubkey::find_program_address(
        &[seeds::SLASH, node.as_ref(), &index.to_le_bytes()],
        &iomesh::ID,
    )
    .0
}

pub const STAKE_COOLDOWN: u32 = 14 * 24 * HOUR;
pub const APPEAL_WINDOW: u32 = 3 * 24 * HOUR;

impl TestEnv {
    /// Makes the fixture's IO mint the market's IO mint and creates the IO vaults.
    pub async fn init_io(&mut self) -> std::result::Result<(), TransactionError> {
        let authority = self.keys.authority.insecure_clone();
        let ix = ix(
            acc::InitIoVaults {
                market: market_pda(),
                io_mint: self.io.mint,
                stake_vault: stake_vault_pda(),
                rewards_reserve: rewards_reserve_pda(),
                rewards_escrow: rewards_escrow_pda(),
                authority: authority.pubkey(),
                token_program: self.io.token_program,
                system_program: anchor_lang::system_program::ID,
            },
            args::InitIoVaults {},
        );
        self.send(&[ix], &[&authority]).await
    }

    pub fn staking_policy_ix(
        &self,
        authority: Pubkey,
        policy: iomesh::StakingPolicy,
    ) -> Instruction {
        ix(
            acc::MarketAdmin {
                market: market_pda(),
                authority,
            },
            args::SetStakingPolicy { policy },
        )
    }

    /// IO vaults plus a staking policy of `stake_per_gpu`, a 14-day cooldown, a
    /// 3-day appeal window and `slash_authority`.
    pub async fn enable_staking(&mut self, stake_per_gpu: u64, slash_authority: Pubkey) {
        self.init_io().await.expect("init IO vaults");
        let authority = self.keys.authority.insecure_clone();
        let ix = self.staking_policy_ix(
            authority.pubkey(),
            iomesh::StakingPolicy {
                slash_authority,
                stake_per_gpu,
                unstake_cooldown_secs: STAKE_COOLDOWN,
                slash_appeal_secs: APPEAL_WINDOW,
            },
        );
        self.send(&[ix], &[&authority])
            .await
            .expect("staking policy");
    }

    pub fn stake_accounts(&self, node: &TestNode) -> acc::StakeAccounts {
        acc::StakeAccounts {
            market: market_pda(),
            node: node.address,
            io_mint: self.io.mint,
            stake_vault: stake_vault_pda(),
            owner_token_account: self.io.ata(&node.owner.pubkey()),
            owner: node.owner.pubkey(),
            token_program: self.io.token_program,
        }
    }

    /// Mints `amount` IO to the node owner and stakes it.
    pub async fn stake(
        &mut self,
        node: &TestNode,
        amount: u64,
    ) -> std::result::Result<(), TransactionError> {
        let io = self.io;
        self.fund(&node.owner.pubkey(), io, amount).await;
        let ix = ix(self.stake_accounts(node), args::Stake { amount });
        let owner = node.owner.insecure_clone();
        self.send(&[ix], &[&owner]).await
    }

    pub async fn request_unstake(
        &mut self,
        node: &TestNode,
        amount: u64,
    ) -> std::result::Result<(), TransactionError> {
        let ix = ix(
            acc::RequestUnstake {
                market: market_pda(),
                node: node.address,
                owner: node.owner.pubkey(),
            },
            args::RequestUnstake { amount },
        );
        let owner = node.owner.insecure_clone();
        self.send(&[ix], &[&owner]).await
    }

    pub async fn withdraw_stake(
        &mut self,
        node: &TestNode,
    ) -> std::result::Result<(), TransactionError> {
        let ix = ix(self.stake_accounts(node), args::WithdrawStake {});
        let owner = node.owner.insecure_clone();
        self.send(&[ix], &[&owner]).await
    }

    pub fn slash_ix(
        &self,
        node: Pubkey,
        index: u32,
        authority: Pubkey,
        args: iomesh::SlashArgs,
    ) -> Instruction {
        ix(
            acc::SlashNode {
                market: market_pda(),
                node,
                pending_slash: slash_pda(&node, index),
                slash_authority: authority,
                system_program: anchor_lang::system_program::ID,
            },
            args::Slash { args },
        )
    }

    pub fn reverse_slash_ix(&self, slash: &PendingSlash, authority: Pubkey) -> Instruction {
        ix(
            acc::ReverseSlash {
                market: market_pda(),
                pending_slash: slash_pda(&slash.node, slash.index),
                node: slash.node,
                rent_payer: slash.rent_payer,
                slash_authority: authority,
            },
            args::ReverseSlash {},
        )
    }

    pub fn finalize_slash_ix(&self, slash: &PendingSlash) -> Instruction {
        ix(
            acc::FinalizeSlash {
                market: market_pda(),
                pending_slash: slash_pda(&slash.node, slash.index),
                node: slash.node,
                io_mint: self.io.mint,
                stake_vault: stake_vault_pda(),
                harmed_token_account: self.io.ata(&slash.harmed),
                harmed_credit: credit_pda(&stake_vault_pda(), &slash.harmed),
                rent_payer: slash.rent_payer,
                token_program: self.io.token_program,
                system_program: anchor_lang::system_program::ID,
            },
            args::FinalizeSlash {},
        )
    }

    /// Total supply of a mint, in base units.
    pub async fn supply(&mut self, mint: Pubkey) -> u64 {
        let data = self.account_data(mint).await.expect("mint exists");
        u64::from_le_bytes(data[36..44].try_into().unwrap())
    }
}

// ---------------------------------------------------------------- reward epochs

pub fn epoch_pda(epoch: u64) -> Pubkey {
    Pubkey::find_program_address(&[seeds::EPOCH, &epoch.to_le_bytes()], &iomesh::ID).0
}

impl TestEnv {
    /// Mints `amount` IO straight into the rewards reserve.
    pub async fn fund_rewards_reserve(&mut self, amount: u64) {
        let mint_to = spl_token_2022::instruction::mint_to(
            &self.io.token_program,
            &self.io.mint,
            &rewards_reserve_pda(),
            &self.keys.authority.pubkey(),
            &[],
            amount,
        )
        .unwrap();
        let authority = self.keys.authority.insecure_clone();
        self.send(&[mint_to], &[&authority])
            .await
            .expect("fund reserve");
    }

    /// `publish_epoch`, signed by the market's reward authority (the fixture's market authority).
    pub fn publish_epoch_ix(
        &self,
        authority: Pubkey,
        args: iomesh::PublishEpochArgs,
    ) -> Instruction {
        ix(
            acc::PublishEpoch {
                market: market_pda(),
                epoch: epoch_pda(args.epoch),
                io_mint: self.io.mint,
                rewards_reserve: rewards_reserve_pda(),
                rewards_escrow: rewards_escrow_pda(),
                reward_authority: authority,
                token_program: self.io.token_program,
                system_program: anchor_lang::system_program::ID,
            },
            args::PublishEpoch { args },
        )
    }

    pub fn grow_epoch_ix(&self, epoch: u64, payer: Pubkey) -> Instruction {
        ix(
            acc::GrowEpoch {
                epoch: epoch_pda(epoch),
                payer,
                system_program: anchor_lang::system_program::ID,
            },
            args::GrowEpoch {},
        )
    }

    pub fn claim_reward_ix(
        &self,
        epoch: u64,
        node: Pubkey,
        owner: Pubkey,
        args: iomesh::ClaimRewardArgs,
    ) -> Instruction {
        ix(
            acc::ClaimReward {
                market: market_pda(),
                epoch: epoch_pda(epoch),
                node,
                io_mint: self.io.mint,
                rewards_escrow: rewards_escrow_pda(),
                owner_token_account: self.io.ata(&owner),
                owner,
                token_program: self.io.token_program,
            },
            args::ClaimReward { args },
        )
    }

    pub fn clawback_epoch_ix(&self, epoch: u64) -> Instruction {
        ix(
            acc::ClawbackEpoch {
                market: market_pda(),
                epoch: epoch_pda(epoch),
                io_mint: self.io.mint,
                rewards_reserve: rewards_reserve_pda(),
                rewards_escrow: rewards_escrow_pda(),
                token_program: self.io.token_program,
            },
            args::ClawbackEpoch {},
        )
    }

    pub async fn reward_epoch(&mut self, epoch: u64) -> Option<RewardEpoch> {
        self.fetch(epoch_pda(epoch)).await
    }
}

// ---------------------------------------------------------------- IOSD and oracles

pub fn iosd_config_pda() -> Pubkey {
    Pubkey::find_program_address(&[seeds::IOSD], &iomesh::ID).0
}
pub fn iosd_mint_authority_pda() -> Pubkey {
    Pubkey::find_program_address(&[seeds::IOSD_MINT_AUTHORITY], &iomesh::ID).0
}

/// The bytes of a `PriceUpdateV2` account as the Pyth receiver writes them
/// (exponent -8; `full`: Wormhole signatures fully verified).
pub fn price_update_data(
    feed: [u8; 32],
    price: i64,
    conf: u64,
    publish_time: i64,
    full: bool,
) -> Vec<u8> {
    let mut data = iomesh::oracle::PRICE_UPDATE_V2_DISCRIMINATOR.to_vec();
    data.extend_from_slice(Pubkey::new_unique().as_ref()); // write authority
    if full {
        data.push(1);
    } else {
        data.extend_from_slice(&[0, 5]); // Partial { num_signatures: 5 }
    }
    data.extend_from_slice(&feed);
    data.extend_from_slice(&price.to_le_bytes());
    data.extend_from_slice(&conf.to_le_bytes());
    data.extend_from_slice(&(-8i32).to_le_bytes());
    data.extend_from_slice(&publish_time.to_le_bytes());
    data.extend_from_slice(&(publish_time - 1).to_le_bytes()); // prev publish time
    data.extend_from_slice(&price.to_le_bytes()); // ema price
    data.extend_from_slice(&conf.to_le_bytes()); // ema conf
    data.extend_from_slice(&1u64.to_le_bytes()); // posted slot
    data
}

impl TestEnv {
    /// Writes an oracle account at `address`, as the Pyth receiver would post it.
    pub fn post_price(&mut self, address: Pubkey, data: Vec<u8>, owner: Pubkey) {
        let account = solana_account::Account {
            lamports: 10_000_000,
            data,
            owner,
            executable: false,
            rent_epoch: 0,
        };
        self.ctx
            .set_account(&address, &solana_account::AccountSharedData::from(account));
    }

    /// A Token-2022 IOSD mint whose only authority is the program's PDA, and `init_iosd` with `policy`.
    pub async fn setup_iosd(&mut self, policy: iomesh::IosdPolicy) -> TestMint {
        let iosd = self.create_iosd_mint().await;
        let authority = self.keys.authority.insecure_clone();
        let ix = self.init_iosd_ix(iosd, authority.pubkey(), policy);
        self.send(&[ix], &[&authority]).await.unwrap();
        iosd
    }

    /// A Token-2022 mint whose mint authority is the IOSD mint authority PDA.
    pub async fn create_iosd_mint(&mut self) -> TestMint {
        let mint = Keypair::new();
        let payer = self.payer();
        let rent = self.rent_exempt(82).await;
        let create = solana_system_interface::instruction::create_account(
            &payer.pubkey(),
            &mint.pubkey(),
            rent,
            82,
            &spl_token_2022::ID,
        );
        let init = spl_token_2022::instruction::initialize_mint2(
            &spl_token_2022::ID,
            &mint.pubkey(),
            &iosd_mint_authority_pda(),
            None,
            DECIMALS,
        )
        .unwrap();
        self.send(&[create, init], &[&mint]).await.unwrap();
        TestMint {
            mint: mint.pubkey(),
            token_program: spl_token_2022::ID,
        }
    }

    pub fn init_iosd_ix(
        &self,
        iosd: TestMint,
        authority: Pubkey,
        policy: iomesh::IosdPolicy,
    ) -> Instruction {
        ix(
            acc::InitIosd {
                market: market_pda(),
                iosd_config: iosd_config_pda(),
                iosd_mint: iosd.mint,
                iosd_mint_authority: iosd_mint_authority_pda(),
                authority,
                token_program: iosd.token_program,
                system_program: anchor_lang::system_program::ID,
            },
            args::InitIosd { policy },
        )
    }

    pub fn mint_iosd_ix(
        &self,
        iosd: TestMint,
        oracle: Pubkey,
        user: Pubkey,
        io_amount: u64,
        min_iosd_out: u64,
    ) -> Instruction {
        ix(
            acc::MintIosd {
                market: market_pda(),
                iosd_config: iosd_config_pda(),
                io_mint: self.io.mint,
                iosd_mint: iosd.mint,
                price_update: oracle,
                user_io: self.io.ata(&user),
                user_iosd: iosd.ata(&user),
                iosd_mint_authority: iosd_mint_authority_pda(),
                user,
                io_token_program: self.io.token_program,
                iosd_token_program: iosd.token_program,
            },
            args::MintIosd {
                io_amount,
                min_iosd_out,
            },
        )
    }
}
