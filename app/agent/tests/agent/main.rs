//! The agent's tests with real parts: child processes under the real job
//! shim and bubblewrap sandbox, a localnet with the real program, and a
//! gRPC server speaking the scheduler protocol.

use iomesh_tests::agent as common;

mod chain;
mod logs;
mod ray;
mod runner;
mod sandbox;
mod session;
mod shim;
