//! What a bootstrapped localnet market is, for the tools that use one: the
//! `bootstrap.json` that says where everything is, the parameters the
//! bootstrap chose, and the faucet and airdrop helpers the wallet commands
//! offer on a localnet. The bootstrap itself runs on the localnet's side
//! (`iomesh_localnet::market`).
//!
//! Keypairs of the faucet and the mints live in the localnet directory and are
//! reused, so the mint addresses stay the same across localnet restarts.

use crate::{
    error::{Error, Result},
    instructions,
    tokens::TokenMint,
    Client,
};
use anchor_lang::prelude::Pubkey;
use anchor_spl::token_2022::spl_token_2022;
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
