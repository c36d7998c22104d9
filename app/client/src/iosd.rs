//! The IOSD a `mint_iosd` would give, computed with the program's own oracle
//! parsing and rounding, so the quote shown is what the program will pay
//! (unless the price moves before the transaction lands: `min_iosd_out`).

use crate::{
    error::{Error, Result},
    Client,
};
use anchor_lang::prelude::{AccountInfo, Pubkey};
use iomesh::{
    oracle::{self, OraclePolicy, OraclePrice},
    state::IosdConfig,
};

/// What burning some IO yields at the current oracle price.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IosdQuote {
    /// IOSD base units minted.
    pub iosd_out: u64,
    pub price: OraclePrice,
    /// Micro-USD per whole IO at the low end of the confidence interval (the price used).
    pub usd_micros_per_io: u64,
}

/// The quote for `io_amount` base units at `now`, from the raw price account.
pub fn quote(
    config: &IosdConfig,
    price_update: (&Pubkey, &solana_account::Account),
    io_decimals: u8,
    iosd_decimals: u8,
    io_amount: u64,
    now: i64,
) -> Result<IosdQuote> {
    let (key, account) = price_update;
    let mut lamports = account.lamports;
    let mut data = account.data.clone();
    let info = AccountInfo::new(
        key,
        false,
        false,
        &mut lamports,
        &mut data,
        &account.owner,
        false,
    );
    let policy = OraclePolicy {
        feed_id: config.price_feed_id,
        max_age_secs: config.max_price_age_secs,
        max_confidence_bps: config.max_confidence_bps,
    };
    let refused = |err: anchor_lang::error::Error| {
        Error::Invalid(format!("price account {key} cannot be used: {err}"))
    };
    let price = oracle::read_price(&info, &policy, now).map_err(refused)?;
    let iosd_out =
        oracle::iosd_for_io(io_amount, &price, io_decimals, iosd_decimals).map_err(refused)?;
    let usd_micros_per_io = oracle::usd_micros_per_token(&price).map_err(refused)?;
    Ok(IosdQuote {
        iosd_out,
        price,
        usd_micros_per_io,
    })
}

impl Client {
    /// The quote for burning `io_amount` IO base units, read now.
    pub async fn iosd_quote(
        &self,
        config: &IosdConfig,
        price_update: &Pubkey,
        io_decimals: u8,
        iosd_decimals: u8,
        io_amount: u64,
        now: i64,
    ) -> Result<IosdQuote> {
        let account = self.account(price_update).await?.ok_or_else(|| {
            Error::Invalid(format!(
                "no price account at {price_update}: pass the Pyth PriceUpdateV2 account of the IO/USD feed"
            ))
        })?;
        quote(
            config,
            (price_update, &account),
            io_decimals,
            iosd_decimals,
            io_amount,
            now,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iomesh::oracle::{PRICE_UPDATE_V2_DISCRIMINATOR, PYTH_RECEIVER_ID};

    const FEED: [u8; 32] = [7; 32];
    const NOW: i64 = 1_800_000_000;

    fn config() -> IosdConfig {
        IosdConfig {
            version: 1,
            bump: 255,
            mint_authority_bump: 254,
            max_confidence_bps: 100,
            max_price_age_secs: 60,
            window_secs: 3_600,
            iosd_mint: Pubkey::new_unique(),
            price_feed_id: FEED,
            window_cap: u64::MAX,
            window_start: 0,
            window_minted: 0,
            total_io_burned: 0,
            total_iosd_minted: 0,
            reserved: [0; 64],
        }
    }

    /// A fully verified PriceUpdateV2 as the Pyth receiver posts it (exponent −8).
    fn price_account(
        feed: [u8; 32],
        price: i64,
        conf: u64,
        publish_time: i64,
    ) -> solana_account::Account {
        let mut data = PRICE_UPDATE_V2_DISCRIMINATOR.to_vec();
        data.extend_from_slice(Pubkey::new_unique().as_ref());
        data.push(1);
        data.extend_from_slice(&feed);
        data.extend_from_slice(&price.to_le_bytes());
        data.extend_from_slice(&conf.to_le_bytes());
        data.extend_from_slice(&(-8i32).to_le_bytes());
        data.extend_from_slice(&publish_time.to_le_bytes());
        data.extend_from_slice(&(publish_time - 1).to_le_bytes());
        data.extend_from_slice(&price.to_le_bytes());
        data.extend_from_slice(&conf.to_le_bytes());
        data.extend_from_slice(&1u64.to_le_bytes());
        solana_account::Account {
            lamports: 1,
            data,
            owner: PYTH_RECEIVER_ID,
            executable: false,
            rent_epoch: 0,
        }
    }

    #[test]
    fn quote_uses_the_low_end_of_the_confidence_interval_rounded_down() {
        // $0.50 ± $0.001 → $0.499 per IO; 10 IO → 4.99 IOSD.
        let account = price_account(FEED, 50_000_000, 100_000, NOW - 5);
        let key = Pubkey::new_unique();
        let q = quote(&config(), (&key, &account), 6, 6, 10_000_000, NOW).unwrap();
        assert_eq!(q.iosd_out, 4_990_000);
        assert_eq!(q.usd_micros_per_io, 499_000);
        // 1 base unit of IO is worth less than 1 base unit of IOSD: 0.
        let q = quote(&config(), (&key, &account), 6, 6, 1, NOW).unwrap();
        assert_eq!(q.iosd_out, 0);
    }

    #[test]
    fn quote_refuses_what_the_program_refuses() {
        let key = Pubkey::new_unique();
        let cases = [
            (
                price_account(FEED, 50_000_000, 100_000, NOW - 61),
                "StaleOraclePrice",
            ),
            (
                price_account([8; 32], 50_000_000, 100_000, NOW),
                "WrongPriceFeed",
            ),
            (
                price_account(FEED, 50_000_000, 5_000_000, NOW),
                "PriceConfidenceTooWide",
            ),
        ];
        for (account, expected) in cases {
            let err = quote(&config(), (&key, &account), 6, 6, 1_000_000, NOW).unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        }
        let mut foreign = price_account(FEED, 50_000_000, 100_000, NOW);
        foreign.owner = Pubkey::new_unique();
        let err = quote(&config(), (&key, &foreign), 6, 6, 1_000_000, NOW).unwrap_err();
        assert!(err.to_string().contains("WrongOracleOwner"), "{err}");
    }
}
