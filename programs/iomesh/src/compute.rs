//! The compute units the program's own work is estimated to take, for hosts
//! that run it natively (the localnet, the program's tests).
//!
//! Natively compiled code is not metered instruction by instruction as SBF
//! code is, and the program has not been built for SBF here, so its compute
//! is unmeasured. A host charges this estimate when an instruction starts, on
//! top of what it meters for real: the runtime's charges for the program's
//! logs, events and cross-program invocations, and the callees' own compute
//! (the SPL and System programs are metered by the runtime as ever).
//!
//! The cost model, leaning high so that limits set from it hold on SBF:
//! - [`ENTRY_UNITS`]: the entrypoint, Anchor's dispatch, the arguments;
//! - [`ACCOUNT_UNITS`] per account passed (remaining accounts included):
//!   Anchor's owner, discriminator and constraint checks, the decode and the
//!   write-back of a typed account;
//! - [`PDA_UNITS`] per account the instruction derives (the accounts with
//!   `pda` in the IDL): `find_program_address` tries bumps down from 255 at
//!   1,500 units each (`create_program_address`), two tries on average.
//!
//! `tests/compute.rs` keeps [`PDA_ACCOUNTS`] equal to the IDL. Replace the
//! model with measured figures once the program runs on SBF (`anchor test`
//! reports the units each instruction consumed).

use anchor_lang::Discriminator;

pub const ENTRY_UNITS: u64 = 2_000;
pub const ACCOUNT_UNITS: u64 = 600;
pub const PDA_UNITS: u64 = 3_000;

macro_rules! pda_accounts {
    ($(($instruction:ident, $name:literal, $pdas:literal)),* $(,)?) => {
        /// Every instruction: its IDL name, its discriminator and how many of
        /// its named accounts are program-derived addresses it checks.
        pub const PDA_ACCOUNTS: &[(&str, &[u8], u64)] = &[
            $(($name, crate::instruction::$instruction::DISCRIMINATOR, $pdas)),*
        ];
    };
}

pda_accounts![
    (AcceptAuthority, "accept_authority", 1),
    (ActivateLease, "activate_lease", 4),
    (AddPaymentMint, "add_payment_mint", 3),
    (CancelLease, "cancel_lease", 7),
    (ClaimReward, "claim_reward", 4),
    (ClawbackEpoch, "clawback_epoch", 4),
    (CloseCluster, "close_cluster", 1),
    (CloseCredit, "close_credit", 1),
    (CloseLease, "close_lease", 7),
    (CreateCluster, "create_cluster", 2),
    (CreateLease, "create_lease", 5),
    (ExpireLease, "expire_lease", 5),
    (ExtendLease, "extend_lease", 4),
    (FinalizeSlash, "finalize_slash", 5),
    (GrowEpoch, "grow_epoch", 1),
    (InitIoVaults, "init_io_vaults", 4),
    (InitIosd, "init_iosd", 3),
    (InitializeMarket, "initialize_market", 1),
    (MintIosd, "mint_iosd", 3),
    (ProposeAuthority, "propose_authority", 1),
    (PublishEpoch, "publish_epoch", 4),
    (RegisterNode, "register_node", 2),
    (ReportFailure, "report_failure", 7),
    (RequestUnstake, "request_unstake", 2),
    (RetireNode, "retire_node", 1),
    (ReverseSlash, "reverse_slash", 3),
    (SetMintOracle, "set_mint_oracle", 2),
    (SetMintPrice, "set_mint_price", 2),
    (SetNodeStatus, "set_node_status", 1),
    (SetPaused, "set_paused", 1),
    (SetStakingPolicy, "set_staking_policy", 1),
    (SettleLease, "settle_lease", 6),
    (Slash, "slash", 3),
    (Stake, "stake", 3),
    (SweepFees, "sweep_fees", 3),
    (UnwindCluster, "unwind_cluster", 3),
    (UpdateMarket, "update_market", 1),
    (UpdateNode, "update_node", 2),
    (UpdatePaymentMint, "update_payment_mint", 2),
    (WithdrawCredit, "withdraw_credit", 2),
    (WithdrawStake, "withdraw_stake", 3),
];

/// The estimated units of the program's own work for an instruction with
/// `data` given `accounts` accounts. Data that names no instruction gets the
/// entry cost only (the program refuses it at once).
pub fn estimated_units(data: &[u8], accounts: usize) -> u64 {
    let pdas = PDA_ACCOUNTS
        .iter()
        .find(|(_, discriminator, _)| data.starts_with(discriminator))
        .map(|(_, _, pdas)| *pdas);
    match pdas {
        None => ENTRY_UNITS,
        Some(pdas) => ENTRY_UNITS + ACCOUNT_UNITS * accounts as u64 + PDA_UNITS * pdas,
    }
}
