//! The localnet's ready-to-use market, created over JSON-RPC like any client
//! would: three payment mints whose mint authority is a faucet key, the
//! market, its payment mints and treasury token accounts, IO staking, IOSD
//! minting; and the `bootstrap.json` that tells the tools where everything is
//! (its format and the parameters are the client library's
//! `iomesh_client::bootstrap`, which the wallet CLI reads).

use anchor_spl::{token::spl_token, token_2022::spl_token_2022};
use iomesh::{state::PriceSource, AddPaymentMintArgs, IosdPolicy, MarketParams, StakingPolicy};
use iomesh_client::{
    bootstrap::{
        airdrop, load_or_create_keypair, Bootstrap, BootstrapIosd, BootstrapMint,
        ACTIVATION_TIMEOUT_SECS, AUTHORITY_AIRDROP_LAMPORTS, DECIMALS, FAILURE_GRACE_SECS,
        FAUCET_KEYPAIR_FILE, IOSD_MAX_CONFIDENCE_BPS, IOSD_MAX_PRICE_AGE_SECS, IOSD_WINDOW_CAP,
        IOSD_WINDOW_SECS, IO_USD_FEED_ID, MAX_LEASE_SECS, MAX_PRICE_AGE_SECS, MIN_LEASE_SECS,
        SLASH_APPEAL_SECS, STAKE_PER_GPU, UNSTAKE_COOLDOWN_SECS,
    },
    error::{Error, Result},
    instructions, pda,
    tokens::TokenMint,
    Client,
};
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use std::{collections::BTreeMap, path::Path};

pub fn iosd_policy() -> IosdPolicy {
    IosdPolicy {
        price_feed_id: IO_USD_FEED_ID,
        max_price_age_secs: IOSD_MAX_PRICE_AGE_SECS,
        max_confidence_bps: IOSD_MAX_CONFIDENCE_BPS,
        window_secs: IOSD_WINDOW_SECS,
        window_cap: IOSD_WINDOW_CAP,
    }
}

/// One payment mint a bootstrap creates.
pub struct MintPlan {
    pub symbol: &'static str,
    pub token_program: Pubkey,
    pub price_source: PriceSource,
    /// Micro-USD per whole token (ignored for stable mints: always $1).
    pub usd_price_micros: u64,
    pub fee_bps: u16,
}

/// IO: the utility token, priced by the authority at $0.50, 25 bps fee.
/// IOSD: the USD credit on Token-2022, stable, no fee.
/// USDC: stable, 200 bps fee.
pub fn localnet_mints() -> [MintPlan; 3] {
    [
        MintPlan {
            symbol: "IO",
            token_program: spl_token::ID,
            price_source: PriceSource::Authority,
            usd_price_micros: 500_000,
            fee_bps: 25,
        },
        MintPlan {
            symbol: "IOSD",
            token_program: spl_token_2022::ID,
            price_source: PriceSource::Stable,
            usd_price_micros: 1_000_000,
            fee_bps: 0,
        },
        MintPlan {
            symbol: "USDC",
            token_program: spl_token::ID,
            price_source: PriceSource::Stable,
            usd_price_micros: 1_000_000,
            fee_bps: 200,
        },
    ]
}

