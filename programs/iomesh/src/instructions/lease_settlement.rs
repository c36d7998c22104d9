//! Money movements shared by the instructions that pay for or end a lease.
//! Every payment goes through `payouts`, so no recipient can block one.

use crate::{
    error::IomeshError,
    events::{LeaseEndReason, LeaseEnded, LeaseSettled},
    math::{self, SafeMath},
    payouts::{can_take_lamports, Payee, RentSource, Treasury},
    state::*,
};
use anchor_lang::prelude::*;

pub use crate::payouts::VaultAccounts;

/// Pays the node owner (minus the network fee) for service up to `until`,
/// capped at the lease end. Returns the total moved out of escrow. `rent`
/// funds the supplier's credit account if one must be created (only an
/// instruction that closes the lease has one).
pub fn settle_until<'info>(
    vault: &VaultAccounts<'_, 'info>,
    lease: &mut Account<'info, Lease>,
    node: &mut Account<'info, Node>,
    supplier: Option<&Payee<'_, 'info>>,
    treasury: Option<&mut Treasury<'_, 'info>>,
    rent: Option<&RentSource<'_, 'info>>,
    until: i64,
) -> Result<u64> {
    let (payout, gpu_seconds) = lease.accrue_until(until)?;
    let fee = math::network_fee(payout, lease.fee_bps)?;
    let supplier_amount = payout.safe_sub(fee)?;
    if payout > 0 {
        let (Some(supplier), Some(treasury)) = (supplier, treasury) else {
            return err!(IomeshError::MissingPayoutAccount);
        };
        require_keys_eq!(
            supplier.wallet,
            node.owner,
            IomeshError::PayoutAccountMismatch
        );
        vault.pay(supplier, supplier_amount, rent)?;
        vault.pay_fee(treasury, fee)?;
    }
    node.gpu_seconds_delivered = node.gpu_seconds_delivered.safe_add(gpu_seconds)?;
    log_event!(LeaseSettled {
        lease: lease.key(),
        node: node.key(),
        supplier_amount,
        fee_amount: fee,
        settled_until: lease.settled_until,
        gpu_seconds,
    });
    Ok(payout)
}

/// The lease's own account as the rent source of credits its ending creates.
pub fn lease_rent<'a, 'info>(
    lease: &Account<'info, Lease>,
    system_program: &'a Program<'info, System>,
) -> RentSource<'a, 'info> {
    RentSource {
        account: lease.to_account_info(),
        rent_payer: lease.payer,
        system_program,
    }
}

/// Refunds what the lease did not spend to its payer, releases its GPUs and
/// closes it. The rent goes back to the payer's wallet, or, when that cannot
/// be written (an executable account), to the payer's credit account.
pub fn finish<'info>(
    vault: &VaultAccounts<'_, 'info>,
    lease: &mut Account<'info, Lease>,
    node: &mut Account<'info, Node>,
    payer: &Payee<'_, 'info>,
    payer_wallet: &AccountInfo<'info>,
    system_program: &Program<'info, System>,
    reason: LeaseEndReason,
) -> Result<()> {
    lease.invariant()?;
    require_keys_eq!(
        payer.wallet,
        lease.payer,
        IomeshError::PayoutAccountMismatch
    );
    let refund = lease.unspent()?;
    let rent = lease_rent(lease, system_program);
    vault.pay(payer, refund, Some(&rent))?;
    node.release(lease.gpus)?;
    match reason {
        LeaseEndReason::Completed => node.leases_served = node.leases_served.safe_add(1)?,
        LeaseEndReason::Failed => node.failures = node.failures.safe_add(1)?,
        LeaseEndReason::Cancelled | LeaseEndReason::Expired | LeaseEndReason::Unwound => {}
    }
    node.invariant()?;
    log_event!(LeaseEnded {
        lease: lease.key(),
        node: node.key(),
        reason,
        paid_out: lease.paid_out,
        refunded: refund,
        billed_until: lease.settled_until,
    });
    if can_take_lamports(payer_wallet) {
        require_keys_eq!(
            *payer_wallet.key,
            lease.payer,
            IomeshError::LeaseAccountMismatch
        );
        return lease.close(payer_wallet.clone());
    }
    vault.open_credit(payer, &rent)?;
    lease.close(payer.credit.clone())
}
