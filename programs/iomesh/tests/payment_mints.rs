//! Payment mint instructions: add_payment_mint (SPL Token and Token-2022, and
//! every refused Token-2022 extension by its error), update_payment_mint and
//! set_mint_price — success paths and every way each must fail.

mod common;

use anchor_lang::prelude::Pubkey;
use anchor_spl::{
    token::spl_token,
    token_2022::spl_token_2022::{
        self,
        extension::{
            confidential_transfer, default_account_state, metadata_pointer, pausable, transfer_fee,
            transfer_hook, BaseStateWithExtensions, ExtensionType, StateWithExtensions,
        },
        state::{Account as TokenAccountState, AccountState, Mint as MintState},
    },
};
use common::*;
use iomesh::{
    accounts as acc, error::IomeshError, instruction as args, state::PriceSource,
    AddPaymentMintArgs, UpdatePaymentMintArgs,
};
use solana_keypair::Keypair;
use solana_signer::Signer;

type TxResult = std::result::Result<(), solana_transaction_error::TransactionError>;

/// A Token-2022 mint with `extensions`, initialised by `init` (run before
/// InitializeMint2), 6 decimals, mint authority the market authority.
async fn token_2022_mint(
    env: &mut TestEnv,
    extensions: &[ExtensionType],
    init: impl FnOnce(&Pubkey) -> Vec<Instruction>,
    freeze_authority: Option<&Pubkey>,
) -> TestMint {
    mint_with(
        env,
        spl_token_2022::ID,
        extensions,
        init,
        freeze_authority,
        DECIMALS,
    )
    .await
}

async fn mint_with(
    env: &mut TestEnv,
    token_program: Pubkey,
    extensions: &[ExtensionType],
    init: impl FnOnce(&Pubkey) -> Vec<Instruction>,
    freeze_authority: Option<&Pubkey>,
    decimals: u8,
) -> TestMint {
    let mint = Keypair::new();
    let payer = env.payer();
    let space = ExtensionType::try_calculate_account_len::<MintState>(extensions).unwrap();
    let rent = env.rent_exempt(space).await;
    let mut instructions = vec![solana_system_interface::instruction::create_account(
        &payer.pubkey(),
        &mint.pubkey(),
        rent,
        space as u64,
        &token_program,
    )];
    instructions.extend(init(&mint.pubkey()));
    instructions.push(
        spl_token_2022::instruction::initialize_mint2(
            &token_program,
            &mint.pubkey(),
            &env.keys.authority.pubkey(),
            freeze_authority,
            decimals,
        )
        .unwrap(),
    );
    env.send(&instructions, &[&mint])
        .await
        .expect("create mint with extensions");
    // The mint really carries the extensions it was built with.
    let data = env.account_data(mint.pubkey()).await.unwrap();
    let state = StateWithExtensions::<MintState>::unpack(&data).unwrap();
    let mut found = if token_program == spl_token_2022::ID {
        state.get_extension_types().unwrap()
    } else {
        vec![]
    };
    let mut wanted = extensions.to_vec();
    found.sort_by_key(|e| *e as u16);
    wanted.sort_by_key(|e| *e as u16);
    assert_eq!(found, wanted);
    TestMint {
        mint: mint.pubkey(),
        token_program,
    }
}

/// Adds `mint` as a stable payment mint at 50 bps, signed by the market authority.
async fn add_stable(env: &mut TestEnv, mint: TestMint) -> TxResult {
    env.add_payment_mint(mint, PriceSource::Stable, 0, 50, "TKN")
        .await
}

fn add_ix(mint: TestMint, authority: Pubkey, args: AddPaymentMintArgs) -> Instruction {
    ix(
        acc::AddPaymentMint {
            market: market_pda(),
            payment_mint: payment_mint_pda(&mint.mint),
            mint: mint.mint,
            vault: mint.vault(),
            authority,
            token_program: mint.token_program,
            system_program: anchor_lang::system_program::ID,
        },
        args::AddPaymentMint { args },
    )
}

fn authority_priced(price: u64, fee_bps: u16, max_age: u32, symbol: &str) -> AddPaymentMintArgs {
    AddPaymentMintArgs {
        fee_bps,
        price_source: PriceSource::Authority,
        usd_price_micros: price,
        max_price_age_secs: max_age,
        symbol: symbol.into(),
    }
}

