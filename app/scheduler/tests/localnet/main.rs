//! The scheduler end to end: the localnet (a real bank running the program,
//! over JSON-RPC and Yellowstone gRPC), the real indexer filling Postgres, the
//! scheduler's gRPC and HTTP servers, and a test agent on the other side of
//! the stream. The chain fixture and the in-process indexer are the indexer
//! tests' own.

#[allow(dead_code)]
#[path = "../postgres/common.rs"]
mod common;
#[allow(dead_code)]
#[path = "../../../../indexer/tests/localnet/fixture.rs"]
mod fixture;
#[allow(dead_code)]
#[path = "../../../../indexer/tests/localnet/harness.rs"]
mod harness;

mod lifecycle;
