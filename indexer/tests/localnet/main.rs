//! The indexer against the localnet (a real bank running the program, served
//! over JSON-RPC) and a real Postgres (one database per test).

mod fixture;
mod reconcile;
