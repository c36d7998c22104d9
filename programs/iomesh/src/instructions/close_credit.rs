use crate::{error::IomeshError, events::CreditClosed, seeds, state::*};
use anchor_lang::prelude::*;

#[derive(Accounts)]
pub struct CloseCredit<'info> {
    #[account(
        mut,
        seeds = [seeds::CREDIT, credit.vault.as_ref(), credit.owner.as_ref()],
        bump = credit.bump,
        has_one = rent_payer @ IomeshError::PayoutAccountMismatch,
        close = rent_payer
    )]
    pub credit: Box<Account<'info, Credit>>,
    /// CHECK: who funded the credit's rent (`has_one`); gets it back.
    #[account(mut)]
    pub rent_payer: UncheckedAccount<'info>,
}

/// Anyone may close a credit its owner has emptied: the rent goes back to
/// whoever funded it (the payer of the lease whose ending created it).
pub fn handler(ctx: Context<CloseCredit>) -> Result<()> {
    let credit = &ctx.accounts.credit;
    let info = credit.to_account_info();
    let rent = Rent::get()?.minimum_balance(info.data_len());
    require!(
        credit.amount == 0 && info.lamports() <= rent,
        IomeshError::CreditNotEmpty
    );
    log_event!(CreditClosed {
        credit: credit.key(),
        owner: credit.owner,
        rent_payer: credit.rent_payer,
    });
    Ok(())
}
