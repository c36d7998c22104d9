//! The writer and batcher against a real Postgres (each test gets its own
//! database: `#[sqlx::test]` from `DATABASE_URL`; `scripts/postgres` starts a
//! private server when none runs), and the HTTP endpoints.

mod batcher;
mod common;
// The canned Geyser server the indexer's benchmark streams from.
#[path = "../../benches/pipeline/geyser.rs"]
mod geyser;
mod grpc;
mod http;
mod migrations;
mod writer;
