//! A pending cluster lease that ends gives its slot back to its cluster.

use crate::{error::IomeshError, seeds, state::*};
use anchor_lang::prelude::*;

/// Called by the instructions that end a lease (cancel, expire) before the
/// lease is closed. A cluster counts only the members that can still start:
/// when a pending member ends, `leases_funded` drops and a complete cluster
/// becomes incomplete again, so none of its other pending leases can start
/// with a member missing. Before the deadline the renter may fund a
/// replacement; after it, anyone may unwind the rest with full refunds.
///
/// The cluster is the first account after the instruction's own. A cluster
/// already closed, or a later one re-created under the same nonce, no longer
/// counts the lease, and is left alone.
pub fn release<'info>(lease: &Lease, remaining: &'info [AccountInfo<'info>]) -> Result<()> {
    if !lease.in_cluster || lease.status != LeaseStatus::Pending {
        return Ok(());
    }
    let info = remaining
        .first()
        .ok_or(IomeshError::ClusterAccountRequired)?;
    let (address, _) = Pubkey::find_program_address(
        &[
            seeds::CLUSTER,
            lease.renter.as_ref(),
            &lease.cluster_nonce.to_le_bytes(),
        ],
        &crate::ID,
    );
    require_keys_eq!(*info.key, address, IomeshError::LeaseAccountMismatch);
    if info.owner != &crate::ID || info.data_is_empty() {
        return Ok(());
    }
    require!(info.is_writable, IomeshError::ClusterAccountRequired);
    let mut cluster: Account<'info, Cluster> = Account::try_from(info)?;
    if cluster.created_at > lease.created_at {
        return Ok(());
    }
    cluster.remove_lease()?;
    cluster.invariant()?;
    cluster.exit(&crate::ID)
}
