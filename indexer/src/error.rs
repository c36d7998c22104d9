//! The indexer's errors.

use solana_pubkey::Pubkey;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("applying migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("JSON-RPC {method}: {source}")]
    Rpc {
        method: &'static str,
        #[source]
        source: Box<solana_rpc_client_api::client_error::Error>,
    },
    #[error("{method}: the server ignored withContext, so there is no slot to stamp rows with")]
    NoContext { method: &'static str },
    #[error("account {pubkey} from {method} has data that cannot be decoded: {reason}")]
    RpcAccountEncoding {
        method: &'static str,
        pubkey: String,
        reason: String,
    },
    #[error("{what} {value} of account {pubkey} does not fit a Postgres BIGINT")]
    OutOfRange {
        what: &'static str,
        value: u64,
        pubkey: Pubkey,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("gRPC: {0}")]
    Grpc(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
