//! iomesh client library: the addresses, instructions, accounts and errors of
//! the iomesh program, over Solana JSON-RPC. Shared by the `iomesh` CLI, the
//! scheduler, the node agent and the demo.

pub mod accounts;
pub mod bootstrap;
pub mod client;
pub mod clock;
pub mod error;
pub mod instructions;
pub mod iosd;
pub mod offline;
pub mod pda;
pub mod program_errors;
pub mod query;
pub mod rewards;
pub mod serde_pubkey;
pub mod tokens;
pub mod units;

pub use client::{extension_deposit, quote, Client, LeaseAccounts, LeaseRole, Quote};
pub use error::{Error, Result};
pub use iomesh;
pub use tokens::TokenMint;
