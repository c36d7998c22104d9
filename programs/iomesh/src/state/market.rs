use crate::error::IomeshError;
use anchor_lang::prelude::*;

/// The single market (`["market"]`): who governs it and the lease policy.
/// It is only read by lease instructions, so leases never contend on it.
#[account]
#[derive(InitSpace, Debug)]
pub struct Market {
    pub version: u8,
    pub bump: u8,
    /// New leases and extensions are refused while set; payouts and refunds never are.
    pub paused: bool,
    /// Governs the market, mints and authorities.
    pub authority: Pubkey,
    /// Proposed next authority; `Pubkey::default()` when none is pending.
    pub pending_authority: Pubkey,
    /// Wallet whose associated token accounts receive network fees.
    pub treasury: Pubkey,
    /// Reports node failures (the off-chain scheduler's key).
    pub scheduler_authority: Pubkey,
    /// Sets USD prices of authority-priced mints.
    pub price_authority: Pubkey,
    /// Publishes reward epochs (used by the rewards instructions).
    pub reward_authority: Pubkey,
    /// Seconds a pending lease may wait for its operator to activate it.
    pub activation_timeout_secs: u32,
    /// Shortest lease the market accepts, in seconds.
    pub min_lease_secs: u32,
    /// Longest prepaid horizon the market accepts, in seconds.
    pub max_lease_secs: u32,
    /// Seconds of agent silence the scheduler tolerates before reporting a failure.
    pub failure_grace_secs: u32,
    /// The IO mint: staked, slashed and paid as rewards. Default until `init_io_vaults`.
    pub io_mint: Pubkey,
    /// Slashes node stakes; default until `set_staking_policy`.
    pub slash_authority: Pubkey,
    /// IO base units a node must stake per listed GPU to take leases and earn rewards.
    pub stake_per_gpu: u64,
    /// Seconds between an unstake request and the withdrawal.
    pub unstake_cooldown_secs: u32,
    /// Seconds a slash stays reversible before it can be finalized.
    pub slash_appeal_secs: u32,
    pub reserved: [u8; 48],
}

/// Policy parameters set at initialisation and by `update_market`.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct MarketParams {
    pub treasury: Pubkey,
    pub scheduler_authority: Pubkey,
    pub price_authority: Pubkey,
    pub reward_authority: Pubkey,
    pub activation_timeout_secs: u32,
    pub min_lease_secs: u32,
    pub max_lease_secs: u32,
    pub failure_grace_secs: u32,
}

impl Market {
    pub fn apply(&mut self, params: &MarketParams) {
        self.treasury = params.treasury;
        self.scheduler_authority = params.scheduler_authority;
        self.price_authority = params.price_authority;
        self.reward_authority = params.reward_authority;
        self.activation_timeout_secs = params.activation_timeout_secs;
        self.min_lease_secs = params.min_lease_secs;
        self.max_lease_secs = params.max_lease_secs;
        self.failure_grace_secs = params.failure_grace_secs;
    }

    pub fn has_pending_authority(&self) -> bool {
        self.pending_authority != Pubkey::default()
    }

    pub fn invariant(&self) -> Result<()> {
        require_current_version!(self.version);
        require!(
            self.activation_timeout_secs > 0
                && self.min_lease_secs > 0
                && self.min_lease_secs <= self.max_lease_secs
                && self.failure_grace_secs > 0,
            IomeshError::InvalidMarketParams
        );
        require!(
            self.authority != Pubkey::default()
                && self.treasury != Pubkey::default()
                && self.scheduler_authority != Pubkey::default()
                && self.price_authority != Pubkey::default(),
            IomeshError::InvalidMarketParams
        );
        Ok(())
    }
}
