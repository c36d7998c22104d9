//! The indexer against the localnet (a real bank running the program, served
//! over JSON-RPC and Yellowstone gRPC) and a real Postgres (one database per test), with the shared fixtures of this crate's library.

mod faults;
mod history;
mod reconcile;
mod stream;
