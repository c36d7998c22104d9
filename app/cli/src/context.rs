//! What every command needs: the client, the signer, the output format and
//! the names of tokens; plus the conversions from flags to program values.

use crate::{
    args::{Commitment, Global},
    config::{self, KeypairSource, SolanaConfig},
    output::OutputFormat,
};
use anchor_lang::prelude::Pubkey;
use anyhow::{anyhow, bail, Context as _, Result};
use iomesh_client::{
    bootstrap::Bootstrap,
    iomesh::state::{decode_text, PaymentMint},
    units, Client,
};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use std::{cell::OnceCell, path::PathBuf, str::FromStr};

pub struct Context {
    pub client: Client,
    pub output: OutputFormat,
    pub keypair: KeypairSource,
    pub localnet_dir: PathBuf,
    /// The scheduler's HTTP API, when given.
    pub scheduler: Option<String>,
    /// The marketplace's web service, when given.
    pub market: Option<String>,
    payment_mints: tokio::sync::OnceCell<Vec<PaymentMint>>,
    bootstrap: OnceCell<Option<Bootstrap>>,
}

impl Context {
    pub fn new(global: &Global) -> Result<Self> {
        let solana_config = SolanaConfig::load(global.config.as_deref())?;
        let url = match (&global.url, &solana_config.json_rpc_url) {
            (Some(url), _) => config::resolve_url(url)?,
            (None, Some(url)) => {
                config::resolve_url(url).context("json_rpc_url in the Solana CLI config")?
            }
            (None, None) => config::LOCALHOST_URL.to_string(),
        };
        // The flag, else the Solana CLI config's commitment, else confirmed.
        let commitment = match (global.commitment, solana_config.commitment.as_deref()) {
            (Some(Commitment::Processed), _) | (None, Some("processed")) => {
                CommitmentConfig::processed()
            }
            (Some(Commitment::Finalized), _) | (None, Some("finalized")) => {
                CommitmentConfig::finalized()
            }
            _ => CommitmentConfig::confirmed(),
        };
        Ok(Self {
            client: Client::new(url, commitment)
                .with_compute_unit_price(global.with_compute_unit_price),
            output: global.output,
            keypair: KeypairSource::resolve(global.keypair.as_deref(), &solana_config),
            localnet_dir: global
                .localnet_dir
                .clone()
                .unwrap_or_else(config::default_localnet_dir),
            scheduler: global.scheduler.clone(),
            market: global.market.clone(),
            payment_mints: tokio::sync::OnceCell::new(),
            bootstrap: OnceCell::new(),
        })
    }

    /// The scheduler's HTTP API (`--scheduler`), which renter commands need.
    pub fn scheduler_url(&self) -> Result<String> {
        self.scheduler.clone().ok_or_else(|| {
            anyhow!("this needs a scheduler: pass --scheduler http://HOST:PORT (or set IOMESH_SCHEDULER_URL)")
        })
    }

    /// The signer (`--keypair`).
    pub fn signer(&self) -> Result<Keypair> {
        self.keypair.load()
    }

    /// `bootstrap.json` of the localnet directory, if there is one.
    pub fn bootstrap(&self) -> Result<Option<&Bootstrap>> {
        if self.bootstrap.get().is_none() {
            let loaded = Bootstrap::load(&self.localnet_dir)?;
            let _ = self.bootstrap.set(loaded);
        }
        Ok(self.bootstrap.get().and_then(Option::as_ref))
    }

    /// The market's payment mints, read once.
    pub async fn payment_mints(&self) -> Result<&[PaymentMint]> {
        let mints = self
            .payment_mints
            .get_or_try_init(|| async {
                match self.client.payment_mints().await {
                    Ok(mints) => Ok(mints),
                    Err(err) => Err(err),
                }
            })
            .await?;
        Ok(mints)
    }

    /// A payment mint by symbol (on-chain, else bootstrap.json) or address.
    pub async fn resolve_payment_mint(&self, input: &str) -> Result<PaymentMint> {
        if let Ok(mint) = Pubkey::from_str(input) {
            return Ok(self.client.payment_mint(&mint).await?);
        }
        let mints = self.payment_mints().await?;
        if let Some(found) = mints
            .iter()
            .find(|m| decode_text(&m.symbol).eq_ignore_ascii_case(input))
        {
            return Ok(found.clone());
        }
        if let Some(entry) = self.bootstrap()?.and_then(|b| b.mint(input)) {
            return Ok(self.client.payment_mint(&entry.mint).await?);
        }
        let known: Vec<&str> = mints.iter().map(|m| decode_text(&m.symbol)).collect();
        bail!(
            "unknown token `{input}`: the market accepts {} (or pass a mint address)",
            if known.is_empty() {
                "no payment mint yet".to_string()
            } else {
                known.join(", ")
            }
        )
    }
}

/// `amount` base units of a payment mint with its symbol: "12.5 IO".
pub fn token_amount(units: u64, mint: &PaymentMint) -> String {
    format!(
        "{} {}",
        units::format_amount(units, mint.decimals),
        decode_text(&mint.symbol)
    )
}

pub fn pubkey(input: &str, what: &str) -> Result<Pubkey> {
    Pubkey::from_str(input.trim())
        .map_err(|_| anyhow!("invalid {what} `{input}`: expected a base58 public key"))
}

/// A duration flag in seconds that fits the program's u32 fields.
pub fn duration_secs(input: &str, flag: &str) -> Result<u32> {
    let secs = units::parse_duration(input).with_context(|| format!("--{flag}"))?;
    u32::try_from(secs).map_err(|_| anyhow!("--{flag} `{input}` is too long"))
}

/// `--hours`: a number of hours with up to two decimals (1.5), or a duration (90m).
pub fn hours_secs(input: &str) -> Result<u32> {
    units::parse_hours(input).map_err(|e| match e {
        units::ParseError::TooPrecise { .. } => {
            anyhow!("--hours: {e} (hours take at most 2 decimals)")
        }
        e => anyhow!("--hours: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_accept_decimals_and_durations() {
        assert_eq!(hours_secs("2").unwrap(), 7_200);
        assert_eq!(hours_secs("1.5").unwrap(), 5_400);
        assert_eq!(hours_secs("0.01").unwrap(), 36);
        assert_eq!(hours_secs("90m").unwrap(), 5_400);
        assert_eq!(hours_secs("1h30m").unwrap(), 5_400);
        assert!(hours_secs("0").is_err());
        assert!(hours_secs("1.234")
            .unwrap_err()
            .to_string()
            .contains("2 decimals"));
        assert!(hours_secs("-1").is_err());
        assert!(hours_secs("2000000h").is_err());
    }

    #[test]
    fn pubkeys_are_named_when_invalid() {
        let err = pubkey("nope", "node").unwrap_err().to_string();
        assert_eq!(err, "invalid node `nope`: expected a base58 public key");
    }
}
