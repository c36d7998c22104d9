//! The fixtures the cross-crate tests and benchmarks share, as one library
//! instead of files included between crates:
//!
//! - [`localnet`]: stock Solana clients against an in-process localnet;
//! - [`chain`]: a market, payment mint, nodes and leases on an in-process
//!   localnet, driven over JSON-RPC with the stock `RpcClient`;
//! - [`indexer`]: the indexer in process (or as its binary), a gRPC proxy
//!   that drops streams, and the comparison of Postgres with the chain;
//! - [`scheduler`]: chain state written into Postgres through the indexer's
//!   writer, scheduler replicas in process, and a protocol-level test agent;
//! - [`agent`]: the real agent as its binary builds it, its sandbox, logs and
//!   state directory, over a bootstrapped localnet market;
//! - [`rewards`]: the epoch reward job run as its binary over indexed stakes;
//! - [`stack`]: all of it together, and a renter reaching its job.
//!
//! Every test gets its own localnet and its own database (`sqlx::test`), so
//! tests run in parallel.

use std::path::PathBuf;

pub mod agent;
pub mod chain;
pub mod indexer;
pub mod localnet;
pub mod rewards;
pub mod scheduler;
pub mod stack;

/// A binary of this workspace, built by `cargo build --workspace` (which
/// `./scripts/test` runs first) next to this test's directory.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        path.display()
    );
    path
}
