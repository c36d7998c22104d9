//! The `iomesh` wallet CLI's binary end to end against a real localnet (real
//! bank, real SPL programs, JSON-RPC over a socket). They live here, not in
//! the CLI's crate, so that the wallet depends on no validator runtime even
//! for its tests (`cargo tree -p iomesh-cli`).

mod agent_gpus;
mod bad_input;
mod common;
mod credits;
mod flow;
mod lifecycle;
mod localnet_command;
mod offline;
mod signers;
mod wallet;
