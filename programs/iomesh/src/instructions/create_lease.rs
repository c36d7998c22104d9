use crate::{
    account_creation,
    error::IomeshError,
    events::{ClusterLeaseFunded, LeaseCreated},
    math, seeds,
    state::*,
    transfers,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct CreateLeaseArgs {
    /// Any number unique among the renter's leases; part of the lease address.
    pub nonce: u64,
    pub gpus: u16,
    /// Seconds of service to buy.
    pub duration_secs: u32,
    /// Most the renter accepts to pay, in mint base units per GPU-hour.
    pub max_price_per_gpu_hour: u64,
    /// sha256 of the job spec.
    pub job_spec_hash: [u8; 32],
}

#[derive(Accounts)]
#[instruction(args: CreateLeaseArgs)]
pub struct CreateLease<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        seeds = [seeds::PAYMENT_MINT, mint.key().as_ref()],
        bump = payment_mint.bump,
        constraint = payment_mint.token_program == token_program.key() @ IomeshError::WrongTokenProgram
    )]
    pub payment_mint: Box<Account<'info, PaymentMint>>,
    #[account(mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, address = payment_mint.vault)]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, seeds = [seeds::NODE, node.operator.as_ref()], bump = node.bump)]
    pub node: Box<Account<'info, Node>>,
    /// CHECK: the new lease's address, checked by its seeds; created by the handler
    /// (`account_creation`), which refuses an address already in use.
    #[account(mut, seeds = [seeds::LEASE, renter.key().as_ref(), &args.nonce.to_le_bytes()], bump)]
    pub lease: UncheckedAccount<'info>,
    #[account(
        mut,
        token::mint = mint,
        token::authority = payer,
        token::token_program = token_program
    )]
    pub payer_token_account: Box<InterfaceAccount<'info, TokenAccount>>,
    /// The renter's cluster the lease joins, if any: it then starts only with the whole cluster.
    #[account(
        mut,
        seeds = [seeds::CLUSTER, renter.key().as_ref(), &cluster.nonce.to_le_bytes()],
        bump = cluster.bump
    )]
    pub cluster: Option<Box<Account<'info, Cluster>>>,
    /// CHECK: the Pyth `PriceUpdateV2` account of an oracle-priced mint; owner,
    /// layout, feed, age and confidence checked by `oracle::read_price`.
    pub price_update: Option<UncheckedAccount<'info>>,
    pub renter: Signer<'info>,
    /// Funds the escrow and the rent; receives refunds and the rent back. May be the renter.
    #[account(mut)]
    pub payer: Signer<'info>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

impl CreateLease<'_> {
    fn validate(&self, args: &CreateLeaseArgs) -> Result<()> {
        require!(!self.market.paused, IomeshError::MarketPaused);
        require!(
            self.node.status == NodeStatus::Available,
            IomeshError::NodeNotAvailable
        );
        require!(
            self.node.meets_stake(self.market.stake_per_gpu)?,
            IomeshError::InsufficientStake
        );
        require!(args.gpus > 0, IomeshError::InvalidGpuCount);
        require!(
            args.job_spec_hash != [0u8; 32],
            IomeshError::EmptyJobSpecHash
        );
        let min = self.market.min_lease_secs.max(self.node.min_lease_secs);
        let max = self.market.max_lease_secs.min(self.node.max_lease_secs);
        require!(args.duration_secs >= min, IomeshError::LeaseTooShort);
        require!(args.duration_secs <= max, IomeshError::LeaseTooLong);
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(&args))]
pub fn handler(ctx: Context<CreateLease>, args: CreateLeaseArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let accounts = ctx.accounts;
    let price_update = accounts.price_update.as_ref().map(|a| a.to_account_info());
    let usd_price = accounts
        .payment_mint
        .quote_price(now, price_update.as_ref())?;
    let rate = math::rate_per_gpu_hour(
        accounts.node.price_usd_micros_per_gpu_hour,
        usd_price,
        accounts.payment_mint.decimals,
    )?;
    require!(
        rate <= args.max_price_per_gpu_hour,
        IomeshError::PriceAboveMax
    );
    let deposit = math::escrow_cost(rate, args.gpus, u64::from(args.duration_secs))?;

    let (cluster_nonce, cluster_funding_deadline) = match accounts.cluster.as_mut() {
        Some(cluster) => {
            cluster.add_lease(now)?;
            cluster.invariant()?;
            (cluster.nonce, cluster.funding_deadline)
        }
        None => (0, 0),
    };

    accounts.node.reserve(args.gpus)?;
    accounts.node.invariant()?;

    let lease = Lease {
        version: ACCOUNT_VERSION,
        bump: ctx.bumps.lease,
        status: LeaseStatus::Pending,
        fee_bps: accounts.payment_mint.fee_bps,
        gpus: args.gpus,
        renter: accounts.renter.key(),
        payer: accounts.payer.key(),
        node: accounts.node.key(),
        mint: accounts.mint.key(),
        nonce: args.nonce,
        rate_per_gpu_hour: rate,
        deposited: deposit,
        paid_out: 0,
        created_at: now,
        activated_at: 0,
        settled_until: 0,
        duration_secs: args.duration_secs,
        job_spec_hash: args.job_spec_hash,
        in_cluster: accounts.cluster.is_some(),
        cluster_nonce,
        cluster_funding_deadline,
        reserved: [0; 132],
    };
    lease.invariant()?;
    let renter_key = accounts.renter.key();
    let nonce = args.nonce.to_le_bytes();
    account_creation::create_program_account(
        &accounts.payer.to_account_info(),
        &accounts.lease.to_account_info(),
        &accounts.system_program,
        Lease::SPACE,
        &[
            seeds::LEASE,
            renter_key.as_ref(),
            &nonce,
            &[ctx.bumps.lease],
        ],
        &lease,
    )?;

    transfers::deposit(
        &accounts.token_program,
        &accounts.payer_token_account,
        &accounts.vault,
        &accounts.mint,
        &accounts.payer,
        deposit,
    )?;
    log_event!(LeaseCreated {
        lease: accounts.lease.key(),
        renter: lease.renter,
        payer: lease.payer,
        node: lease.node,
        mint: lease.mint,
        gpus: lease.gpus,
        duration_secs: lease.duration_secs,
        rate_per_gpu_hour: rate,
        deposited: deposit,
        job_spec_hash: lease.job_spec_hash,
        nonce: lease.nonce,
        fee_bps: lease.fee_bps,
        created_at: lease.created_at,
        in_cluster: lease.in_cluster,
        cluster_nonce: lease.cluster_nonce,
        cluster_funding_deadline: lease.cluster_funding_deadline,
    });
    if let Some(cluster) = accounts.cluster.as_ref() {
        log_event!(ClusterLeaseFunded {
            cluster: cluster.key(),
            lease: accounts.lease.key(),
            leases_funded: cluster.leases_funded,
            leases_expected: cluster.leases_expected,
        });
    }
    Ok(())
}
