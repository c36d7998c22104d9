//! The scheduler end to end: the localnet (a real bank running the program,
//! over JSON-RPC and Yellowstone gRPC), the real indexer filling Postgres, the
//! scheduler's gRPC and HTTP servers, and on the other side of the stream a
//! test agent (`lifecycle`) or the real agent run in-process (`agent_e2e`).
//! The fixtures are this crate's library (`iomesh_tests`).

mod agent_e2e;
mod clusters;
mod lifecycle;
mod renter_access;
