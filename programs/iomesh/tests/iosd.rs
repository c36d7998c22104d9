//! IOSD burn-and-mint: init_iosd, mint_iosd against a Pyth PriceUpdateV2
//! account (owner, layout, feed, age, confidence), slippage, circuit breaker,
//! and IOSD accepted as a payment mint; set_mint_oracle: a non-stable payment
//! mint priced from the same kind of oracle account.

mod common;

use anchor_lang::prelude::Pubkey;
use common::*;
use iomesh::{
    accounts as acc, error::IomeshError, instruction as args, oracle, state::*, IosdPolicy,
};
use solana_keypair::Keypair;
use solana_signer::Signer;

const FEED: [u8; 32] = [7; 32];
const MAX_AGE: u32 = 60;
const MAX_CONF_BPS: u16 = 100;
const WINDOW: u32 = 3_600;
const CAP: u64 = 10 * TOKEN;
/// $0.50 ± $0.001 with Pyth's usual exponent.
const PRICE: i64 = 50_000_000;
const CONF: u64 = 100_000;
const EXPO: i32 = -8;

fn price_update(feed: [u8; 32], price: i64, conf: u64, publish_time: i64, full: bool) -> Vec<u8> {
    assert_eq!(EXPO, -8, "the fixture posts exponent -8");
    price_update_data(feed, price, conf, publish_time, full)
}

struct Iosd {
    env: TestEnv,
    iosd: TestMint,
    user: Keypair,
    oracle: Pubkey,
}

impl Iosd {
    async fn new() -> Self {
        let mut env = TestEnv::new().await;
        env.init_io().await.unwrap();
        let iosd = env
            .setup_iosd(IosdPolicy {
                price_feed_id: FEED,
                max_price_age_secs: MAX_AGE,
                max_confidence_bps: MAX_CONF_BPS,
                window_secs: WINDOW,
                window_cap: CAP,
            })
            .await;
        let user = env.wallet().await;
        let io = env.io;
        env.fund(&user.pubkey(), io, 100 * TOKEN).await;
        env.create_ata(&user.pubkey(), iosd).await;
        let mut this = Iosd {
            env,
            iosd,
            user,
            oracle: Pubkey::new_unique(),
        };
        let now = this.env.now().await;
        this.post(
            price_update(FEED, PRICE, CONF, now, true),
            oracle::PYTH_RECEIVER_ID,
        );
        this
    }

    /// Writes the oracle account (what the Pyth receiver would post).
    fn post(&mut self, data: Vec<u8>, owner: Pubkey) {
        let oracle = self.oracle;
        self.env.post_price(oracle, data, owner);
    }

    async fn mint(
        &mut self,
        io_amount: u64,
        min_iosd_out: u64,
    ) -> std::result::Result<(), solana_transaction_error::TransactionError> {
        let ix = self.env.mint_iosd_ix(
            self.iosd,
            self.oracle,
            self.user.pubkey(),
            io_amount,
            min_iosd_out,
        );
        let user = self.user.insecure_clone();
        self.env.send(&[ix], &[&user]).await
    }

    async fn balances(&mut self) -> (u64, u64, u64, u64) {
        let io = self.env.io;
        let iosd = self.iosd;
        let user = self.user.pubkey();
        (
            self.env.balance(io.ata(&user)).await,
            self.env.balance(iosd.ata(&user)).await,
            self.env.supply(io.mint).await,
            self.env.supply(iosd.mint).await,
        )
    }
}

#[tokio::test]
async fn mint_iosd_burns_io_and_mints_at_the_low_end_of_the_oracle_price() {
    let mut t = Iosd::new().await;
    let (_, _, io_supply, _) = t.balances().await;
    // 10 IO × ($0.50 − $0.001) = 4.99 IOSD.
    t.mint(10 * TOKEN, 4_990_000).await.unwrap();
    let (io, iosd, io_after, iosd_supply) = t.balances().await;
    assert_eq!((io, iosd), (90 * TOKEN, 4_990_000));
    assert_eq!(io_after, io_supply - 10 * TOKEN);
    assert_eq!(iosd_supply, 4_990_000);
    let config: IosdConfig = t.env.fetch(iosd_config_pda()).await.unwrap();
    assert_eq!(
        (
            config.total_io_burned,
            config.total_iosd_minted,
            config.window_minted
        ),
        (10 * TOKEN, 4_990_000, 4_990_000)
    );
}

