//! The indexer against the localnet (a real bank running the program, served
//! over JSON-RPC and Yellowstone gRPC) and a real Postgres (one database per test).

mod faults;
mod fixture;
mod harness;
mod history;
mod reconcile;
mod stream;
