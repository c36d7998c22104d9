//! Real encoded accounts, built from the program's own types.

use anchor_lang::AccountSerialize;
use iomesh::state::{
    encode_text, Cluster, IosdConfig, Lease, LeaseStatus, Market, Node, NodeStatus, PaymentMint,
    PendingSlash, PriceSource, RewardEpoch,
};
use iomesh_indexer::{update::AccountUpdate, writer::Writer};
use solana_pubkey::Pubkey;
use sqlx::PgPool;

pub const CURSOR: &str = "test";

pub fn writer(pool: &PgPool) -> Writer {
    Writer::new(pool.clone(), iomesh::ID, CURSOR)
}

pub fn encode<T: AccountSerialize>(account: &T) -> Vec<u8> {
    let mut data = Vec::new();
    account.try_serialize(&mut data).expect("serialize");
    data
}

pub fn key(n: u8) -> Pubkey {
    Pubkey::new_from_array([n; 32])
}

pub fn market() -> Market {
    Market {
        version: 1,
        bump: 254,
        paused: true,
        authority: key(1),
        pending_authority: key(2),
        treasury: key(3),
        scheduler_authority: key(4),
        price_authority: key(5),
        reward_authority: key(6),
        activation_timeout_secs: 600,
        min_lease_secs: 60,
        max_lease_secs: u32::MAX,
        failure_grace_secs: 120,
        io_mint: key(11),
        slash_authority: key(12),
        stake_per_gpu: 5_000_000,
        unstake_cooldown_secs: 1_209_600,
        slash_appeal_secs: 604_800,
        reserved: [0; 48],
    }
}

pub fn payment_mint() -> PaymentMint {
    PaymentMint {
        version: 1,
        bump: 250,
        vault_bump: 251,
        enabled: true,
        decimals: 6,
        price_source: PriceSource::Authority,
        fee_bps: 250,
        max_price_age_secs: 3_600,
        mint: key(10),
        token_program: spl_token_interface::ID,
        vault: key(11),
        // Above i64::MAX: stored as NUMERIC, not truncated.
        usd_price_micros: u64::MAX - 7,
        price_updated_at: 1_700_000_000,
        symbol: encode_text::<8>("USDC").unwrap(),
        price_feed_id: [0; 32],
        max_confidence_bps: 0,
        unswept_fees: 0,
        reserved: [0; 54],
    }
}

pub fn node() -> Node {
    Node {
        version: 1,
        bump: 253,
        status: NodeStatus::Paused,
        owner: key(20),
        operator: key(21),
        gpu_model: encode_text::<32>("H100 SXM").unwrap(),
        region: encode_text::<16>("eu-west").unwrap(),
        gpu_count: 8,
        gpus_in_use: 3,
        vram_mib: 81_920,
        price_usd_micros_per_gpu_hour: 2_490_000,
        min_lease_secs: 300,
        max_lease_secs: 604_800,
        open_leases: 2,
        leases_served: 17,
        failures: 1,
        gpu_seconds_delivered: 9_000_000_000_000_000_000,
        registered_at: 1_700_000_100,
        staked: 40_000_000,
        unstaking: 1_000_000,
        unstake_ready_at: 1_701_000_000,
        slashes_pending: 1,
        slash_count: 2,
        reserved: [0; 34],
    }
}

pub fn lease(nonce: u64) -> Lease {
    Lease {
        version: 1,
        bump: 252,
        status: LeaseStatus::Active,
        fee_bps: 250,
        gpus: 2,
        renter: key(30),
        payer: key(31),
        node: key(32),
        mint: key(10),
        nonce,
        rate_per_gpu_hour: 1_250_000,
        deposited: 2_500_000,
        paid_out: 1_000_001,
        created_at: 1_700_000_200,
        activated_at: 1_700_000_260,
        settled_until: 1_700_001_000,
        duration_secs: 3_600,
        job_spec_hash: [0xab; 32],
        in_cluster: false,
        cluster_nonce: 0,
        cluster_funding_deadline: 0,
        reserved: [0; 132],
    }
}

pub fn cluster() -> Cluster {
    Cluster {
        version: 1,
        bump: 249,
        renter: key(40),
        nonce: u64::MAX - 1,
        leases_expected: 4,
        leases_funded: 4,
        leases_unwound: 1,
        funding_deadline: 1_700_086_400,
        created_at: 1_700_000_000,
        completed_at: 1_700_000_500,
        reserved: [0; 32],
    }
}

pub fn pending_slash() -> PendingSlash {
    PendingSlash {
        version: 1,
        bump: 248,
        reason: iomesh::state::slash_reason::OTHER,
        index: u32::MAX,
        node: key(41),
        harmed: key(42),
        evidence: key(43),
        rent_payer: key(44),
        amount: u64::MAX,
        harmed_amount: 12_345,
        slashed_at: 1_700_000_000,
        appeal_ends_at: 1_700_604_800,
        reserved: [0; 32],
    }
}

pub fn reward_epoch() -> RewardEpoch {
    RewardEpoch {
        version: 1,
        bump: 247,
        clawed_back: true,
        epoch: u64::MAX - 2,
        merkle_root: [0xcd; 32],
        total_amount: u64::MAX - 3,
        claimed_amount: 777,
        num_leaves: 20,
        claims: 3,
        published_at: 1_700_000_000,
        claim_deadline: 1_702_592_000,
        reserved: [0; 32],
    }
}

pub fn iosd_config() -> IosdConfig {
    IosdConfig {
        version: 1,
        bump: 246,
        mint_authority_bump: 245,
        max_confidence_bps: 150,
        max_price_age_secs: u32::MAX,
        window_secs: 86_400,
        iosd_mint: key(45),
        price_feed_id: [0xef; 32],
        window_cap: u64::MAX - 4,
        window_start: 1_700_000_000,
        window_minted: 1_000,
        total_io_burned: u64::MAX - 5,
        total_iosd_minted: 9_999,
        reserved: [0; 64],
    }
}

/// A live program account at (slot, write_version).
pub fn live(pubkey: Pubkey, slot: u64, write_version: u64, data: Vec<u8>) -> AccountUpdate {
    AccountUpdate {
        pubkey,
        slot,
        write_version,
        lamports: 1_000_000 + data.len() as u64,
        owner: iomesh::ID,
        data,
        created_at: None,
    }
}

pub fn lease_update(pubkey: Pubkey, slot: u64, write_version: u64, paid_out: u64) -> AccountUpdate {
    let mut lease = lease(7);
    lease.paid_out = paid_out;
    live(pubkey, slot, write_version, encode(&lease))
}

/// (slot, write_version, closed_slot, paid_out) of a lease row.
pub async fn lease_row(pool: &PgPool, pubkey: &Pubkey) -> Option<(i64, i64, Option<i64>, String)> {
    sqlx::query_as(
        "SELECT slot, write_version, closed_slot, paid_out::text FROM leases WHERE pubkey = $1",
    )
    .bind(pubkey.as_ref())
    .fetch_optional(pool)
    .await
    .unwrap()
}
