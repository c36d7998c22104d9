//! Money movements shared by the instructions that pay for or end a lease.

use crate::{
    error::IomeshError,
    events::{LeaseEndReason, LeaseEnded, LeaseSettled},
    math::{self, SafeMath},
    state::*,
    transfers,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

/// The accounts a vault payment needs, borrowed from an instruction's context.
pub struct VaultAccounts<'a, 'info> {
    pub market: &'a Account<'info, Market>,
    pub mint: &'a InterfaceAccount<'info, Mint>,
    pub vault: &'a InterfaceAccount<'info, TokenAccount>,
    pub token_program: &'a Interface<'info, TokenInterface>,
}

impl<'info> VaultAccounts<'_, 'info> {
    fn pay(&self, to: &InterfaceAccount<'info, TokenAccount>, amount: u64) -> Result<()> {
        transfers::pay_out(
            self.token_program,
            self.vault,
            to,
            self.mint,
            &self.market.to_account_info(),
            self.market.bump,
            amount,
        )
    }
}

/// Pays the node owner (minus the network fee) for service up to `until`,
/// capped at the lease end. Returns the total moved out of escrow.
pub fn settle_until<'info>(
    vault: &VaultAccounts<'_, 'info>,
    lease: &mut Account<'info, Lease>,
    node: &mut Account<'info, Node>,
    supplier_token_account: Option<&InterfaceAccount<'info, TokenAccount>>,
    treasury_token_account: Option<&InterfaceAccount<'info, TokenAccount>>,
    until: i64,
) -> Result<u64> {
    let (payout, gpu_seconds) = lease.accrue_until(until)?;
    let fee = math::network_fee(payout, lease.fee_bps)?;
    let supplier_amount = payout.safe_sub(fee)?;
    if payout > 0 {
        let (Some(supplier), Some(treasury)) = (supplier_token_account, treasury_token_account)
        else {
            return err!(IomeshError::MissingPayoutAccount);
        };
        vault.pay(supplier, supplier_amount)?;
        vault.pay(treasury, fee)?;
    }
    node.gpu_seconds_delivered = node.gpu_seconds_delivered.safe_add(gpu_seconds)?;
    emit!(LeaseSettled {
        lease: lease.key(),
        node: node.key(),
        supplier_amount,
        fee_amount: fee,
        settled_until: lease.settled_until,
        gpu_seconds,
    });
    Ok(payout)
}

/// Refunds what the lease did not spend to its payer, releases its GPUs and
/// closes it, returning the rent to the payer.
pub fn finish<'info>(
    vault: &VaultAccounts<'_, 'info>,
    lease: &mut Account<'info, Lease>,
    node: &mut Account<'info, Node>,
    payer_token_account: &InterfaceAccount<'info, TokenAccount>,
    payer: &AccountInfo<'info>,
    reason: LeaseEndReason,
) -> Result<()> {
    lease.invariant()?;
    let refund = lease.unspent()?;
    vault.pay(payer_token_account, refund)?;
    node.release(lease.gpus)?;
    match reason {
        LeaseEndReason::Completed => node.leases_served = node.leases_served.safe_add(1)?,
        LeaseEndReason::Failed => node.failures = node.failures.safe_add(1)?,
        LeaseEndReason::Cancelled | LeaseEndReason::Expired | LeaseEndReason::Unwound => {}
    }
    node.invariant()?;
    emit!(LeaseEnded {
        lease: lease.key(),
        node: node.key(),
        reason,
        paid_out: lease.paid_out,
        refunded: refund,
        billed_until: lease.settled_until,
    });
    lease.close(payer.clone())
}
