use crate::{error::IomeshError, events::EpochGrown, seeds, state::*};
use anchor_lang::{
    prelude::*,
    system_program::{self, Transfer},
};

#[derive(Accounts)]
pub struct GrowEpoch<'info> {
    #[account(mut, seeds = [seeds::EPOCH, &epoch.epoch.to_le_bytes()], bump = epoch.bump)]
    pub epoch: Box<Account<'info, RewardEpoch>>,
    /// Pays the rent of the added bytes.
    #[account(mut)]
    pub payer: Signer<'info>,
    pub system_program: Program<'info, System>,
}

/// Grows an epoch account towards its full size by at most 10,240 bytes (anyone).
pub fn handler(ctx: Context<GrowEpoch>) -> Result<()> {
    let info = ctx.accounts.epoch.to_account_info();
    let full = RewardEpoch::account_len(ctx.accounts.epoch.num_leaves);
    let current = info.data_len();
    require!(current < full, IomeshError::EpochFullyAllocated);
    let new_len = full.min(current + MAX_ACCOUNT_GROWTH);
    let shortfall = Rent::get()?
        .minimum_balance(new_len)
        .saturating_sub(info.lamports());
    if shortfall > 0 {
        let accounts = Transfer {
            from: ctx.accounts.payer.to_account_info(),
            to: info.clone(),
        };
        system_program::transfer(
            CpiContext::new(ctx.accounts.system_program.key(), accounts),
            shortfall,
        )?;
    }
    // New bytes are zeroed by the runtime: no leaf reads as claimed.
    info.resize(new_len)?;
    log_event!(EpochGrown {
        epoch: ctx.accounts.epoch.epoch,
        account_len: new_len as u32,
        full_len: full as u32,
    });
    Ok(())
}