async fn add_with(env: &mut TestEnv, mint: TestMint, args: AddPaymentMintArgs) -> TxResult {
    let authority = env.keys.authority.insecure_clone();
    env.send(&[add_ix(mint, authority.pubkey(), args)], &[&authority])
        .await
}

/// Asserts the mint was refused and left no payment mint or vault behind.
async fn assert_not_added(env: &mut TestEnv, mint: TestMint) {
    assert!(env
        .account_data(payment_mint_pda(&mint.mint))
        .await
        .is_none());
    assert!(env.account_data(mint.vault()).await.is_none());
}

/// Asserts the vault of `mint` exists, is owned by its token program, holds
/// `mint` with authority the market PDA, and is empty.
async fn assert_vault(env: &mut TestEnv, mint: TestMint) {
    let account = env
        .ctx
        .banks_client
        .get_account(mint.vault())
        .await
        .unwrap()
        .expect("vault exists");
    assert_eq!(account.owner, mint.token_program);
    let state = StateWithExtensions::<TokenAccountState>::unpack(&account.data).unwrap();
    assert_eq!(state.base.mint, mint.mint);
    assert_eq!(state.base.owner, market_pda());
    assert_eq!(state.base.amount, 0);
    assert_eq!(state.base.state, AccountState::Initialized);
    assert!(state.base.delegate.is_none());
    assert!(state.base.close_authority.is_none());
}

fn update_args(
    enabled: bool,
    fee_bps: u16,
    price_source: PriceSource,
    max_price_age_secs: u32,
) -> UpdatePaymentMintArgs {
    UpdatePaymentMintArgs {
        enabled,
        fee_bps,
        price_source,
        max_price_age_secs,
    }
}

/// A lease request of a fresh funded renter, one GPU for an hour.
async fn funded_renter(env: &mut TestEnv, mint: TestMint) -> Keypair {
    let renter = env.wallet().await;
    env.fund(&renter.pubkey(), mint, 1_000 * TOKEN).await;
    renter
}

// ---------------------------------------------------------------- add_payment_mint

#[tokio::test]
async fn add_payment_mint_spl_token_creates_vault_owned_by_market() {
    let mut env = TestEnv::new().await;
    let mint = env.create_mint(spl_token::ID).await;
    env.warp(1_000).await;
    let now = env.now().await;
    add_with(
        &mut env,
        mint,
        authority_priced(150_000_000, 50, 900, "WSOL"),
    )
    .await
    .unwrap();

    let pm = env.payment_mint(&mint).await;
    assert_eq!(pm.version, 1);
    assert!(pm.enabled);
    assert_eq!(pm.decimals, DECIMALS);
    assert_eq!(pm.price_source, PriceSource::Authority);
    assert_eq!(pm.fee_bps, 50);
    assert_eq!(pm.max_price_age_secs, 900);
    assert_eq!(pm.mint, mint.mint);
    assert_eq!(pm.token_program, spl_token::ID);
    assert_eq!(pm.vault, vault_pda(&mint.mint));
    assert_eq!(pm.usd_price_micros, 150_000_000);
    assert_eq!(pm.price_updated_at, now);
    assert_eq!(iomesh::state::decode_text(&pm.symbol), "WSOL");
    assert_vault(&mut env, mint).await;
}

#[tokio::test]
async fn add_payment_mint_token_2022_creates_vault_owned_by_market() {
    let mut env = TestEnv::new().await;
    let mint = env.create_mint(spl_token_2022::ID).await;
    add_stable(&mut env, mint).await.unwrap();
    let pm = env.payment_mint(&mint).await;
    assert_eq!(pm.token_program, spl_token_2022::ID);
    assert_eq!(pm.vault, vault_pda(&mint.mint));
    assert_eq!(pm.fee_bps, 50);
    assert_vault(&mut env, mint).await;
    // The fixture's IOSD is a Token-2022 mint too.
    let iosd = env.iosd;
    assert_vault(&mut env, iosd).await;
}

