use super::lease_settlement;
use crate::{
    error::IomeshError,
    events::{ClusterClosed, ClusterUnwound, LeaseEndReason},
    payouts::{can_take_lamports, Payee, VaultAccounts},
    seeds,
    state::*,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

/// Accounts per unwound lease in `remaining_accounts`, all writable: lease,
/// node, payer token account, payer, payer credit (`["credit", vault, payer]`).
pub const UNWIND_GROUP: usize = 5;

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
    /// CHECK: the cluster's renter (`has_one`): receives the cluster's rent
    /// once every funded lease is unwound, whichever program owns it.
    #[account(mut)]
    pub renter: UncheckedAccount<'info>,
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
    pub system_program: Program<'info, System>,
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
        !groups.is_empty() && groups.len().is_multiple_of(UNWIND_GROUP),
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
        let [lease_info, node_info, payer_token_info, payer_info, payer_credit_info] = group else {
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
        // The node's GPUs are released: a read-only node would keep them reserved.
        require!(node_info.is_writable, IomeshError::AccountNotWritable);
        let mut node: Account<'info, Node> = Account::try_from(node_info)?;
        let payer = Payee {
            wallet: *payer_info.key,
            token_account: payer_token_info,
            credit: payer_credit_info,
        };
        vault.verify_payee(&payer)?;
        // Only an executable address (which takes no lamports) may be read-only.
        require!(
            payer_info.is_writable || payer_info.executable,
            IomeshError::AccountNotWritable
        );
        lease_settlement::finish(
            &vault,
            &mut lease,
            &mut node,
            &payer,
            payer_info,
            &a.system_program,
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
    log_event!(ClusterUnwound {
        cluster: cluster.key(),
        leases_unwound: unwound,
        total_unwound: cluster.leases_unwound,
        leases_funded: cluster.leases_funded,
    });
    // An executable renter address cannot take lamports: the empty cluster stays open.
    if cluster.leases_unwound == cluster.leases_funded && can_take_lamports(&a.renter) {
        log_event!(ClusterClosed {
            cluster: cluster.key(),
            renter: cluster.renter,
            completed: false,
        });
        cluster.close(a.renter.to_account_info())?;
    }
    Ok(())
}
