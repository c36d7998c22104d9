//! The agent's tests with real parts: child processes, a localnet with the
//! real program, and a gRPC server speaking the scheduler protocol.

mod chain;
mod common;
mod runner;
mod session;