#[tokio::test]
async fn add_payment_mint_refuses_non_authority() {
    let mut env = TestEnv::new().await;
    let mint = env.create_mint(spl_token::ID).await;
    let intruder = env.wallet().await;
    let result = env
        .send(
            &[add_ix(
                mint,
                intruder.pubkey(),
                authority_priced(1, 0, 60, "X"),
            )],
            &[&intruder],
        )
        .await;
    assert_error(result, IomeshError::NotMarketAuthority);
    assert_not_added(&mut env, mint).await;
    // The price authority does not govern mints either.
    let price_authority = env.keys.price_authority.insecure_clone();
    let result = env
        .send(
            &[add_ix(
                mint,
                price_authority.pubkey(),
                authority_priced(1, 0, 60, "X"),
            )],
            &[&price_authority],
        )
        .await;
    assert_error(result, IomeshError::NotMarketAuthority);
    assert_not_added(&mut env, mint).await;
}

#[tokio::test]
async fn add_payment_mint_refuses_fee_above_1000_bps() {
    let mut env = TestEnv::new().await;
    let mint = env.create_mint(spl_token::ID).await;
    assert_error(
        env.add_payment_mint(mint, PriceSource::Stable, 0, 1_001, "X")
            .await,
        IomeshError::FeeTooHigh,
    );
    assert_not_added(&mut env, mint).await;
    assert_error(
        env.add_payment_mint(mint, PriceSource::Stable, 0, u16::MAX, "X")
            .await,
        IomeshError::FeeTooHigh,
    );
    // Exactly 10 % is the highest fee allowed.
    env.add_payment_mint(mint, PriceSource::Stable, 0, 1_000, "X")
        .await
        .unwrap();
    assert_eq!(env.payment_mint(&mint).await.fee_bps, 1_000);
}

#[tokio::test]
async fn add_payment_mint_prices_stable_mint_at_one_usd() {
    let mut env = TestEnv::new().await;
    let mint = env.create_mint(spl_token::ID).await;
    // Whatever price is passed, a stable mint is worth exactly 1 USD.
    env.add_payment_mint(mint, PriceSource::Stable, 7_000_000, 10, "USDT")
        .await
        .unwrap();
    let pm = env.payment_mint(&mint).await;
    assert_eq!(pm.price_source, PriceSource::Stable);
    assert_eq!(pm.usd_price_micros, 1_000_000);
    // And the fixture's USDC and IOSD.
    let (usdc, iosd) = (env.usdc, env.iosd);
    assert_eq!(env.payment_mint(&usdc).await.usd_price_micros, 1_000_000);
    assert_eq!(env.payment_mint(&iosd).await.usd_price_micros, 1_000_000);
    // A lease in it costs the node's USD price, one token per dollar.
    let node = env.register_node(2).await;
    env.create_ata(&node.owner.pubkey(), mint).await;
    let renter = funded_renter(&mut env, mint).await;
    let lease = env
        .create_lease(LeaseRequest::new(&renter, &node, mint, 1))
        .await
        .unwrap();
    assert_eq!(env.lease(lease).await.unwrap().rate_per_gpu_hour, 2 * TOKEN);
}

#[tokio::test]
async fn add_payment_mint_refuses_zero_price_zero_max_age_and_bad_symbol() {
    let mut env = TestEnv::new().await;
    let mint = env.create_mint(spl_token::ID).await;
    assert_error(
        add_with(&mut env, mint, authority_priced(0, 10, 60, "X")).await,
        IomeshError::ZeroPrice,
    );
    assert_error(
        add_with(&mut env, mint, authority_priced(1, 10, 0, "X")).await,
        IomeshError::InvalidMaxPriceAge,
    );
    for symbol in ["", "NINECHARS", "I\u{e9}"] {
        assert_error(
            add_with(&mut env, mint, authority_priced(1, 10, 60, symbol)).await,
            IomeshError::InvalidText,
        );
    }
    assert_not_added(&mut env, mint).await;
    add_with(&mut env, mint, authority_priced(1, 10, 60, "EIGHTCHR"))
        .await
        .unwrap();
}

