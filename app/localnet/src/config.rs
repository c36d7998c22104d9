//! Typed localnet configuration with defaults and validation.

use crate::error::Error;
use std::{
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

/// Default JSON-RPC port, the same as solana-test-validator's.
pub const DEFAULT_RPC_PORT: u16 = 8899;

/// Default Yellowstone gRPC port, the same as the Dragon's Mouth plugin's.
pub const DEFAULT_GRPC_PORT: u16 = 10000;

/// Localnet settings. `Config::default()` is what the binary runs with.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address the JSON-RPC server binds; port 0 picks a free port.
    pub rpc_addr: SocketAddr,
    /// Wall-clock length of a slot.
    pub slot_duration: Duration,
    /// How many slots behind the working bank the root (finalized) bank is.
    pub finalization_depth: u64,
    /// How many transactions `getTransaction` / `getSignatureStatuses` remember.
    pub ledger_capacity: usize,
    /// Largest accepted HTTP request body, in bytes.
    pub max_request_bytes: usize,
    /// Lamports the genesis faucet (the airdrop source) starts with.
    pub faucet_lamports: u64,
    /// Address the Yellowstone gRPC server binds; port 0 picks a free port.
    pub grpc_addr: SocketAddr,
    /// Slots whose updates a subscription can replay with `from_slot`.
    pub grpc_replay_slots: u64,
    /// Updates queued for one subscriber before it is disconnected as too slow.
    pub grpc_subscriber_queue: usize,
    /// Update batches buffered between the bank and the subscriber tasks; a
    /// subscriber task that falls this far behind is disconnected.
    pub grpc_broadcast_capacity: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            rpc_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_RPC_PORT)),
            slot_duration: Duration::from_millis(400),
            finalization_depth: 2,
            ledger_capacity: 100_000,
            // Agave's own limit (MAX_REQUEST_BODY_SIZE).
            max_request_bytes: 50 * 1024,
            faucet_lamports: 500_000_000 * 1_000_000_000,
            grpc_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_GRPC_PORT)),
            // The reference server's `replay_stored_slots` default.
            grpc_replay_slots: 150,
            grpc_subscriber_queue: 100_000,
            grpc_broadcast_capacity: 100_000,
        }
    }
}

impl Config {
    /// Refuses settings the bank or the server cannot run with.
    pub fn validate(&self) -> Result<(), Error> {
        if self.slot_duration < Duration::from_millis(10) {
            return Err(Error::Config(format!(
                "slot duration must be at least 10 ms, got {:?}",
                self.slot_duration
            )));
        }
        if !(1..=64).contains(&self.finalization_depth) {
            return Err(Error::Config(format!(
                "finalization depth must be 1..=64 slots, got {}",
                self.finalization_depth
            )));
        }
        if self.ledger_capacity == 0 {
            return Err(Error::Config("ledger capacity must be positive".into()));
        }
        // A request must at least fit one base64 transaction of the largest size.
        if self.max_request_bytes < 4 * 1024 {
            return Err(Error::Config(format!(
                "max request size must be at least 4096 bytes, got {}",
                self.max_request_bytes
            )));
        }
        // Content is kept until finalized, and replay must reach that far back.
        if self.grpc_replay_slots <= self.finalization_depth || self.grpc_replay_slots > 10_000 {
            return Err(Error::Config(format!(
                "gRPC replay window must be {}..=10000 slots (more than the finalization depth), got {}",
                self.finalization_depth + 1,
                self.grpc_replay_slots
            )));
        }
        if self.grpc_subscriber_queue == 0 || self.grpc_broadcast_capacity == 0 {
            return Err(Error::Config(
                "gRPC subscriber queue and broadcast capacity must be positive".into(),
            ));
        }
        Ok(())
    }
}
