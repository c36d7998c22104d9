//! Every state change emits one of these. Clients (indexer, CLI, scheduler)
//! decode them, so fields are only ever appended. Amounts are in base units of
//! the lease's mint; times are Unix seconds; prices say their unit.

use crate::{
    instructions::{IosdPolicy, MintOracle, StakingPolicy},
    state::{MarketParams, NodeStatus, PriceSource},
};
use anchor_lang::prelude::*;

#[event]
pub struct MarketInitialized {
    pub authority: Pubkey,
    pub params: MarketParams,
}

#[event]
pub struct MarketUpdated {
    pub params: MarketParams,
}

#[event]
pub struct AuthorityProposed {
    pub current: Pubkey,
    /// `Pubkey::default()` when a pending proposal was withdrawn.
    pub proposed: Pubkey,
}

#[event]
pub struct AuthorityAccepted {
    pub previous: Pubkey,
    pub authority: Pubkey,
}

#[event]
pub struct MarketPausedSet {
    pub paused: bool,
}

#[event]
pub struct PaymentMintAdded {
    pub mint: Pubkey,
    pub token_program: Pubkey,
    pub vault: Pubkey,
    /// Network fee in basis points.
    pub fee_bps: u16,
    pub price_source: PriceSource,
    /// Micro-USD per whole token.
    pub usd_price_micros: u64,
}

#[event]
pub struct PaymentMintUpdated {
    pub mint: Pubkey,
    pub enabled: bool,
    /// Network fee in basis points.
    pub fee_bps: u16,
    pub price_source: PriceSource,
    /// Seconds a set price stays usable.
    pub max_price_age_secs: u32,
}

#[event]
pub struct MintPriceSet {
    pub mint: Pubkey,
    /// Micro-USD per whole token.
    pub usd_price_micros: u64,
    /// Unix seconds.
    pub updated_at: i64,
}

#[event]
pub struct NodeRegistered {
    pub node: Pubkey,
    pub owner: Pubkey,
    pub operator: Pubkey,
    pub gpu_count: u16,
    /// Micro-USD per GPU-hour.
    pub price_usd_micros_per_gpu_hour: u64,
}

#[event]
pub struct NodeUpdated {
    pub node: Pubkey,
    pub gpu_count: u16,
    /// Micro-USD per GPU-hour.
    pub price_usd_micros_per_gpu_hour: u64,
    /// Seconds.
    pub min_lease_secs: u32,
    /// Seconds.
    pub max_lease_secs: u32,
}

#[event]
pub struct NodeStatusSet {
    pub node: Pubkey,
    pub status: NodeStatus,
}

#[event]
pub struct NodeRetired {
    pub node: Pubkey,
    pub owner: Pubkey,
}

#[event]
pub struct LeaseCreated {
    pub lease: Pubkey,
    pub renter: Pubkey,
    pub payer: Pubkey,
    pub node: Pubkey,
    pub mint: Pubkey,
    pub gpus: u16,
    /// Seconds purchased.
    pub duration_secs: u32,
    /// Mint base units per GPU-hour.
    pub rate_per_gpu_hour: u64,
    /// Base units escrowed.
    pub deposited: u64,
    pub job_spec_hash: [u8; 32],
    /// The renter's nonce in the lease's address.
    pub nonce: u64,
    /// Network fee locked at creation, in basis points.
    pub fee_bps: u16,
    /// Unix seconds.
    pub created_at: i64,
    pub in_cluster: bool,
    /// 0 when not in a cluster.
    pub cluster_nonce: u64,
    /// Unix seconds; 0 when not in a cluster.
    pub cluster_funding_deadline: i64,
}

#[event]
pub struct LeaseActivated {
    pub lease: Pubkey,
    pub node: Pubkey,
    /// Unix seconds.
    pub activated_at: i64,
    /// Unix seconds.
    pub ends_at: i64,
}

