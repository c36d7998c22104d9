//! iomesh: escrowed GPU leases on Solana.
//!
//! Suppliers list GPU nodes; renters lease GPUs and pay into a per-mint escrow
//! vault; nodes are paid per second of service minus a per-mint network fee;
//! renters get back what they did not use. `lib.rs` only dispatches: each
//! instruction lives in its own file under `instructions/`.

use anchor_lang::prelude::*;

/// Logs an event as `Program data:`: Anchor's `emit!` on-chain; natively
/// hosted (the tests, the localnet), through the host's syscall stubs,
/// because Anchor's host build drops events and they could not be observed.
macro_rules! log_event {
    ($event:expr) => {{
        #[cfg(target_os = "solana")]
        anchor_lang::prelude::emit!($event);
        #[cfg(not(target_os = "solana"))]
        $crate::events::log_on_host(&$event);
    }};
}

pub mod account_creation;
#[cfg(not(target_os = "solana"))]
pub mod compute;
pub mod error;
pub mod events;
pub mod instructions;
pub mod math;
pub mod merkle;
pub mod mint_policy;
#[cfg(not(target_os = "solana"))]
pub mod native;
pub mod oracle;
pub mod payouts;
pub mod seeds;
pub mod state;
pub mod transfers;

pub use instructions::*;
pub use state::*;

declare_id!("Hv9kaXXCPDFJ5GeXcsF4VhNrwDEBYfSVYbLT9rerACQk");

#[program]
pub mod iomesh {
    use super::*;

    /// Creates the market with its authorities and lease policy; the signer becomes its authority.
    pub fn initialize_market(ctx: Context<InitializeMarket>, params: MarketParams) -> Result<()> {
        instructions::initialize_market::handler(ctx, params)
    }

    /// Changes the treasury, authorities and lease policy (market authority).
    pub fn update_market(ctx: Context<MarketAdmin>, params: MarketParams) -> Result<()> {
        instructions::update_market::handler(ctx, params)
    }

    /// Proposes a new market authority; it takes effect when accepted.
    pub fn propose_authority(ctx: Context<MarketAdmin>, new_authority: Pubkey) -> Result<()> {
        instructions::transfer_authority::propose(ctx, new_authority)
    }

    /// The proposed authority accepts control of the market.
    pub fn accept_authority(ctx: Context<AcceptAuthority>) -> Result<()> {
        instructions::transfer_authority::accept(ctx)
    }

    /// Pauses or resumes new leases and extensions (never payouts or refunds).
    pub fn set_paused(ctx: Context<MarketAdmin>, paused: bool) -> Result<()> {
        instructions::set_paused::handler(ctx, paused)
    }

    /// Accepts a new payment mint and creates its escrow vault (market authority).
    pub fn add_payment_mint(ctx: Context<AddPaymentMint>, args: AddPaymentMintArgs) -> Result<()> {
        instructions::add_payment_mint::handler(ctx, args)
    }

    /// Changes a payment mint's fee, price source, price age or enabled flag (market authority).
    pub fn update_payment_mint(
        ctx: Context<PaymentMintAdmin>,
        args: UpdatePaymentMintArgs,
    ) -> Result<()> {
        instructions::update_payment_mint::handler(ctx, args)
    }

    /// Prices a payment mint from a Pyth oracle feed (market authority).
    pub fn set_mint_oracle(ctx: Context<PaymentMintAdmin>, oracle: MintOracle) -> Result<()> {
        instructions::set_mint_oracle::handler(ctx, oracle)
    }

    /// Sets the USD price of an authority-priced mint (price authority).
    pub fn set_mint_price(ctx: Context<SetMintPrice>, usd_price_micros: u64) -> Result<()> {
        instructions::set_mint_price::handler(ctx, usd_price_micros)
    }

    /// Lists a GPU node (owner and operator both sign).
    pub fn register_node(ctx: Context<RegisterNode>, spec: NodeSpec) -> Result<()> {
        instructions::register_node::handler(ctx, spec)
    }

    /// Changes a node's listing (owner).
    pub fn update_node(ctx: Context<UpdateNode>, spec: NodeSpec) -> Result<()> {
        instructions::update_node::handler(ctx, spec)
    }

    /// Pauses or resumes new leases on a node (owner).
    pub fn set_node_status(ctx: Context<SetNodeStatus>, status: NodeStatus) -> Result<()> {
        instructions::set_node_status::handler(ctx, status)
    }

    /// Closes a node with no open lease (owner).
    pub fn retire_node(ctx: Context<RetireNode>) -> Result<()> {
        instructions::retire_node::handler(ctx)
    }

    /// Groups leases that must all be funded before any of them starts (renter).
    pub fn create_cluster(ctx: Context<CreateCluster>, args: CreateClusterArgs) -> Result<()> {
        instructions::create_cluster::handler(ctx, args)
    }

