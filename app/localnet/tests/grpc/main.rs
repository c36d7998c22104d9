//! The localnet's Yellowstone gRPC service driven by the stock
//! `yellowstone-grpc-client` over a real socket, with chain changes made
//! through the stock `RpcClient`.

mod common;

mod accounts;
mod control;
mod latency;
mod replay;
mod slots_and_transactions;
mod slow;
