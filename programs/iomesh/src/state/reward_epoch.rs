use super::AccountSpace;
use crate::{error::IomeshError, merkle::MAX_EPOCH_LEAVES};
use anchor_lang::prelude::*;

/// Most bytes one instruction may add to an account (the runtime's
/// `MAX_PERMITTED_DATA_INCREASE`): epochs larger than this are created at
/// this size and grown by `grow_epoch` in the same or later transactions.
pub const MAX_ACCOUNT_GROWTH: usize = 10_240;

/// One published reward epoch (`["epoch", epoch_le_bytes]`). The account holds
/// this header followed by a claim bitmap of `ceil(num_leaves / 8)` bytes
/// (bit `i` set once leaf `i` is claimed).
#[account]
#[derive(InitSpace, Debug)]
pub struct RewardEpoch {
    pub version: u8,
    pub bump: u8,
    /// Set by `clawback_epoch`: no claim is possible afterwards.
    pub clawed_back: bool,
    pub epoch: u64,
    pub merkle_root: [u8; 32],
    /// IO base units moved from the reserve into the rewards escrow at publication.
    pub total_amount: u64,
    /// IO base units claimed so far (never above `total_amount`).
    pub claimed_amount: u64,
    pub num_leaves: u32,
    /// Leaves claimed so far.
    pub claims: u32,
    /// Unix seconds.
    pub published_at: i64,
    /// Unix seconds: the last second a claim is accepted; clawback is possible after it.
    pub claim_deadline: i64,
    pub reserved: [u8; 32],
}

impl RewardEpoch {
    /// Bytes of the claim bitmap of an epoch of `num_leaves` leaves.
    pub fn bitmap_len(num_leaves: u32) -> usize {
        (num_leaves as usize).div_ceil(8)
    }

    /// Full account size: header and bitmap.
    pub fn account_len(num_leaves: u32) -> usize {
        Self::SPACE + Self::bitmap_len(num_leaves)
    }

    pub fn invariant(&self) -> Result<()> {
        require_current_version!(self.version);
        require!(
            self.num_leaves > 0 && self.num_leaves <= MAX_EPOCH_LEAVES,
            IomeshError::InvalidEpoch
        );
        require!(
            self.claimed_amount <= self.total_amount && self.claims <= self.num_leaves,
            IomeshError::EpochOverclaimed
        );
        Ok(())
    }
}

/// Bit `index` of a claim bitmap.
pub fn is_claimed(bitmap: &[u8], index: u32) -> bool {
    bitmap[(index / 8) as usize] & (1 << (index % 8)) != 0
}

pub fn set_claimed(bitmap: &mut [u8], index: u32) {
    bitmap[(index / 8) as usize] |= 1 << (index % 8);
}
