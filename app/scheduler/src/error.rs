//! The scheduler's errors.

use solana_pubkey::Pubkey;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("postgres: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("gRPC server: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("HTTP server: {0}")]
    Http(std::io::Error),
    #[error("chain: {0}")]
    Chain(#[from] iomesh_client::error::Error),
    #[error("Postgres holds a {len}-byte pubkey in {column}")]
    BadPubkey { column: &'static str, len: usize },
    #[error("lease {0} has no decodable data in Postgres")]
    LeaseData(Pubkey),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A 32-byte column as a pubkey.
pub fn pubkey(column: &'static str, bytes: &[u8]) -> Result<Pubkey> {
    Pubkey::try_from(bytes).map_err(|_| Error::BadPubkey {
        column,
        len: bytes.len(),
    })
}
