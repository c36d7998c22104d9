use super::lease_settlement::{self, VaultAccounts};
use crate::{
    error::IomeshError,
    events::{ClusterClosed, ClusterUnwound, LeaseEndReason},
    seeds,
    state::*,
};
use anchor_lang::prelude::*;
use anchor_spl::{
    associated_token::get_associated_token_address_with_program_id,
    token_interface::{Mint, TokenAccount, TokenInterface},
};

/// Accounts per unwound lease in `remaining_accounts`: lease, node, payer token account, payer.
pub const UNWIND_GROUP: usize = 4;

#[derive(Accounts)]
pub struct UnwindCluster<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        seeds = [seeds::CLUSTER, renter.key().as_ref(), &cluster.nonce.to_le_bytes()],
        bump = cluster.bump,
        has_one = renter @ IomeshError::LeaseAccountMismatch
    )]
    pub cluster: Box<Account<'info, Cluster>>,
    /// Receives the cluster's rent once every funded lease is unwound.
    #[account(mut)]
    pub renter: SystemAccount<'info>,
    /// The mint of the leases unwound by this instruction (one mint per call).
    #[account(mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        mut,
        seeds = [seeds::VAULT, mint.key().as_ref()],
        bump,
        token::mint = mint,
        token::authority = market,
        token::token_program = token_program
    )]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// Anyone may unwind a cluster that missed its funding deadline: each lease
/// given in `remaining_accounts` (groups of [`UNWIND_GROUP`]) is refunded in
/// full to its payer, its GPUs released and its account closed. Leases in
/// other mints are unwound by further calls; the last one closes the cluster.
pub fn handler<'info>(ctx: Context<'info, UnwindCluster<'info>>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = ctx.accounts;
    require!(
        now > a.cluster.funding_deadline,
        IomeshError::ClusterDeadlineNotPassed
    );
    require!(!a.cluster.is_complete(), IomeshError::ClusterComplete);
    let groups = ctx.remaining_accounts;
    require!(
        !groups.is_empty() && groups.len() % UNWIND_GROUP == 0,
        IomeshError::InvalidUnwindAccounts
    );
    let vault = VaultAccounts {
        market: &a.market,
        mint: &a.mint,
        vault: &a.vault,
        token_program: &a.token_program,
    };
    let mut unwound: u16 = 0;
    // At most 64 leases per cluster, and a transaction holds far fewer groups.
    for group in groups.chunks_exact(UNWIND_GROUP) {
        let [lease_info, node_info, payer_token_info, payer_info] = group else {
            return err!(IomeshError::InvalidUnwindAccounts);
        };
        let mut lease: Account<'info, Lease> = Account::try_from(lease_info)?;
        let lease_address = Pubkey::create_program_address(
            &[
                seeds::LEASE,
                lease.renter.as_ref(),
                &lease.nonce.to_le_bytes(),
                &[lease.bump],
            ],
            &crate::ID,
        )
        .map_err(|_| IomeshError::LeaseAccountMismatch)?;
        require!(
            lease_info.is_writable
                && *lease_info.key == lease_address
                && lease.in_cluster
                && lease.cluster_nonce == a.cluster.nonce
                && lease.renter == a.cluster.renter
                && lease.created_at >= a.cluster.created_at
                && lease.mint == a.mint.key()
                && lease.node == *node_info.key
                && lease.payer == *payer_info.key,
            IomeshError::LeaseAccountMismatch
        );
        // An incomplete cluster's leases can never have started.
        require!(
            lease.status == LeaseStatus::Pending,
            IomeshError::LeaseNotPending
        );
        let mut node: Account<'info, Node> = Account::try_from(node_info)?;
        let payer_token_account: InterfaceAccount<'info, TokenAccount> =
            InterfaceAccount::try_from(payer_token_info)?;
        require_keys_eq!(
            *payer_token_info.key,
            get_associated_token_address_with_program_id(
                payer_info.key,
                &a.mint.key(),
                &a.token_program.key()
            ),
            IomeshError::LeaseAccountMismatch
        );
        lease_settlement::finish(
            &vault,
            &mut lease,
            &mut node,
            &payer_token_account,
            payer_info,
            LeaseEndReason::Unwound,
        )?;
        // Written back now: a later group may hold a lease on the same node.
        node.exit(&crate::ID)?;
        unwound += 1;
    }
    let cluster = &mut a.cluster;
    cluster.leases_unwound = cluster
        .leases_unwound
        .checked_add(unwound)
        .ok_or(IomeshError::MathOverflow)?;
    cluster.invariant()?;
    emit!(ClusterUnwound {
        cluster: cluster.key(),
        leases_unwound: unwound,
        total_unwound: cluster.leases_unwound,
        leases_funded: cluster.leases_funded,
    });
    if cluster.leases_unwound == cluster.leases_funded {
        emit!(ClusterClosed {
            cluster: cluster.key(),
            renter: cluster.renter,
            completed: false,
        });
        cluster.close(a.renter.to_account_info())?;
    }
    Ok(())
}
