use crate::{account_creation, error::IomeshError, events::ClusterCreated, seeds, state::*};
use anchor_lang::prelude::*;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct CreateClusterArgs {
    /// Any number unique among the renter's clusters; part of the cluster address.
    pub nonce: u64,
    /// Leases that must all be funded before any of them may start (1..=64).
    pub leases_expected: u16,
    /// Unix time (seconds) by which every lease must be funded (at most 24 h away).
    pub funding_deadline: i64,
}

#[derive(Accounts)]
#[instruction(args: CreateClusterArgs)]
pub struct CreateCluster<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump)]
    pub market: Box<Account<'info, Market>>,
    /// CHECK: the new cluster's address, checked by its seeds; created by the handler
    /// (`account_creation`), which refuses an address already in use.
    #[account(mut, seeds = [seeds::CLUSTER, renter.key().as_ref(), &args.nonce.to_le_bytes()], bump)]
    pub cluster: UncheckedAccount<'info>,
    /// Groups the leases and pays the cluster's rent (returned when it is closed).
    #[account(mut)]
    pub renter: Signer<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<CreateCluster>, args: CreateClusterArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    require!(!ctx.accounts.market.paused, IomeshError::MarketPaused);
    require!(
        args.leases_expected > 0 && args.leases_expected <= MAX_CLUSTER_LEASES,
        IomeshError::InvalidClusterSize
    );
    require!(
        args.funding_deadline > now && args.funding_deadline - now <= MAX_CLUSTER_FUNDING_SECS,
        IomeshError::InvalidClusterDeadline
    );
    let cluster = Cluster {
        version: ACCOUNT_VERSION,
        bump: ctx.bumps.cluster,
        renter: ctx.accounts.renter.key(),
        nonce: args.nonce,
        leases_expected: args.leases_expected,
        leases_funded: 0,
        leases_unwound: 0,
        funding_deadline: args.funding_deadline,
        created_at: now,
        completed_at: 0,
        reserved: [0; 32],
    };
    cluster.invariant()?;
    let renter = ctx.accounts.renter.key();
    let nonce = args.nonce.to_le_bytes();
    account_creation::create_program_account(
        &ctx.accounts.renter.to_account_info(),
        &ctx.accounts.cluster.to_account_info(),
        &ctx.accounts.system_program,
        Cluster::SPACE,
        &[
            seeds::CLUSTER,
            renter.as_ref(),
            &nonce,
            &[ctx.bumps.cluster],
        ],
        &cluster,
    )?;
    log_event!(ClusterCreated {
        cluster: ctx.accounts.cluster.key(),
        renter,
        nonce: args.nonce,
        leases_expected: args.leases_expected,
        funding_deadline: args.funding_deadline,
    });
    Ok(())
}