#[event]
pub struct LeaseSettled {
    pub lease: Pubkey,
    pub node: Pubkey,
    /// Base units paid to the node owner.
    pub supplier_amount: u64,
    /// Base units paid to the treasury.
    pub fee_amount: u64,
    /// Unix seconds up to which the lease is now paid.
    pub settled_until: i64,
    /// GPU-seconds this payment covers.
    pub gpu_seconds: u64,
}

#[event]
pub struct LeaseExtended {
    pub lease: Pubkey,
    /// Seconds added.
    pub added_secs: u32,
    /// Base units added to escrow.
    pub added_deposit: u64,
    /// Seconds purchased in total.
    pub duration_secs: u32,
}

/// Why a lease ended.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseEndReason {
    /// Ran to its end and was closed.
    Completed,
    /// Cancelled by the renter.
    Cancelled,
    /// The node failed; reported by the scheduler.
    Failed,
    /// Never activated within the market's activation timeout.
    Expired,
    /// Its cluster was not fully funded by the deadline and was unwound (full refund).
    Unwound,
}

#[event]
pub struct LeaseEnded {
    pub lease: Pubkey,
    pub node: Pubkey,
    pub reason: LeaseEndReason,
    /// Base units paid out over the lease's life (supplier + fee).
    pub paid_out: u64,
    /// Base units returned to the payer.
    pub refunded: u64,
    /// Unix seconds up to which service was paid; 0 if never activated.
    pub billed_until: i64,
}

#[event]
pub struct ClusterCreated {
    pub cluster: Pubkey,
    pub renter: Pubkey,
    pub nonce: u64,
    pub leases_expected: u16,
    /// Unix seconds.
    pub funding_deadline: i64,
}

#[event]
pub struct ClusterLeaseFunded {
    pub cluster: Pubkey,
    pub lease: Pubkey,
    /// Leases funded so far, this one included.
    pub leases_funded: u16,
    pub leases_expected: u16,
}

#[event]
pub struct ClusterUnwound {
    pub cluster: Pubkey,
    /// Leases refunded and closed by this instruction.
    pub leases_unwound: u16,
    /// Leases refunded and closed by all unwinds of this cluster.
    pub total_unwound: u16,
    pub leases_funded: u16,
}

#[event]
pub struct ClusterClosed {
    pub cluster: Pubkey,
    pub renter: Pubkey,
    pub completed: bool,
}

#[event]
pub struct IoVaultsInitialized {
    pub io_mint: Pubkey,
    pub stake_vault: Pubkey,
    pub rewards_reserve: Pubkey,
    pub rewards_escrow: Pubkey,
}

#[event]
pub struct StakingPolicySet {
    /// Amounts in IO base units, durations in seconds.
    pub policy: StakingPolicy,
}

#[event]
pub struct StakeDeposited {
    pub node: Pubkey,
    pub owner: Pubkey,
    /// IO base units added.
    pub amount: u64,
    /// IO base units staked after the deposit.
    pub staked: u64,
}

#[event]
pub struct UnstakeRequested {
    pub node: Pubkey,
    /// IO base units moved into cooldown.
    pub amount: u64,
    /// IO base units in cooldown in total.
    pub unstaking: u64,
    /// Unix seconds from which they can be withdrawn.
    pub ready_at: i64,
}

#[event]
pub struct StakeWithdrawn {
    pub node: Pubkey,
    pub owner: Pubkey,
    /// IO base units returned to the owner.
    pub amount: u64,
}

#[event]
pub struct NodeSlashed {
    pub pending_slash: Pubkey,
    pub node: Pubkey,
    /// IO base units taken from the stake.
    pub amount: u64,
    pub harmed: Pubkey,
    /// IO base units the harmed wallet receives on finalization.
    pub harmed_amount: u64,
    /// A `slash_reason` code.
    pub reason: u16,
    pub evidence: Pubkey,
    /// Unix seconds.
    pub appeal_ends_at: i64,
}

#[event]
pub struct SlashReversed {
    pub pending_slash: Pubkey,
    pub node: Pubkey,
    /// IO base units returned to the node's stake.
    pub amount: u64,
}