#[tokio::test]
async fn add_payment_mint_refuses_more_than_18_decimals() {
    let mut env = TestEnv::new().await;
    let mint = mint_with(&mut env, spl_token::ID, &[], |_| vec![], None, 19).await;
    assert_error(
        add_stable(&mut env, mint).await,
        IomeshError::UnsupportedDecimals,
    );
    assert_not_added(&mut env, mint).await;
    let mint = mint_with(&mut env, spl_token::ID, &[], |_| vec![], None, 18).await;
    add_stable(&mut env, mint).await.unwrap();
    assert_eq!(env.payment_mint(&mint).await.decimals, 18);
}

// ---------------------------------------------------------------- Token-2022 extensions

#[tokio::test]
async fn add_payment_mint_refuses_transfer_fee_mint() {
    let mut env = TestEnv::new().await;
    let authority = env.keys.authority.pubkey();
    let mint = token_2022_mint(
        &mut env,
        &[ExtensionType::TransferFeeConfig],
        |mint| {
            vec![transfer_fee::instruction::initialize_transfer_fee_config(
                &spl_token_2022::ID,
                mint,
                Some(&authority),
                Some(&authority),
                100,
                u64::MAX,
            )
            .unwrap()]
        },
        None,
    )
    .await;
    assert_error(
        add_stable(&mut env, mint).await,
        IomeshError::MintHasTransferFee,
    );
    assert_not_added(&mut env, mint).await;
}

#[tokio::test]
async fn add_payment_mint_refuses_zero_transfer_fee_mint_too() {
    // A fee of 0 bps today can be raised by the fee authority tomorrow.
    let mut env = TestEnv::new().await;
    let authority = env.keys.authority.pubkey();
    let mint = token_2022_mint(
        &mut env,
        &[ExtensionType::TransferFeeConfig],
        |mint| {
            vec![transfer_fee::instruction::initialize_transfer_fee_config(
                &spl_token_2022::ID,
                mint,
                Some(&authority),
                None,
                0,
                0,
            )
            .unwrap()]
        },
        None,
    )
    .await;
    assert_error(
        add_stable(&mut env, mint).await,
        IomeshError::MintHasTransferFee,
    );
    assert_not_added(&mut env, mint).await;
}

#[tokio::test]
async fn add_payment_mint_refuses_transfer_hook_mint() {
    let mut env = TestEnv::new().await;
    let authority = env.keys.authority.pubkey();
    let hook_program = Pubkey::new_unique();
    let mint = token_2022_mint(
        &mut env,
        &[ExtensionType::TransferHook],
        |mint| {
            vec![transfer_hook::instruction::initialize(
                &spl_token_2022::ID,
                mint,
                Some(authority),
                Some(hook_program),
            )
            .unwrap()]
        },
        None,
    )
    .await;
    assert_error(
        add_stable(&mut env, mint).await,
        IomeshError::MintHasTransferHook,
    );
    assert_not_added(&mut env, mint).await;
}

#[tokio::test]
async fn add_payment_mint_refuses_permanent_delegate_mint() {
    let mut env = TestEnv::new().await;
    let delegate = Pubkey::new_unique();
    let mint = token_2022_mint(
        &mut env,
        &[ExtensionType::PermanentDelegate],
        |mint| {
            vec![spl_token_2022::instruction::initialize_permanent_delegate(
                &spl_token_2022::ID,
                mint,
                &delegate,
            )
            .unwrap()]
        },
        None,
    )
    .await;
    assert_error(
        add_stable(&mut env, mint).await,
        IomeshError::MintHasPermanentDelegate,
    );
    assert_not_added(&mut env, mint).await;
}

#[tokio::test]
async fn add_payment_mint_refuses_non_transferable_mint() {
    let mut env = TestEnv::new().await;
    let mint = token_2022_mint(
        &mut env,
        &[ExtensionType::NonTransferable],
        |mint| {
            vec![
                spl_token_2022::instruction::initialize_non_transferable_mint(
                    &spl_token_2022::ID,
                    mint,
                )
                .unwrap(),
            ]
        },
        None,
    )
    .await;
    assert_error(
        add_stable(&mut env, mint).await,
        IomeshError::MintIsNonTransferable,
    );
    assert_not_added(&mut env, mint).await;
}

