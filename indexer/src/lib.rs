//! iomesh indexer: every account change of the iomesh program, streamed from
//! Yellowstone gRPC (with getProgramAccounts reconciliation) into Postgres,
//! without gaps, duplicates or reordering.
//!
//! Parsing (`decode`: bytes → the program's own account types) is kept apart
//! from the sink (`tables` + `writer`: typed account → Postgres); `batcher`
//! joins a bounded channel of updates to the writer.

pub mod batcher;
pub mod config;
pub mod db;
pub mod decode;
pub mod error;
pub mod event_schema;
pub mod events;
pub mod history;
pub mod http;
pub mod metrics;
pub mod pipeline;
pub mod reconcile;
pub mod source;
pub mod tables;
pub mod update;
pub mod writer;

pub use error::{Error, Result};