#[event]
pub struct SlashFinalized {
    pub pending_slash: Pubkey,
    pub node: Pubkey,
    pub harmed: Pubkey,
    /// IO base units paid to the harmed wallet.
    pub harmed_amount: u64,
    /// IO base units burned.
    pub burned: u64,
}

#[event]
pub struct EpochPublished {
    pub epoch: u64,
    pub merkle_root: [u8; 32],
    /// IO base units moved from the rewards reserve into the rewards escrow.
    pub total_amount: u64,
    pub num_leaves: u32,
    /// Unix seconds.
    pub claim_deadline: i64,
    /// Bytes the epoch account needs (header and claim bitmap).
    pub account_len: u32,
}

#[event]
pub struct EpochGrown {
    pub epoch: u64,
    /// Bytes now allocated.
    pub account_len: u32,
    /// Bytes needed in full.
    pub full_len: u32,
}

#[event]
pub struct RewardClaimed {
    pub epoch: u64,
    pub index: u32,
    pub node: Pubkey,
    pub owner: Pubkey,
    /// IO base units paid.
    pub amount: u64,
}

#[event]
pub struct EpochClawedBack {
    pub epoch: u64,
    /// IO base units returned to the rewards reserve.
    pub unclaimed: u64,
}

#[event]
pub struct IosdInitialized {
    pub iosd_mint: Pubkey,
    /// Ages in seconds, confidence in basis points, cap in IOSD base units.
    pub policy: IosdPolicy,
}

#[event]
pub struct IosdMinted {
    pub user: Pubkey,
    /// IO base units burned.
    pub io_burned: u64,
    /// IOSD base units minted.
    pub iosd_minted: u64,
    /// Oracle price: `price × 10^exponent` USD per IO, ± `conf` (same scale); `price − conf` was used.
    pub price: i64,
    pub conf: u64,
    pub exponent: i32,
    /// Unix seconds.
    pub publish_time: i64,
    /// IOSD base units minted in the current circuit-breaker window.
    pub window_minted: u64,
}

#[event]
pub struct PaymentMintOracleSet {
    pub mint: Pubkey,
    /// Feed id; confidence in basis points; age in seconds.
    pub oracle: MintOracle,
}

/// A payment its recipient's token account could not take, kept for them.
#[event]
pub struct Credited {
    pub credit: Pubkey,
    pub owner: Pubkey,
    /// The program's token account holding the tokens.
    pub vault: Pubkey,
    pub mint: Pubkey,
    /// Base units added.
    pub amount: u64,
    /// Base units the credit now holds.
    pub total: u64,
}

#[event]
pub struct CreditWithdrawn {
    pub credit: Pubkey,
    pub owner: Pubkey,
    pub vault: Pubkey,
    pub mint: Pubkey,
    /// The token account the owner chose.
    pub destination: Pubkey,
    /// Base units paid out.
    pub amount: u64,
    /// Lamports above the account's rent paid to the owner (rent its wallet could not take).
    pub lamports: u64,
}

#[event]
pub struct CreditClosed {
    pub credit: Pubkey,
    pub owner: Pubkey,
    /// Who funded the rent and got it back.
    pub rent_payer: Pubkey,
}

/// A network fee the treasury's token account could not take, kept in the vault.
#[event]
pub struct FeesHeld {
    pub mint: Pubkey,
    /// Base units added.
    pub amount: u64,
    /// Base units now held for the treasury.
    pub unswept_fees: u64,
}

#[event]
pub struct FeesSwept {
    pub mint: Pubkey,
    pub treasury_token_account: Pubkey,
    /// Base units paid to the treasury.
    pub amount: u64,
}

/// What `log_event!` does off-chain: the event's bytes to the host's
/// `sol_log_data`, which a host that collects logs writes as `Program data:`.
#[cfg(not(target_os = "solana"))]
pub fn log_on_host(event: &impl anchor_lang::Event) {
    anchor_lang::compat::solana_sysvar::program_stubs::sol_log_data(&[&event.data()]);
}
