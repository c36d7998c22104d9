//! A ready-to-use market on a fresh localnet, created over JSON-RPC like any
//! client would: three payment mints whose mint authority is a faucet key,
//! the market, its payment mints and treasury token accounts, IO staking, IOSD
//! minting; and the `bootstrap.json` that tells the tools where everything is.
//!
//! Keypairs of the faucet and the mints live in the localnet directory and are
//! reused, so the mint addresses stay the same across localnet restarts.

use crate::{
    error::{Error, Result},
    instructions, pda,
    tokens::TokenMint,
    Client,
};
use anchor_lang::prelude::Pubkey;
use anchor_spl::{token::spl_token, token_2022::spl_token_2022};
use iomesh::{state::PriceSource, AddPaymentMintArgs, IosdPolicy, MarketParams, StakingPolicy};
use serde::{Deserialize, Serialize};
use solana_keypair::{read_keypair_file, write_keypair_file, Keypair};
use solana_signer::Signer;
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

pub const BOOTSTRAP_FILE: &str = "bootstrap.json";
pub const FAUCET_KEYPAIR_FILE: &str = "faucet.json";

/// Decimals of every localnet mint (as USDC and the IO token on mainnet).
pub const DECIMALS: u8 = 6;
/// SOL airdropped to the market authority (fees, rent of mints and accounts).
pub const AUTHORITY_AIRDROP_LAMPORTS: u64 = 100_000_000_000;

/// The market policy a bootstrap sets (the program's test fixture values).
pub const ACTIVATION_TIMEOUT_SECS: u32 = 600;
pub const MIN_LEASE_SECS: u32 = 60;
pub const MAX_LEASE_SECS: u32 = 30 * 24 * 3_600;
pub const FAILURE_GRACE_SECS: u32 = 120;
/// An authority-set price stays usable this long; a localnet runs for days
/// without a price feed, so it is long.
pub const MAX_PRICE_AGE_SECS: u32 = 365 * 24 * 3_600;

/// The staking policy a bootstrap sets. No stake is required to take leases
/// (so a fresh localnet works without staking); unstaked IO waits 14 days,
/// as on mainnet, and a slash stays reversible for 3 days.
pub const STAKE_PER_GPU: u64 = 0;
pub const UNSTAKE_COOLDOWN_SECS: u32 = 14 * 24 * 3_600;
pub const SLASH_APPEAL_SECS: u32 = 3 * 24 * 3_600;

/// The IOSD minting policy a bootstrap sets. A localnet runs no Pyth
/// receiver, so nothing publishes this feed: a price account (owned by
/// `iomesh::oracle::PYTH_RECEIVER_ID`) must be written into the bank by hand
/// (`Localnet::set_account`). The id is a readable localnet stand-in, not
/// Pyth's mainnet Crypto.IO/USD id (see https://pyth.network/developers/price-feed-ids).
pub const IO_USD_FEED_ID: [u8; 32] = *b"iomesh-localnet/Crypto.IO/USD\0\0\0";
/// Pyth pull prices are posted right before use: a minute is plenty.
pub const IOSD_MAX_PRICE_AGE_SECS: u32 = 60;
/// Refuse prices whose confidence interval is wider than 2 % of the price.
pub const IOSD_MAX_CONFIDENCE_BPS: u16 = 200;
/// Circuit breaker: at most 1,000,000 IOSD minted per hour.
pub const IOSD_WINDOW_SECS: u32 = 3_600;
pub const IOSD_WINDOW_CAP: u64 = 1_000_000 * 10u64.pow(DECIMALS as u32);

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

/// What `bootstrap.json` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bootstrap {
    pub rpc_url: String,
    /// Yellowstone gRPC endpoint, when the localnet serves one.
    pub grpc_url: Option<String>,
    #[serde(with = "crate::serde_pubkey")]
    pub program_id: Pubkey,
    #[serde(with = "crate::serde_pubkey")]
    pub market: Pubkey,
    #[serde(with = "crate::serde_pubkey")]
    pub authority: Pubkey,
    /// Wallet whose token accounts receive network fees (the authority).
    #[serde(with = "crate::serde_pubkey")]
    pub treasury: Pubkey,
    /// Mint authority of every mint: `iomesh faucet` signs with it.
    pub faucet_keypair: PathBuf,
    /// By symbol.
    pub mints: BTreeMap<String, BootstrapMint>,
    /// IOSD minting, when set up (absent in files of older bootstraps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iosd: Option<BootstrapIosd>,
}

