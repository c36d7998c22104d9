//! The `iomesh` binary end to end against a real localnet (real bank, real
//! SPL programs, JSON-RPC over a socket).

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
