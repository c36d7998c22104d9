use super::{cluster_slot, lease_settlement};
use crate::{
    error::IomeshError,
    events::LeaseEndReason,
    payouts::{payout_address, Payee, Treasury, VaultAccounts},
    seeds,
    state::*,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(Accounts)]
pub struct CancelLease<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        seeds = [seeds::LEASE, renter.key().as_ref(), &lease.nonce.to_le_bytes()],
        bump = lease.bump,
        has_one = renter @ IomeshError::NotRenter,
        has_one = node @ IomeshError::LeaseAccountMismatch,
        has_one = mint @ IomeshError::LeaseAccountMismatch,
        has_one = payer @ IomeshError::LeaseAccountMismatch
    )]
    pub lease: Box<Account<'info, Lease>>,
    #[account(mut, seeds = [seeds::NODE, node.operator.as_ref()], bump = node.bump)]
    pub node: Box<Account<'info, Node>>,
    #[account(mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    /// Keeps the fees the treasury cannot take.
    #[account(mut, seeds = [seeds::PAYMENT_MINT, mint.key().as_ref()], bump = payment_mint.bump)]
    pub payment_mint: Box<Account<'info, PaymentMint>>,
    #[account(
        mut,
        seeds = [seeds::VAULT, mint.key().as_ref()],
        bump,
        token::mint = mint,
        token::authority = market,
        token::token_program = token_program
    )]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    /// CHECK: the node owner's associated token account, which may not exist
    /// or be unable to receive (`payouts`). Needed only when service has accrued.
    #[account(
        mut,
        dup,
        address = payout_address(&node.owner, &mint.key(), &token_program.key()) @ IomeshError::PayoutAccountMismatch
    )]
    pub supplier_token_account: Option<UncheckedAccount<'info>>,
    /// CHECK: the treasury's associated token account (as above). Needed only when service has accrued.
    #[account(
        mut,
        dup,
        address = payout_address(&market.treasury, &mint.key(), &token_program.key()) @ IomeshError::PayoutAccountMismatch
    )]
    pub treasury_token_account: Option<UncheckedAccount<'info>>,
    /// CHECK: the payer's associated token account (as above).
    #[account(
        mut,
        dup,
        address = payout_address(&payer.key(), &mint.key(), &token_program.key()) @ IomeshError::PayoutAccountMismatch
    )]
    pub payer_token_account: UncheckedAccount<'info>,
    /// CHECK: keeps the supplier's payout when its token account cannot take it; created if needed.
    #[account(mut, dup, seeds = [seeds::CREDIT, vault.key().as_ref(), node.owner.as_ref()], bump)]
    pub supplier_credit: UncheckedAccount<'info>,
    /// CHECK: keeps the payer's refund (and rent) when its accounts cannot take them; created if needed.
    #[account(mut, dup, seeds = [seeds::CREDIT, vault.key().as_ref(), payer.key().as_ref()], bump)]
    pub payer_credit: UncheckedAccount<'info>,
    /// CHECK: the lease's payer (`has_one`): gets the rent back, credited
    /// whichever program owns it.
    #[account(mut)]
    pub payer: UncheckedAccount<'info>,
    pub renter: Signer<'info>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

/// The renter ends the lease: a pending one is fully refunded; an active one
/// pays the node for the seconds served and refunds the rest. A pending
/// cluster lease passes its cluster after the named accounts, which stops
/// counting it (`cluster_slot`).
pub fn handler<'info>(ctx: Context<'info, CancelLease<'info>>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = ctx.accounts;
    let vault = VaultAccounts {
        market: &a.market,
        mint: &a.mint,
        vault: &a.vault,
        token_program: &a.token_program,
    };
    // Before anything changes the lease: only a pending member frees a slot.
    cluster_slot::release(&a.lease, ctx.remaining_accounts)?;
    let payer = Payee {
        wallet: a.payer.key(),
        token_account: &a.payer_token_account,
        credit: &a.payer_credit,
    };
    let mut reason = LeaseEndReason::Cancelled;
    if a.lease.status == LeaseStatus::Active {
        if now >= a.lease.ends_at()? {
            // Cancelling a lease that already ran its course is closing it.
            reason = LeaseEndReason::Completed;
        }
        let supplier = a
            .supplier_token_account
            .as_deref()
            .map(|token_account| Payee {
                wallet: a.node.owner,
                token_account,
                credit: &a.supplier_credit,
            });
        let mut treasury = a
            .treasury_token_account
            .as_deref()
            .map(|token_account| Treasury {
                token_account,
                payment_mint: &mut a.payment_mint,
            });
        let rent = lease_settlement::lease_rent(&a.lease, &a.system_program);
        lease_settlement::settle_until(
            &vault,
            &mut a.lease,
            &mut a.node,
            supplier.as_ref(),
            treasury.as_mut(),
            Some(&rent),
            now,
        )?;
    }
    lease_settlement::finish(
        &vault,
        &mut a.lease,
        &mut a.node,
        &payer,
        &a.payer,
        &a.system_program,
        reason,
    )
}