#[tokio::test]
async fn bad_prices_and_slippage_are_refused_and_change_nothing() {
    let mut t = Iosd::new().await;
    let now = t.env.now().await;
    let before = t.balances().await;
    let cases = [
        (
            price_update(FEED, PRICE, CONF, now - i64::from(MAX_AGE) - 1, true),
            oracle::PYTH_RECEIVER_ID,
            IomeshError::StaleOraclePrice,
        ),
        (
            // 1.01 % of the price: wider than the 1 % allowed.
            price_update(FEED, PRICE, 505_000, now, true),
            oracle::PYTH_RECEIVER_ID,
            IomeshError::PriceConfidenceTooWide,
        ),
        (
            price_update([8; 32], PRICE, CONF, now, true),
            oracle::PYTH_RECEIVER_ID,
            IomeshError::WrongPriceFeed,
        ),
        (
            price_update(FEED, PRICE, CONF, now, true),
            Pubkey::new_unique(),
            IomeshError::WrongOracleOwner,
        ),
        (
            price_update(FEED, PRICE, CONF, now, false),
            oracle::PYTH_RECEIVER_ID,
            IomeshError::OracleNotFullyVerified,
        ),
        (
            vec![0; 133],
            oracle::PYTH_RECEIVER_ID,
            IomeshError::InvalidOracleAccount,
        ),
    ];
    for (data, owner, error) in cases {
        t.post(data, owner);
        assert_error(t.mint(10 * TOKEN, 0).await, code(error));
    }
    t.post(
        price_update(FEED, PRICE, CONF, now, true),
        oracle::PYTH_RECEIVER_ID,
    );
    assert_error(
        t.mint(10 * TOKEN, 4_990_001).await,
        code(IomeshError::SlippageExceeded),
    );
    assert_eq!(t.balances().await, before);
}

#[tokio::test]
async fn the_circuit_breaker_caps_each_window() {
    let mut t = Iosd::new().await;
    t.mint(10 * TOKEN, 0).await.unwrap();
    t.mint(10 * TOKEN, 0).await.unwrap();
    // 3 × 4.99 IOSD would pass the 10 IOSD cap.
    assert_error(
        t.mint(10 * TOKEN, 0).await,
        code(IomeshError::CircuitBreakerTripped),
    );
    t.env.warp(i64::from(WINDOW)).await;
    let now = t.env.now().await;
    t.post(
        price_update(FEED, PRICE, CONF, now, true),
        oracle::PYTH_RECEIVER_ID,
    );
    t.mint(10 * TOKEN, 0).await.unwrap();
    let config: IosdConfig = t.env.fetch(iosd_config_pda()).await.unwrap();
    assert_eq!(config.window_minted, 4_990_000);
    assert_eq!(config.total_iosd_minted, 3 * 4_990_000);
}

#[tokio::test]
async fn minted_iosd_pays_for_a_lease_like_any_stable_mint() {
    let mut t = Iosd::new().await;
    t.mint(20 * TOKEN, 0).await.unwrap();
    let iosd = t.iosd;
    t.env
        .add_payment_mint(iosd, PriceSource::Stable, 0, 0, "IOSD")
        .await
        .unwrap();
    let node = t.env.register_node(1).await;
    let user = t.user.insecure_clone();
    // $2.00 per GPU-hour for half an hour: 1 IOSD.
    let lease = t
        .env
        .create_lease(LeaseRequest::new(&user, &node, iosd, 1).for_secs(HOUR / 2))
        .await
        .unwrap();
    assert_eq!(t.env.lease(lease).await.unwrap().deposited, TOKEN);
    assert_eq!(t.env.balance(iosd.vault()).await, TOKEN);
}

#[tokio::test]
async fn an_oracle_priced_mint_quotes_leases_from_the_price_update() {
    let mut t = Iosd::new().await;
    let io = t.env.io;
    let authority = t.env.keys.authority.insecure_clone();
    let set = ix(
        acc::PaymentMintAdmin {
            market: market_pda(),
            payment_mint: payment_mint_pda(&io.mint),
            authority: authority.pubkey(),
        },
        args::SetMintOracle {
            oracle: iomesh::MintOracle {
                price_feed_id: FEED,
                max_confidence_bps: MAX_CONF_BPS,
                max_price_age_secs: MAX_AGE,
            },
        },
    );
    t.env.send(&[set], &[&authority]).await.unwrap();
    assert_eq!(
        t.env.payment_mint(&io).await.price_source,
        PriceSource::Oracle
    );
    let node = t.env.register_node(1).await;
    let user = t.user.insecure_clone();
    let request = LeaseRequest::new(&user, &node, io, 1);
    // Without the price account, and with a stale one, the lease is refused.
    let ix = t.env.create_lease_ix(&request);
    assert_error(
        t.env.send(&[ix], &[&user]).await,
        code(IomeshError::OracleAccountRequired),
    );
    let now = t.env.now().await;
    t.post(
        price_update(FEED, PRICE, CONF, now - i64::from(MAX_AGE) - 1, true),
        oracle::PYTH_RECEIVER_ID,
    );
    let ix = t.env.create_lease_ix_full(&request, None, Some(t.oracle));
    assert_error(
        t.env.send(&[ix], &[&user]).await,
        code(IomeshError::StaleOraclePrice),
    );
    t.post(
        price_update(FEED, PRICE, CONF, now, true),
        oracle::PYTH_RECEIVER_ID,
    );
    let ix = t.env.create_lease_ix_full(&request, None, Some(t.oracle));
    t.env.send(&[ix], &[&user]).await.unwrap();
    // Quoted at $0.50 − $0.001 = 499_000 micro-USD per IO: $2.00 per GPU-hour.
    let rate = expected_rate(2_000_000, 499_000, DECIMALS);
    let lease = t.env.lease(lease_pda(&user.pubkey(), 1)).await.unwrap();
    assert_eq!(lease.rate_per_gpu_hour, rate);
    assert_eq!(lease.deposited, expected_deposit(rate, 1, u64::from(HOUR)));
}