/// The IOSD config: its mint's authority is the program, so the faucet cannot
/// mint IOSD; `iomesh iosd mint` burns IO for it at the feed's price.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapIosd {
    #[serde(with = "crate::serde_pubkey")]
    pub config: Pubkey,
    #[serde(with = "crate::serde_pubkey")]
    pub mint_authority: Pubkey,
    /// Owner a price account must have (the Pyth receiver program).
    #[serde(with = "crate::serde_pubkey")]
    pub price_update_owner: Pubkey,
    /// Hex.
    pub price_feed_id: String,
    pub max_price_age_secs: u32,
    pub max_confidence_bps: u16,
    pub window_secs: u32,
    pub window_cap: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapMint {
    #[serde(with = "crate::serde_pubkey")]
    pub mint: Pubkey,
    pub decimals: u8,
    #[serde(with = "crate::serde_pubkey")]
    pub token_program: Pubkey,
    /// The escrow token account of the mint.
    #[serde(with = "crate::serde_pubkey")]
    pub vault: Pubkey,
    #[serde(with = "crate::serde_pubkey")]
    pub payment_mint: Pubkey,
    pub fee_bps: u16,
    /// "stable" or "authority".
    pub price_source: String,
    pub usd_price_micros: u64,
}

impl BootstrapMint {
    pub fn token_mint(&self) -> TokenMint {
        TokenMint {
            mint: self.mint,
            token_program: self.token_program,
        }
    }
}

impl Bootstrap {
    /// Reads `<dir>/bootstrap.json`; `None` if there is none.
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(BOOTSTRAP_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(file_error(&path, err)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|err| file_error(&path, format!("not a bootstrap file: {err}")))
    }

    pub fn save(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join(BOOTSTRAP_FILE);
        let text = serde_json::to_string_pretty(self).expect("bootstrap serialises");
        std::fs::write(&path, text + "\n").map_err(|err| file_error(&path, err))?;
        Ok(path)
    }

    /// A mint by symbol, case-insensitively.
    pub fn mint(&self, symbol: &str) -> Option<&BootstrapMint> {
        self.mints
            .iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(symbol))
            .map(|(_, m)| m)
    }

    /// The symbol of a mint address.
    pub fn symbol_of(&self, mint: &Pubkey) -> Option<&str> {
        self.mints
            .iter()
            .find(|(_, m)| m.mint == *mint)
            .map(|(s, _)| s.as_str())
    }
}

fn file_error(path: &Path, detail: impl ToString) -> Error {
    Error::File {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    }
}

/// The keypair at `path`, created (with its directory) if missing.
pub fn load_or_create_keypair(path: &Path) -> Result<Keypair> {
    if path.exists() {
        return read_keypair_file(path).map_err(|err| file_error(path, err));
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|err| file_error(parent, err))?;
    }
    let keypair = Keypair::new();
    write_keypair_file(&keypair, path).map_err(|err| file_error(path, err))?;
    Ok(keypair)
}

/// Requests an airdrop and waits until it reaches the client's commitment.
pub async fn airdrop(client: &Client, to: &Pubkey, lamports: u64) -> Result<()> {
    let rpc = client.rpc();
    let signature = rpc
        .request_airdrop(to, lamports)
        .await
        .map_err(|e| client.rpc_error(e))?;
    for _ in 0..600 {
        let confirmed = rpc
            .confirm_transaction_with_commitment(&signature, rpc.commitment())
            .await
            .map_err(|e| client.rpc_error(e))?;
        if confirmed.value {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(Error::Rpc {
        url: client.url().to_string(),
        detail: format!("airdrop {signature} was not confirmed within 30 s"),
    })
}

/// Bootstraps the market on the chain `client` talks to, with `authority` as
/// market authority (and treasury, scheduler and price authority), keypairs
/// and `bootstrap.json` in `dir`. Safe to run again: what exists is kept.
pub async fn run(
    client: &Client,
    dir: &Path,
    authority: &Keypair,
    grpc_url: Option<String>,
) -> Result<Bootstrap> {
    std::fs::create_dir_all(dir).map_err(|err| file_error(dir, err))?;
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

/// Mints `amount` base units of `mint` into `recipient`'s associated token
/// account (created if missing), signed by the faucet; `fee_payer` pays.
pub async fn faucet_mint_to(
    client: &Client,
    faucet: &Keypair,
    mint: &TokenMint,
    recipient: &Pubkey,
    amount: u64,
    fee_payer: &Keypair,
) -> Result<Pubkey> {
    let account = mint.ata(recipient);
    let create = instructions::create_ata_idempotent(&fee_payer.pubkey(), recipient, mint);
    let mint_to = spl_token_2022::instruction::mint_to(
        &mint.token_program,
        &mint.mint,
        &account,
        &faucet.pubkey(),
        &[],
        amount,
    )
    .map_err(|err| Error::Invalid(format!("mint_to: {err}")))?;
    client
        .send(&[create, mint_to], fee_payer, &[faucet])
        .await?;
    Ok(account)
}