async fn default_state_mint(env: &mut TestEnv, state: AccountState) -> TestMint {
    let freeze_authority = env.keys.authority.pubkey();
    token_2022_mint(
        env,
        &[ExtensionType::DefaultAccountState],
        |mint| {
            vec![
                default_account_state::instruction::initialize_default_account_state(
                    &spl_token_2022::ID,
                    mint,
                    &state,
                )
                .unwrap(),
            ]
        },
        Some(&freeze_authority),
    )
    .await
}

#[tokio::test]
async fn add_payment_mint_refuses_default_frozen_mint() {
    let mut env = TestEnv::new().await;
    let mint = default_state_mint(&mut env, AccountState::Frozen).await;
    assert_error(
        add_stable(&mut env, mint).await,
        IomeshError::MintIsDefaultFrozen,
    );
    assert_not_added(&mut env, mint).await;
}

#[tokio::test]
async fn add_payment_mint_accepts_default_initialized_mint() {
    let mut env = TestEnv::new().await;
    let mint = default_state_mint(&mut env, AccountState::Initialized).await;
    add_stable(&mut env, mint).await.unwrap();
    assert_vault(&mut env, mint).await;
    assert!(env.payment_mint(&mint).await.enabled);
}

#[tokio::test]
async fn add_payment_mint_refuses_pausable_mint() {
    let mut env = TestEnv::new().await;
    let authority = env.keys.authority.pubkey();
    let mint = token_2022_mint(
        &mut env,
        &[ExtensionType::Pausable],
        |mint| {
            vec![pausable::instruction::initialize(&spl_token_2022::ID, mint, &authority).unwrap()]
        },
        None,
    )
    .await;
    assert_error(
        add_stable(&mut env, mint).await,
        IomeshError::MintIsPausable,
    );
    assert_not_added(&mut env, mint).await;
}

#[tokio::test]
async fn add_payment_mint_refuses_confidential_transfer_mint() {
    let mut env = TestEnv::new().await;
    let authority = env.keys.authority.pubkey();
    let mint = token_2022_mint(
        &mut env,
        &[ExtensionType::ConfidentialTransferMint],
        |mint| {
            vec![confidential_transfer::instruction::initialize_mint(
                &spl_token_2022::ID,
                mint,
                Some(authority),
                false,
                None,
            )
            .unwrap()]
        },
        None,
    )
    .await;
    assert_error(
        add_stable(&mut env, mint).await,
        IomeshError::MintHasConfidentialTransfers,
    );
    assert_not_added(&mut env, mint).await;
}

#[tokio::test]
async fn add_payment_mint_accepts_mint_close_authority_and_metadata_pointer_and_leases_work() {
    let mut env = TestEnv::new().await;
    let authority = env.keys.authority.pubkey();
    let mint = token_2022_mint(
        &mut env,
        &[
            ExtensionType::MintCloseAuthority,
            ExtensionType::MetadataPointer,
        ],
        |mint| {
            vec![
                spl_token_2022::instruction::initialize_mint_close_authority(
                    &spl_token_2022::ID,
                    mint,
                    Some(&authority),
                )
                .unwrap(),
                metadata_pointer::instruction::initialize(
                    &spl_token_2022::ID,
                    mint,
                    Some(authority),
                    Some(*mint),
                )
                .unwrap(),
            ]
        },
        None,
    )
    .await;
    env.add_payment_mint(mint, PriceSource::Stable, 0, 100, "EXT")
        .await
        .unwrap();
    assert_vault(&mut env, mint).await;

    // A full lease in the new mint: escrow, activation, close, payout and refund.
    let node = env.register_node(2).await;
    let owner = node.owner.pubkey();
    let treasury = env.keys.treasury.pubkey();
    env.create_ata(&owner, mint).await;
    env.create_ata(&treasury, mint).await;
    let renter = funded_renter(&mut env, mint).await;
    let lease = env
        .create_lease(LeaseRequest::new(&renter, &node, mint, 7))
        .await
        .unwrap();
    let deposit = expected_deposit(expected_rate(2 * TOKEN, TOKEN, DECIMALS), 1, 3_600);
    assert_eq!(deposit, 2 * TOKEN);
    assert_eq!(env.balance(mint.vault()).await, deposit);
    env.activate(lease, &node).await.unwrap();
    env.warp(i64::from(HOUR)).await;
    let accounts = lease_accounts_in(
        lease,
        node.address,
        &owner,
        mint,
        &treasury,
        &renter.pubkey(),
    );
    let close = env.close_ix(&accounts);
    env.send(&[close], &[]).await.unwrap();
    let fee = expected_fee(deposit, 100);
    assert_eq!(env.balance(mint.ata(&owner)).await, deposit - fee);
    assert_eq!(env.balance(mint.ata(&treasury)).await, fee);
    assert_eq!(
        env.balance(mint.ata(&renter.pubkey())).await,
        1_000 * TOKEN - deposit
    );
    assert_eq!(env.balance(mint.vault()).await, 0);
    assert!(env.lease(lease).await.is_none());
}

