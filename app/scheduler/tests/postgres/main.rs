//! The scheduler against a real Postgres (one database per test), its real
//! gRPC and HTTP servers over sockets, and chain state written by the
//! indexer's own writer.

mod clusters;
mod common;
mod dispatch;
mod handshake;
mod help;
mod job_spec;
mod migrations;
mod nodes;
mod race;
mod rewards;
mod tls;
