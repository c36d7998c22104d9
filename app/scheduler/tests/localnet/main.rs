//! The scheduler end to end: the localnet (a real bank running the program,
//! over JSON-RPC and Yellowstone gRPC), the real indexer filling Postgres, the
//! scheduler's gRPC and HTTP servers, and on the other side of the stream a
//! test agent (`lifecycle`) or the real agent run in-process (`agent_e2e`).
//! The chain fixture and the in-process indexer are the indexer tests' own;
//! the agent's configuration and state-directory cleanup are the agent tests'.
//! (`common`, `fixture` and `agent_fixture` allow their own dead code.)

#[path = "../postgres/common.rs"]
mod common;
#[path = "../../../../indexer/tests/localnet/fixture.rs"]
mod fixture;
#[allow(dead_code)]
#[path = "../../../../indexer/tests/localnet/harness.rs"]
mod harness;

#[path = "../../../agent/tests/agent/common.rs"]
mod agent_fixture;

mod agent_e2e;
mod clusters;
mod lifecycle;
mod renter_access;
