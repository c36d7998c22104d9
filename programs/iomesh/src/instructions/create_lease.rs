use crate::{error::IomeshError, events::LeaseCreated, math, seeds, state::*, transfers};
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
    #[account(
        init,
        payer = payer,
        space = Lease::SPACE,
        seeds = [seeds::LEASE, renter.key().as_ref(), &args.nonce.to_le_bytes()],
        bump
    )]
    pub lease: Box<Account<'info, Lease>>,
    #[account(
        mut,
        token::mint = mint,
        token::authority = payer,
        token::token_program = token_program
    )]
    pub payer_token_account: Box<InterfaceAccount<'info, TokenAccount>>,
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
    let usd_price = accounts.payment_mint.quote_price(now)?;
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

    accounts.node.reserve(args.gpus)?;
    accounts.node.invariant()?;

    let lease = &mut accounts.lease;
    lease.version = ACCOUNT_VERSION;
    lease.bump = ctx.bumps.lease;
    lease.status = LeaseStatus::Pending;
    lease.fee_bps = accounts.payment_mint.fee_bps;
    lease.gpus = args.gpus;
    lease.renter = accounts.renter.key();
    lease.payer = accounts.payer.key();
    lease.node = accounts.node.key();
    lease.mint = accounts.mint.key();
    lease.nonce = args.nonce;
    lease.rate_per_gpu_hour = rate;
    lease.deposited = deposit;
    lease.paid_out = 0;
    lease.created_at = now;
    lease.activated_at = 0;
    lease.settled_until = 0;
    lease.duration_secs = args.duration_secs;
    lease.job_spec_hash = args.job_spec_hash;
    lease.invariant()?;

    transfers::deposit(
        &accounts.token_program,
        &accounts.payer_token_account,
        &accounts.vault,
        &accounts.mint,
        &accounts.payer,
        deposit,
    )?;
    emit!(LeaseCreated {
        lease: lease.key(),
        renter: lease.renter,
        payer: lease.payer,
        node: lease.node,
        mint: lease.mint,
        gpus: lease.gpus,
        duration_secs: lease.duration_secs,
        rate_per_gpu_hour: rate,
        deposited: deposit,
        job_spec_hash: lease.job_spec_hash,
    });
    Ok(())
}
