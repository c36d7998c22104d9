//! Errors of the localnet library.

use std::{io, net::SocketAddr};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid config: {0}")]
    Config(String),
    #[error("cannot bind the {server} server to {addr}: {source}")]
    Bind {
        server: &'static str,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("native CPI self-check failed: {0}")]
    SelfCheck(String),
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Io(#[from] io::Error),
}