    /// Refunds and closes the leases of a cluster not fully funded by its deadline (anyone).
    pub fn unwind_cluster<'info>(ctx: Context<'info, UnwindCluster<'info>>) -> Result<()> {
        instructions::unwind_cluster::handler(ctx)
    }

    /// Returns a complete or expired cluster's rent to its renter (renter).
    pub fn close_cluster(ctx: Context<CloseCluster>) -> Result<()> {
        instructions::close_cluster::handler(ctx)
    }

    /// Names the IO mint and creates the stake vault and the rewards reserve and escrow (market authority).
    pub fn init_io_vaults(ctx: Context<InitIoVaults>) -> Result<()> {
        instructions::init_io_vaults::handler(ctx)
    }

    /// Sets the stake per GPU, unstake cooldown, slash appeal window and slashing authority (market authority).
    pub fn set_staking_policy(ctx: Context<MarketAdmin>, policy: StakingPolicy) -> Result<()> {
        instructions::set_staking_policy::handler(ctx, policy)
    }

    /// Adds IO to a node's stake (node owner).
    pub fn stake(ctx: Context<StakeAccounts>, amount: u64) -> Result<()> {
        instructions::stake::handler(ctx, amount)
    }

    /// Starts the cooldown of part of a node's stake (node owner).
    pub fn request_unstake(ctx: Context<RequestUnstake>, amount: u64) -> Result<()> {
        instructions::request_unstake::handler(ctx, amount)
    }

    /// Withdraws the stake whose cooldown has ended (node owner).
    pub fn withdraw_stake(ctx: Context<StakeAccounts>) -> Result<()> {
        instructions::withdraw_stake::handler(ctx)
    }

    /// Takes stake from a node into a pending slash open to appeal (slashing authority).
    pub fn slash(ctx: Context<SlashNode>, args: SlashArgs) -> Result<()> {
        instructions::slash_node::handler(ctx, args)
    }

    /// Gives a pending slash back to the node within the appeal window (slashing authority).
    pub fn reverse_slash(ctx: Context<ReverseSlash>) -> Result<()> {
        instructions::reverse_slash::handler(ctx)
    }

    /// After the appeal window, pays the harmed wallet and burns the rest (anyone).
    pub fn finalize_slash(ctx: Context<FinalizeSlash>) -> Result<()> {
        instructions::finalize_slash::handler(ctx)
    }

    /// Publishes a reward epoch's merkle root and funds it from the rewards reserve (reward authority).
    pub fn publish_epoch(ctx: Context<PublishEpoch>, args: PublishEpochArgs) -> Result<()> {
        instructions::publish_epoch::handler(ctx, args)
    }

    /// Grows an epoch account towards its full size, 10,240 bytes at a time (anyone).
    pub fn grow_epoch(ctx: Context<GrowEpoch>) -> Result<()> {
        instructions::grow_epoch::handler(ctx)
    }

    /// Pays a node owner its leaf of an epoch, once, against a merkle proof (node owner).
    pub fn claim_reward(ctx: Context<ClaimReward>, args: ClaimRewardArgs) -> Result<()> {
        instructions::claim_reward::handler(ctx, args)
    }

    /// Returns an epoch's unclaimed rewards to the reserve after its deadline (anyone).
    pub fn clawback_epoch(ctx: Context<ClawbackEpoch>) -> Result<()> {
        instructions::clawback_epoch::handler(ctx)
    }

    /// Sets up IOSD burn-and-mint: mint, oracle policy, circuit breaker (market authority).
    pub fn init_iosd(ctx: Context<InitIosd>, policy: IosdPolicy) -> Result<()> {
        instructions::init_iosd::handler(ctx, policy)
    }

    /// Burns the caller's IO and mints IOSD at the oracle's IO/USD price, at least `min_iosd_out`.
    pub fn mint_iosd(ctx: Context<MintIosd>, io_amount: u64, min_iosd_out: u64) -> Result<()> {
        instructions::mint_iosd::handler(ctx, io_amount, min_iosd_out)
    }

    /// Leases GPUs on a node: escrows price × GPUs × duration and reserves the GPUs.
    pub fn create_lease(ctx: Context<CreateLease>, args: CreateLeaseArgs) -> Result<()> {
        instructions::create_lease::handler(ctx, args)
    }

    /// The node's operator starts the lease; billing starts now.
    pub fn activate_lease(ctx: Context<ActivateLease>) -> Result<()> {
        instructions::activate_lease::handler(ctx)
    }

    /// Pays the node for the seconds accrued so far (anyone).
    pub fn settle_lease(ctx: Context<SettleLease>) -> Result<()> {
        instructions::settle_lease::handler(ctx)
    }

    /// Buys more seconds at the locked price (renter or payer).
    pub fn extend_lease(ctx: Context<ExtendLease>, added_secs: u32) -> Result<()> {
        instructions::extend_lease::handler(ctx, added_secs)
    }

    /// Ends the lease now: accrued service paid, the rest refunded (renter; a pending cluster lease passes its cluster last).
    pub fn cancel_lease<'info>(ctx: Context<'info, CancelLease<'info>>) -> Result<()> {
        instructions::cancel_lease::handler(ctx)
    }

    /// Ends a lease whose node failed at `failed_at` (scheduler authority).
    pub fn report_failure(ctx: Context<ReportFailure>, failed_at: i64) -> Result<()> {
        instructions::report_failure::handler(ctx, failed_at)
    }

    /// Ends a lease never activated in time, with a full refund (anyone; a cluster lease passes its cluster last).
    pub fn expire_lease<'info>(ctx: Context<'info, ExpireLease<'info>>) -> Result<()> {
        instructions::expire_lease::handler(ctx)
    }

    /// Ends a lease that ran to its end: final payout, refund, rent back (anyone).
    pub fn close_lease(ctx: Context<CloseLease>) -> Result<()> {
        instructions::close_lease::handler(ctx)
    }

    /// Pays a credit's owner what its accounts could not take, to a token account of its choice (owner).
    pub fn withdraw_credit(ctx: Context<WithdrawCredit>) -> Result<()> {
        instructions::withdraw_credit::handler(ctx)
    }

    /// Closes an emptied credit, its rent back to whoever funded it (anyone).
    pub fn close_credit(ctx: Context<CloseCredit>) -> Result<()> {
        instructions::close_credit::handler(ctx)
    }

    /// Pays the treasury the fees its token account could not take when due (anyone).
    pub fn sweep_fees(ctx: Context<SweepFees>) -> Result<()> {
        instructions::sweep_fees::handler(ctx)
    }
}