#[tokio::test]
async fn add_payment_mint_refuses_same_mint_twice() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let before = env.payment_mint(&usdc).await;
    // The payment mint address is taken: a second add cannot overwrite it.
    assert_error(
        env.add_payment_mint(usdc, PriceSource::Authority, 3_000_000, 5, "USDC2")
            .await,
        IomeshError::AccountAlreadyInUse,
    );
    let after = env.payment_mint(&usdc).await;
    assert_eq!(after.price_source, before.price_source);
    assert_eq!(after.fee_bps, before.fee_bps);
    assert_eq!(after.usd_price_micros, before.usd_price_micros);
}

// ---------------------------------------------------------------- update_payment_mint

#[tokio::test]
async fn update_payment_mint_changes_fee_age_and_enabled() {
    let mut env = TestEnv::new().await;
    let io = env.io;
    env.update_payment_mint(io, update_args(false, 1_000, PriceSource::Authority, 60))
        .await
        .unwrap();
    let pm = env.payment_mint(&io).await;
    assert!(!pm.enabled);
    assert_eq!(pm.fee_bps, 1_000);
    assert_eq!(pm.max_price_age_secs, 60);
    assert_eq!(pm.price_source, PriceSource::Authority);
    assert_eq!(pm.usd_price_micros, IO_PRICE_MICROS, "price untouched");
}

#[tokio::test]
async fn update_payment_mint_refuses_non_authority() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let intruder = env.wallet().await;
    let ix = env.update_payment_mint_ix(
        usdc,
        intruder.pubkey(),
        update_args(false, 0, PriceSource::Stable, 0),
    );
    assert_error(
        env.send(&[ix], &[&intruder]).await,
        IomeshError::NotMarketAuthority,
    );
    let pm = env.payment_mint(&usdc).await;
    assert!(pm.enabled);
    assert_eq!(pm.fee_bps, USDC_FEE_BPS);
}

#[tokio::test]
async fn update_payment_mint_refuses_fee_too_high_and_zero_price_age() {
    let mut env = TestEnv::new().await;
    let io = env.io;
    assert_error(
        env.update_payment_mint(io, update_args(true, 1_001, PriceSource::Authority, 3_600))
            .await,
        IomeshError::FeeTooHigh,
    );
    assert_error(
        env.update_payment_mint(io, update_args(true, 25, PriceSource::Authority, 0))
            .await,
        IomeshError::InvalidMaxPriceAge,
    );
    let pm = env.payment_mint(&io).await;
    assert_eq!(pm.fee_bps, IO_FEE_BPS);
    assert_eq!(pm.max_price_age_secs, 3_600);
}

#[tokio::test]
async fn disabled_payment_mint_refuses_new_leases_but_running_ones_finish() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let renter = funded_renter(&mut env, usdc).await;
    let running = env
        .create_lease(LeaseRequest::new(&renter, &node, usdc, 1))
        .await
        .unwrap();

    env.update_payment_mint(
        usdc,
        update_args(false, USDC_FEE_BPS, PriceSource::Stable, 3_600),
    )
    .await
    .unwrap();
    assert_error(
        env.create_lease(LeaseRequest::new(&renter, &node, usdc, 2))
            .await
            .map(drop),
        IomeshError::PaymentMintDisabled,
    );
    assert!(env.lease(lease_pda(&renter.pubkey(), 2)).await.is_none());

    // The lease created before is unaffected: it runs, is extended and closes.
    env.activate(running, &node).await.unwrap();
    env.extend(running, &renter, 60).await.unwrap();
    env.warp(i64::from(HOUR) + 60).await;
    env.close(running).await.unwrap();
    assert!(env.lease(running).await.is_none());

    // Enabling it again accepts new leases.
    env.update_payment_mint(
        usdc,
        update_args(true, USDC_FEE_BPS, PriceSource::Stable, 3_600),
    )
    .await
    .unwrap();
    env.create_lease(LeaseRequest::new(&renter, &node, usdc, 2))
        .await
        .unwrap();
}

