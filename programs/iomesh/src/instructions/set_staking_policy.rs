use super::update_market::MarketAdmin;
use crate::{error::IomeshError, events::StakingPolicySet};
use anchor_lang::prelude::*;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct StakingPolicy {
    /// Slashes node stakes (and reverses slashes during the appeal window).
    pub slash_authority: Pubkey,
    /// IO base units a node must stake per listed GPU to take new leases and earn rewards.
    pub stake_per_gpu: u64,
    /// Seconds between an unstake request and the withdrawal.
    pub unstake_cooldown_secs: u32,
    /// Seconds a slash stays reversible before it can be finalized.
    pub slash_appeal_secs: u32,
}

/// Sets the stake requirement, the unstake cooldown, the slash appeal window
/// and the slashing authority (market authority).
pub fn handler(ctx: Context<MarketAdmin>, policy: StakingPolicy) -> Result<()> {
    require!(
        policy.slash_authority != Pubkey::default()
            && policy.unstake_cooldown_secs > 0
            && policy.slash_appeal_secs > 0,
        IomeshError::InvalidStakingPolicy
    );
    let market = &mut ctx.accounts.market;
    market.slash_authority = policy.slash_authority;
    market.stake_per_gpu = policy.stake_per_gpu;
    market.unstake_cooldown_secs = policy.unstake_cooldown_secs;
    market.slash_appeal_secs = policy.slash_appeal_secs;
    market.invariant()?;
    log_event!(StakingPolicySet { policy });
    Ok(())
}
