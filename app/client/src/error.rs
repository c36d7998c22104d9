//! Every way a client call can fail, each saying what was wrong and, where
//! there is one, what to do about it.

use crate::program_errors::ProgramError;
use anchor_lang::prelude::Pubkey;
use solana_transaction_error::TransactionError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach the RPC endpoint {url}: {detail}")]
    Unreachable { url: String, detail: String },

    /// Offline signing could not assemble a valid transaction.
    #[error("{0}")]
    Signing(String),

    #[error("RPC request to {url} failed: {detail}")]
    Rpc { url: String, detail: String },

    /// A program refused an instruction with a custom error code.
    #[error("instruction {index} failed: {} ({}): {}", .error.name, .error.code, .error.message)]
    Program { index: u8, error: ProgramError },

    #[error("transaction failed: {error}{hint}")]
    Transaction {
        error: Box<TransactionError>,
        hint: &'static str,
    },

    #[error("insufficient {symbol} balance in {account}: {needed} {symbol} needed, {held} {symbol} held; {missing} {symbol} missing", symbol = .0.symbol, account = .0.account, needed = .0.needed, held = .0.held, missing = .0.missing)]
    InsufficientBalance(Box<Shortfall>),

    #[error(
        "unknown node {0}: no node account at this address, nor one whose operator is this key"
    )]
    UnknownNode(Pubkey),

    #[error("unknown lease {0}: no lease account at this address (it may have been closed)")]
    UnknownLease(Pubkey),

    #[error("no market at {0}: initialise it with `iomesh market init` (or `iomesh-localnet --bootstrap`)")]
    NoMarket(Pubkey),

    #[error("unknown cluster {0}: no cluster account at this address (it may have been unwound or closed)")]
    UnknownCluster(Pubkey),

    #[error("reward epoch {0} is not published on-chain (no account at {1})")]
    UnknownEpoch(u64, Pubkey),

    #[error("the market has no IO staking and rewards yet: its authority runs init_io_vaults (`iomesh-localnet --bootstrap` does)")]
    IoNotConfigured,

    #[error("IOSD minting is not configured on this market: its authority runs init_iosd")]
    IosdNotConfigured,

    #[error("mint {0} is not an accepted payment mint of the market")]
    UnknownPaymentMint(Pubkey),

    #[error("account {address} is not a {what}: {detail}")]
    Decode {
        address: Pubkey,
        what: &'static str,
        detail: String,
    },

    #[error("{path}: {detail}")]
    File {
        path: std::path::PathBuf,
        detail: String,
    },

    #[error("{0}")]
    Invalid(String),
}

/// What a payment lacks: amounts in token units of the mint, e.g. "7.5".
#[derive(Debug)]
pub struct Shortfall {
    /// The token account that would pay.
    pub account: Pubkey,
    pub symbol: String,
    pub needed: String,
    pub held: String,
    pub missing: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The decoded program error's name, if the transaction failed with one.
    pub fn program_error_name(&self) -> Option<&str> {
        match self {
            Error::Program { error, .. } => Some(&error.name),
            _ => None,
        }
    }
}