#[tokio::test]
async fn update_payment_mint_fee_applies_to_new_leases_only() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let renter = funded_renter(&mut env, usdc).await;
    let old = env
        .create_lease(LeaseRequest::new(&renter, &node, usdc, 1))
        .await
        .unwrap();
    env.update_payment_mint(usdc, update_args(true, 500, PriceSource::Stable, 3_600))
        .await
        .unwrap();
    let new = env
        .create_lease(LeaseRequest::new(&renter, &node, usdc, 2))
        .await
        .unwrap();
    assert_eq!(env.lease(old).await.unwrap().fee_bps, USDC_FEE_BPS);
    assert_eq!(env.lease(new).await.unwrap().fee_bps, 500);

    // The old lease is charged its locked fee at payout.
    env.activate(old, &node).await.unwrap();
    env.warp(i64::from(HOUR)).await;
    env.close(old).await.unwrap();
    let payout = 2 * TOKEN;
    assert_eq!(
        env.balance(usdc.ata(&env.keys.treasury.pubkey())).await,
        expected_fee(payout, USDC_FEE_BPS)
    );
}

#[tokio::test]
async fn switching_stable_mint_to_authority_priced_requires_a_fresh_price() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    let node = env.register_node(4).await;
    let renter = funded_renter(&mut env, usdc).await;
    env.update_payment_mint(
        usdc,
        update_args(true, USDC_FEE_BPS, PriceSource::Authority, 3_600),
    )
    .await
    .unwrap();
    let pm = env.payment_mint(&usdc).await;
    assert_eq!(pm.price_source, PriceSource::Authority);
    assert_eq!(pm.price_updated_at, 0, "no trusted price yet");

    assert_error(
        env.create_lease(LeaseRequest::new(&renter, &node, usdc, 1))
            .await
            .map(drop),
        IomeshError::StalePrice,
    );

    // The price authority prices it (USDC slightly below the peg: $0.99).
    env.set_mint_price(usdc, 990_000).await.unwrap();
    let lease = env
        .create_lease(LeaseRequest::new(&renter, &node, usdc, 1))
        .await
        .unwrap();
    let rate = expected_rate(2 * TOKEN, 990_000, DECIMALS);
    assert_eq!(rate, 2_020_203);
    let state = env.lease(lease).await.unwrap();
    assert_eq!(state.rate_per_gpu_hour, rate);
    assert_eq!(state.deposited, expected_deposit(rate, 1, 3_600));
}

#[tokio::test]
async fn switching_authority_priced_mint_to_stable_prices_it_at_one_usd() {
    let mut env = TestEnv::new().await;
    let io = env.io;
    env.update_payment_mint(
        io,
        update_args(true, IO_FEE_BPS, PriceSource::Stable, 3_600),
    )
    .await
    .unwrap();
    let pm = env.payment_mint(&io).await;
    assert_eq!(pm.price_source, PriceSource::Stable);
    assert_eq!(pm.usd_price_micros, 1_000_000);
    // A stable mint ignores price age: no refresh needed even much later.
    env.warp(10 * i64::from(HOUR)).await;
    let node = env.register_node(1).await;
    let renter = funded_renter(&mut env, io).await;
    let lease = env
        .create_lease(LeaseRequest::new(&renter, &node, io, 1))
        .await
        .unwrap();
    assert_eq!(env.lease(lease).await.unwrap().rate_per_gpu_hour, 2 * TOKEN);
    // And it can no longer be priced by the price authority.
    assert_error(
        env.set_mint_price(io, 400_000).await,
        IomeshError::StablePriceMustBeOneUsd,
    );
}

