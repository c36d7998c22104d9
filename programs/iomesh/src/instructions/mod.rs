//! One file per instruction: its args, its accounts and its handler.
//! The globs re-export the account structs (and Anchor's generated client
//! modules) at the crate root, as `#[program]` expects; every file's `handler`
//! is called by its full path, so the shared name is never ambiguous in use.
#![allow(ambiguous_glob_reexports)]

pub mod activate_lease;
pub mod add_payment_mint;
pub mod cancel_lease;
pub mod claim_reward;
pub mod clawback_epoch;
pub mod close_cluster;
pub mod close_lease;
pub mod create_cluster;
pub mod create_lease;
pub mod expire_lease;
pub mod extend_lease;
pub mod finalize_slash;
pub mod grow_epoch;
pub mod init_io_vaults;
pub mod initialize_market;
pub mod lease_settlement;
pub mod publish_epoch;
pub mod register_node;
pub mod report_failure;
pub mod request_unstake;
pub mod retire_node;
pub mod reverse_slash;
pub mod set_mint_price;
pub mod set_node_status;
pub mod set_paused;
pub mod set_staking_policy;
pub mod settle_lease;
pub mod slash_node;
pub mod stake;
pub mod transfer_authority;
pub mod unwind_cluster;
pub mod update_market;
pub mod update_node;
pub mod update_payment_mint;
pub mod withdraw_stake;

pub use activate_lease::*;
pub use add_payment_mint::*;
pub use cancel_lease::*;
pub use claim_reward::*;
pub use clawback_epoch::*;
pub use close_cluster::*;
pub use close_lease::*;
pub use create_cluster::*;
pub use create_lease::*;
pub use expire_lease::*;
pub use extend_lease::*;
pub use finalize_slash::*;
pub use grow_epoch::*;
pub use init_io_vaults::*;
pub use initialize_market::*;
pub use publish_epoch::*;
pub use register_node::*;
pub use report_failure::*;
pub use request_unstake::*;
pub use retire_node::*;
pub use reverse_slash::*;
pub use set_mint_price::*;
pub use set_node_status::*;
pub use set_paused::*;
pub use set_staking_policy::*;
pub use settle_lease::*;
pub use slash_node::*;
pub use stake::*;
pub use transfer_authority::*;
pub use unwind_cluster::*;
pub use update_market::*;
pub use update_node::*;
pub use update_payment_mint::*;