/// Bootstraps the market on the chain `client` talks to, with `authority` as
/// market authority (and treasury, scheduler and price authority), keypairs
/// and `bootstrap.json` in `dir`. Safe to run again: what exists is kept.
pub async fn bootstrap(
    client: &Client,
    dir: &Path,
    authority: &Keypair,
    grpc_url: Option<String>,
) -> Result<Bootstrap> {
    std::fs::create_dir_all(dir).map_err(|err| Error::File {
        path: dir.to_path_buf(),
        detail: err.to_string(),
    })?;
    let faucet_path = dir.join(FAUCET_KEYPAIR_FILE);
    let faucet = load_or_create_keypair(&faucet_path)?;
    let me = authority.pubkey();
    airdrop(client, &me, AUTHORITY_AIRDROP_LAMPORTS).await?;

    if client
        .fetch::<iomesh::state::Market>(&pda::market())
        .await?
        .is_none()
    {
        let params = MarketParams {
            treasury: me,
            scheduler_authority: me,
            price_authority: me,
            reward_authority: me,
            activation_timeout_secs: ACTIVATION_TIMEOUT_SECS,
            min_lease_secs: MIN_LEASE_SECS,
            max_lease_secs: MAX_LEASE_SECS,
            failure_grace_secs: FAILURE_GRACE_SECS,
        };
        client
            .send(
                &[instructions::initialize_market(&me, params)],
                authority,
                &[],
            )
            .await?;
    }
    let market = client.market().await?;

    let mut mints = BTreeMap::new();
    for plan in localnet_mints() {
        let path = dir
            .join("mints")
            .join(format!("{}.json", plan.symbol.to_lowercase()));
        let mint_keypair = load_or_create_keypair(&path)?;
        let mint = TokenMint {
            mint: mint_keypair.pubkey(),
            token_program: plan.token_program,
        };
        if client.account(&mint.mint).await?.is_none() {
            create_mint(client, authority, &mint_keypair, &mint, &faucet.pubkey()).await?;
        }
        let payment_mint = match client
            .fetch::<iomesh::state::PaymentMint>(&pda::payment_mint(&mint.mint))
            .await?
        {
            Some(existing) => existing,
            None => {
                let args = AddPaymentMintArgs {
                    fee_bps: plan.fee_bps,
                    price_source: plan.price_source,
                    usd_price_micros: plan.usd_price_micros,
                    max_price_age_secs: MAX_PRICE_AGE_SECS,
                    symbol: plan.symbol.to_string(),
                };
                let add = instructions::add_payment_mint(&me, &mint, args);
                let treasury_account =
                    instructions::create_ata_idempotent(&me, &market.treasury, &mint);
                client
                    .send(&[add, treasury_account], authority, &[])
                    .await?;
                client.payment_mint(&mint.mint).await?
            }
        };
        mints.insert(
            plan.symbol.to_string(),
            BootstrapMint {
                mint: mint.mint,
                decimals: payment_mint.decimals,
                token_program: mint.token_program,
                vault: payment_mint.vault,
                payment_mint: pda::payment_mint(&mint.mint),
                fee_bps: payment_mint.fee_bps,
                price_source: match payment_mint.price_source {
                    PriceSource::Stable => "stable",
                    PriceSource::Authority => "authority",
                    PriceSource::Oracle => "oracle",
                }
                .to_string(),
                usd_price_micros: payment_mint.usd_price_micros,
            },
        );
    }

    // Staking and rewards in IO: the stake vault, rewards reserve and escrow,
    // and the staking policy (the authority also slashes).
    if client.market().await?.io_mint == Pubkey::default() {
        let io = mints
            .get("IO")
            .expect("the IO mint is bootstrapped")
            .token_mint();
        let policy = StakingPolicy {
            slash_authority: me,
            stake_per_gpu: STAKE_PER_GPU,
            unstake_cooldown_secs: UNSTAKE_COOLDOWN_SECS,
            slash_appeal_secs: SLASH_APPEAL_SECS,
        };
        client
            .send(
                &[
                    instructions::init_io_vaults(&me, &io),
                    instructions::set_staking_policy(&me, policy),
                ],
                authority,
                &[],
            )
            .await?;
    }

    // IOSD minting: the faucet hands the IOSD mint to the program's PDA and
    // the config is created in the same transaction, so a failure leaves the
    // faucet still able to mint and a rerun tries again.
    let config = match client
        .fetch::<iomesh::state::IosdConfig>(&pda::iosd_config())
        .await?
    {
        Some(config) => config,
        None => {
            let iosd = mints
                .get("IOSD")
                .expect("the IOSD mint is bootstrapped")
                .token_mint();
            let hand_over = spl_token_2022::instruction::set_authority(
                &iosd.token_program,
                &iosd.mint,
                Some(&pda::iosd_mint_authority()),
                spl_token_2022::instruction::AuthorityType::MintTokens,
                &faucet.pubkey(),
                &[],
            )
            .map_err(|err| Error::Invalid(format!("set_authority: {err}")))?;
            client
                .send(
                    &[
                        hand_over,
                        instructions::init_iosd(&me, &iosd, iosd_policy()),
                    ],
                    authority,
                    &[&faucet],
                )
                .await?;
            client.iosd_config().await?
        }
    };
    let iosd = BootstrapIosd {
        config: pda::iosd_config(),
        mint_authority: pda::iosd_mint_authority(),
        price_update_owner: iomesh::oracle::PYTH_RECEIVER_ID,
        price_feed_id: hex(&config.price_feed_id),
        max_price_age_secs: config.max_price_age_secs,
        max_confidence_bps: config.max_confidence_bps,
        window_secs: config.window_secs,
        window_cap: config.window_cap,
    };

    let bootstrap = Bootstrap {
        rpc_url: client.url().to_string(),
        grpc_url,
        program_id: iomesh::ID,
        market: pda::market(),
        authority: market.authority,
        treasury: market.treasury,
        faucet_keypair: faucet_path,
        mints,
        iosd: Some(iosd),
    };
    bootstrap.save(dir)?;
    Ok(bootstrap)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A mint without extensions (82 bytes in both token programs) with
/// `mint_authority` and no freeze authority.
async fn create_mint(
    client: &Client,
    payer: &Keypair,
    mint_keypair: &Keypair,
    mint: &TokenMint,
    mint_authority: &Pubkey,
) -> Result<()> {
    const MINT_SPACE: usize = 82;
    let rent = client
        .rpc()
        .get_minimum_balance_for_rent_exemption(MINT_SPACE)
        .await
        .map_err(|e| client.rpc_error(e))?;
    let create = solana_system_interface::instruction::create_account(
        &payer.pubkey(),
        &mint.mint,
        rent,
        MINT_SPACE as u64,
        &mint.token_program,
    );
    let init = spl_token_2022::instruction::initialize_mint2(
        &mint.token_program,
        &mint.mint,
        mint_authority,
        None,
        DECIMALS,
    )
    .map_err(|err| Error::Invalid(format!("initialize_mint2: {err}")))?;
    client
        .send(&[create, init], payer, &[mint_keypair])
        .await
        .map(|_| ())
}