// ---------------------------------------------------------------- set_mint_price

#[tokio::test]
async fn set_mint_price_updates_price_and_time() {
    let mut env = TestEnv::new().await;
    let io = env.io;
    env.warp(1_234).await;
    let now = env.now().await;
    env.set_io_price(2_000_000).await.unwrap();
    let pm = env.payment_mint(&io).await;
    assert_eq!(pm.usd_price_micros, 2_000_000);
    assert_eq!(pm.price_updated_at, now);
    // New leases are quoted at the new price: $2.00 per GPU-hour at $2.00 per IO = 1 IO.
    let node = env.register_node(1).await;
    let renter = funded_renter(&mut env, io).await;
    let lease = env
        .create_lease(LeaseRequest::new(&renter, &node, io, 1))
        .await
        .unwrap();
    assert_eq!(env.lease(lease).await.unwrap().rate_per_gpu_hour, TOKEN);
}

#[tokio::test]
async fn set_mint_price_refuses_non_price_authority() {
    let mut env = TestEnv::new().await;
    let io = env.io;
    let updated_at = env.payment_mint(&io).await.price_updated_at;
    for signer in [env.wallet().await, env.keys.authority.insecure_clone()] {
        let ix = ix(
            acc::SetMintPrice {
                market: market_pda(),
                payment_mint: payment_mint_pda(&io.mint),
                price_authority: signer.pubkey(),
            },
            args::SetMintPrice {
                usd_price_micros: 1,
            },
        );
        assert_error(
            env.send(&[ix], &[&signer]).await,
            IomeshError::NotPriceAuthority,
        );
    }
    let pm = env.payment_mint(&io).await;
    assert_eq!(pm.usd_price_micros, IO_PRICE_MICROS);
    assert_eq!(pm.price_updated_at, updated_at);
}

#[tokio::test]
async fn set_mint_price_refuses_zero() {
    let mut env = TestEnv::new().await;
    let io = env.io;
    assert_error(env.set_io_price(0).await, IomeshError::ZeroPrice);
    assert_eq!(
        env.payment_mint(&io).await.usd_price_micros,
        IO_PRICE_MICROS
    );
}

#[tokio::test]
async fn set_mint_price_refuses_stable_mint() {
    let mut env = TestEnv::new().await;
    let usdc = env.usdc;
    assert_error(
        env.set_mint_price(usdc, 2_000_000).await,
        IomeshError::StablePriceMustBeOneUsd,
    );
    assert_eq!(env.payment_mint(&usdc).await.usd_price_micros, 1_000_000);
}

#[tokio::test]
async fn stale_price_refuses_create_lease_until_refreshed() {
    let mut env = TestEnv::new().await;
    let io = env.io;
    let node = env.register_node(4).await;
    let renter = funded_renter(&mut env, io).await;
    let priced_at = env.payment_mint(&io).await.price_updated_at;
    assert_eq!(env.payment_mint(&io).await.max_price_age_secs, 3_600);

    // Exactly max_price_age_secs old is still fresh.
    let now = env.now().await;
    env.warp(priced_at + 3_600 - now).await;
    env.create_lease(LeaseRequest::new(&renter, &node, io, 1))
        .await
        .unwrap();
    // One second more and it is stale.
    env.warp(1).await;
    assert_error(
        env.create_lease(LeaseRequest::new(&renter, &node, io, 2))
            .await
            .map(drop),
        IomeshError::StalePrice,
    );
    // A stale price does not block running leases from settling.
    let first = lease_pda(&renter.pubkey(), 1);
    env.activate(first, &node).await.unwrap();
    env.warp(60).await;
    env.settle(first).await.unwrap();

    // Refreshing the price fixes it.
    env.set_io_price(IO_PRICE_MICROS).await.unwrap();
    let lease = env
        .create_lease(LeaseRequest::new(&renter, &node, io, 2))
        .await
        .unwrap();
    assert_eq!(
        env.lease(lease).await.unwrap().rate_per_gpu_hour,
        expected_rate(2 * TOKEN, IO_PRICE_MICROS, DECIMALS)
    );
}
