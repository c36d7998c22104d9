//! The scheduler against a real Postgres (one database per test), its real
//! gRPC and HTTP servers over sockets, and chain state written by the
//! indexer's own writer. The fixtures are the shared ones of `iomesh-tests`.

use iomesh_tests::scheduler as common;

mod clusters;
mod dispatch;
mod handshake;
mod help;
mod job_spec;
mod migrations;
mod nodes;
mod race;
mod rewards;
mod tls;
