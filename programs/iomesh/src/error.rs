use anchor_lang::prelude::*;

/// Every way an iomesh instruction can refuse. Messages say what was wrong and what was expected.
#[error_code]
pub enum IomeshError {
    #[msg("arithmetic overflow: amounts, prices or durations are too large")]
    MathOverflow,
    #[msg("the market is paused: new leases and extensions are refused until it is resumed")]
    MarketPaused,
    #[msg("signer is not the market authority")]
    NotMarketAuthority,
    #[msg("signer is not the pending market authority proposed by the current authority")]
    NotPendingAuthority,
    #[msg("no authority transfer is pending")]
    NoPendingAuthority,
    #[msg("signer is not the market's price authority")]
    NotPriceAuthority,
    #[msg("signer is not the market's scheduler authority")]
    NotSchedulerAuthority,
    #[msg(
        "market parameter out of range: need 0 < min lease <= max lease, activation timeout > 0"
    )]
    InvalidMarketParams,
    #[msg("network fee too high: at most 1000 bps (10%) per mint")]
    FeeTooHigh,
    #[msg("price must be greater than zero")]
    ZeroPrice,
    #[msg("a stable mint is priced at exactly 1 USD (1000000 micro-USD)")]
    StablePriceMustBeOneUsd,
    #[msg("max price age must be greater than zero for an authority-priced mint")]
    InvalidMaxPriceAge,
    #[msg("payment mint is disabled: new leases in it are refused")]
    PaymentMintDisabled,
    #[msg(
        "the mint's USD price is older than its maximum age: the price authority must refresh it"
    )]
    StalePrice,
    #[msg("mint has decimals above 18, which iomesh does not support")]
    UnsupportedDecimals,
    #[msg("token program is neither SPL Token nor Token-2022, or does not own the mint")]
    WrongTokenProgram,
    #[msg("Token-2022 mint has the TransferFeeConfig extension: transfer fees break escrow accounting")]
    MintHasTransferFee,
    #[msg(
        "Token-2022 mint has the TransferHook extension: hooks can block or alter escrow transfers"
    )]
    MintHasTransferHook,
    #[msg(
        "Token-2022 mint has the PermanentDelegate extension: a delegate could drain the escrow"
    )]
    MintHasPermanentDelegate,
    #[msg(
        "Token-2022 mint has the NonTransferable extension: escrowed tokens could not be paid out"
    )]
    MintIsNonTransferable,
    #[msg("Token-2022 mint has the DefaultAccountState extension set to frozen: the vault would be frozen")]
    MintIsDefaultFrozen,
    #[msg("Token-2022 mint has the ConfidentialTransferMint extension: hidden balances break escrow accounting")]
    MintHasConfidentialTransfers,
    #[msg("Token-2022 mint has the ConfidentialTransferFeeConfig extension: hidden fees break escrow accounting")]
    MintHasConfidentialTransferFee,
    #[msg("Token-2022 mint has the ConfidentialMintBurn extension: hidden supply breaks escrow accounting")]
    MintHasConfidentialMintBurn,
    #[msg("Token-2022 mint has the Pausable extension: a paused mint would freeze escrow payouts and refunds")]
    MintIsPausable,
    #[msg("GPU count must be between 1 and 1024")]
    InvalidGpuCount,
    #[msg("VRAM per GPU must be greater than zero")]
    InvalidVram,
    #[msg("text field is empty, too long, or not printable ASCII")]
    InvalidText,
    #[msg("node lease bounds invalid: need market min <= node min <= node max <= market max")]
    InvalidNodeLeaseBounds,
    #[msg("cannot lower the node's GPU count below the GPUs currently leased")]
    GpuCountBelowInUse,
    #[msg("signer is not the node owner")]
    NotNodeOwner,
    #[msg("signer is not the node operator")]
    NotNodeOperator,
    #[msg("node is not available for new leases")]
    NodeNotAvailable,
    #[msg("node still has pending or active leases; close them before retiring")]
    NodeHasOpenLeases,
    #[msg("requested GPUs exceed the node's free GPUs (overbooking)")]
    Overbooked,
    #[msg("lease duration is shorter than the node's or market's minimum")]
    LeaseTooShort,
    #[msg("lease duration is longer than the node's or market's maximum")]
    LeaseTooLong,
    #[msg("price per GPU-hour in this mint exceeds the renter's max_price")]
    PriceAboveMax,
    #[msg("job spec hash must not be all zeros")]
    EmptyJobSpecHash,
    #[msg("lease is not pending")]
    LeaseNotPending,
    #[msg("lease is not active")]
    LeaseNotActive,
    #[msg("activation window has passed: the lease can only be expired now")]
    ActivationTimedOut,
    #[msg("activation window has not passed yet: the lease cannot be expired")]
    ActivationWindowOpen,
    #[msg("lease has not reached its end yet")]
    LeaseNotEnded,
    #[msg("lease has already ended: it can only be closed")]
    LeaseEnded,
    #[msg("nothing has accrued since the last settlement")]
    NothingToSettle,
    #[msg("signer is neither the lease renter nor its payer")]
    NotRenterOrPayer,
    #[msg("signer is not the lease renter")]
    NotRenter,
    #[msg("account does not belong to this lease (renter, payer, node or mint mismatch)")]
    LeaseAccountMismatch,
    #[msg("failure time must lie between the lease's activation and both now and its end")]
    InvalidFailureTime,
    #[msg("extension must add at least one second")]
    ZeroExtension,
    #[msg("supplier and treasury token accounts are required when a payout is due")]
    MissingPayoutAccount,
    #[msg("account already exists: it holds data or belongs to a program")]
    AccountAlreadyInUse,
    #[msg("cluster size must be between 1 and 64 leases")]
    InvalidClusterSize,
    #[msg("cluster funding deadline must be in the future and at most 24 hours away")]
    InvalidClusterDeadline,
    #[msg("the cluster's funding deadline has passed: no lease may join it")]
    ClusterFundingClosed,
    #[msg("the cluster already has all the leases it expects")]
    ClusterFull,
    #[msg("the lease belongs to a cluster: pass the cluster account")]
    ClusterAccountRequired,
    #[msg("not every lease of the cluster is funded yet: cluster leases start together")]
    ClusterNotFunded,
    #[msg("the cluster is fully funded: it cannot be unwound")]
    ClusterComplete,
    #[msg("the cluster's funding deadline has not passed yet")]
    ClusterDeadlineNotPassed,
    #[msg("unwind accounts come in groups of four: lease, node, payer token account, payer")]
    InvalidUnwindAccounts,
    #[msg("amount must be greater than zero")]
    ZeroAmount,
    #[msg(
        "the IO mint and its vaults are not set up: the market authority runs init_io_vaults first"
    )]
    IoNotConfigured,
    #[msg("the IO mint and its vaults are already set up")]
    IoVaultsExist,
    #[msg("staking policy invalid: need a slash authority, unstake cooldown > 0 and appeal window > 0")]
    InvalidStakingPolicy,
    #[msg("node stake is below stake_per_gpu x gpu_count (or below the amount asked)")]
    InsufficientStake,
    #[msg("unstaking would leave the node below its required stake while it has open leases")]
    StakeBelowMinimumWithOpenLeases,
    #[msg("nothing is unstaking: request an unstake first")]
    NothingToWithdraw,
    #[msg("the unstake cooldown has not ended yet")]
    UnstakeCooldownActive,
    #[msg("node still holds stake or pending slashes: withdraw and settle them before retiring")]
    NodeHasStake,
    #[msg("signer is not the market's slashing authority")]
    NotSlashAuthority,
    #[msg("slash amount invalid: need amount > 0, harmed amount <= amount and a harmed wallet")]
    InvalidSlashAmount,
    #[msg("slash amount exceeds the node's staked and unstaking IO")]
    SlashExceedsStake,
    #[msg("the slash's appeal window has ended: it can only be finalized")]
    AppealWindowClosed,
    #[msg("the slash's appeal window is still open: it cannot be finalized yet")]
    AppealWindowOpen,
    #[msg("signer is not the market's reward authority")]
    NotRewardAuthority,
    #[msg("epoch invalid: need 1..=1048576 leaves, a total > 0, a non-zero root and a future claim deadline")]
    InvalidEpoch,
    #[msg("the rewards reserve holds less IO than the epoch's total")]
    RewardsReserveTooSmall,
    #[msg("the epoch account is already at its full size")]
    EpochFullyAllocated,
    #[msg("the epoch account is not fully allocated yet: grow_epoch first")]
    EpochNotFullyAllocated,
    #[msg("this leaf of the epoch has already been claimed")]
    AlreadyClaimed,
    #[msg("the merkle proof does not lead from this leaf (epoch, index, node, owner, amount) to the epoch's root")]
    InvalidProof,
    #[msg("the claim would pay out more than the epoch's total")]
    ClaimExceedsEpoch,
    #[msg("the epoch's claim deadline has passed")]
    ClaimWindowClosed,
    #[msg("the epoch's claim deadline has not passed yet")]
    ClaimWindowOpen,
    #[msg("the epoch's unclaimed rewards were clawed back: no more claims")]
    EpochClawedBack,
    #[msg("IOSD policy invalid: need a feed id, max age > 0, 0 < max confidence <= 1000 bps, window > 0 and cap > 0")]
    InvalidIosdPolicy,
    #[msg("the IOSD mint must have no freeze authority")]
    IosdMintHasFreezeAuthority,
    #[msg("this is not the configured IOSD mint")]
    WrongIosdMint,
    #[msg("the price account is not owned by the Pyth receiver program")]
    WrongOracleOwner,
    #[msg("the price account is not a Pyth PriceUpdateV2 account")]
    InvalidOracleAccount,
    #[msg("the price update's Wormhole signatures are only partially verified")]
    OracleNotFullyVerified,
    #[msg("the price account is for another feed than the configured IO/USD feed")]
    WrongPriceFeed,
    #[msg("the oracle price is older than the maximum age: post a fresh update")]
    StaleOraclePrice,
    #[msg("the oracle price's confidence interval is wider than the maximum allowed")]
    PriceConfidenceTooWide,
    #[msg("less IOSD would be minted than the minimum asked (price moved)")]
    SlippageExceeded,
    #[msg("the IOSD minted in this window would exceed the circuit breaker's cap: wait for the next window")]
    CircuitBreakerTripped,
    #[msg("an oracle-priced mint needs its Pyth price update account")]
    OracleAccountRequired,
    #[msg("oracle config invalid: need a feed id and 0 < max confidence <= 1000 bps")]
    InvalidOracleConfig,
    #[msg("invariant broken: the account's layout version is not one this program reads")]
    UnsupportedAccountVersion,
    #[msg("a payout account is not the payee's associated token account or its credit account for this mint")]
    PayoutAccountMismatch,
    #[msg("an account this instruction writes was passed read-only")]
    AccountNotWritable,
    #[msg("the payee's token account cannot receive (closed, frozen, given away or requiring a memo) and it has no credit account yet; ending the lease credits it")]
    PayeeCannotReceive,
    #[msg("signer is not the credit's owner")]
    NotCreditOwner,
    #[msg("the credit holds nothing to withdraw")]
    CreditEmpty,
    #[msg("the credit still holds tokens or lamports: its owner must withdraw them first")]
    CreditNotEmpty,
    #[msg("the payment mint has no unswept fees")]
    NoUnsweptFees,
    #[msg("the treasury's token account cannot receive (closed, frozen, given away or requiring a memo)")]
    TreasuryCannotReceive,
    // Invariant clauses: each names what broke (the log adds the file and line).
    #[msg("invariant broken: a reward epoch paid out more than its total or to more claims than leaves")]
    EpochOverclaimed,
    #[msg("invariant broken: the IOSD minted in the window exceeds the window's cap")]
    IosdWindowOverCap,
    #[msg("invariant broken: a pending slash's appeal window does not end after the slash")]
    SlashAppealWindowInvalid,
    #[msg("invariant broken: a cluster has more leases funded than expected or more unwound than funded")]
    ClusterCountsInconsistent,
    #[msg("invariant broken: a cluster's funding deadline or completion time disagrees with its state")]
    ClusterTimesInconsistent,
    #[msg("invariant broken: a node has more GPUs in use than it lists")]
    NodeGpusOverCapacity,
    #[msg("invariant broken: a node's open leases and GPUs in use disagree")]
    NodeOpenLeasesInconsistent,
    #[msg("invariant broken: a node's unstake or pending slash counters disagree")]
    NodeStakeStateInconsistent,
    #[msg("invariant broken: a lease released more GPUs or leases than its node holds")]
    NodeReleasesMoreThanHeld,
    #[msg("invariant broken: a lease has no GPUs or no duration")]
    LeaseWithoutGpusOrDuration,
    #[msg("invariant broken: a lease's deposit is not its rate times GPUs times duration")]
    LeaseDepositNotCost,
    #[msg("invariant broken: a lease paid out more than was deposited")]
    LeasePaidOutExceedsDeposit,
    #[msg("invariant broken: a lease outside a cluster carries cluster fields")]
    LeaseClusterFieldsOutsideCluster,
    #[msg("invariant broken: a pending lease has an activation, a settlement or a payout")]
    PendingLeaseHasActivity,
    #[msg("invariant broken: an active lease's activation, settlement and end are out of order")]
    ActiveLeaseTimesOutOfOrder,
    #[msg("invariant broken: an active lease's payout is not what accrued up to its settlement")]
    ActiveLeasePaidOutNotAccrued,
}
