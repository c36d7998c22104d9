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
    /// Address the PubSub WebSocket server binds. `None`: the JSON-RPC host
    /// and port + 1, as a validator does (a free port when the JSON-RPC port
    /// is 0); port 0 picks a free port.
    pub pubsub_addr: Option<SocketAddr>,
    /// Messages queued for one PubSub connection before it is disconnected as
    /// too slow.
    pub pubsub_connection_queue: usize,
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
            pubsub_addr: None,
            pubsub_connection_queue: 10_000,
        }
    }
}

impl Config {
    /// The defaults with every server on a free port of 127.0.0.1, so several
    /// localnets (tests) can run side by side; read the bound addresses from
    /// `Localnet::rpc_addr` / `grpc_addr` / `pubsub_addr`.
    pub fn ephemeral() -> Self {
        Self {
            rpc_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            grpc_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            ..Self::default()
        }
    }

    /// Where the PubSub server binds: `pubsub_addr`, else the JSON-RPC port
    /// + 1 (a free port when the JSON-RPC port is 0).
    pub fn pubsub_bind_addr(&self) -> Result<SocketAddr, Error> {
        if let Some(addr) = self.pubsub_addr {
            return Ok(addr);
        }
        let port = match self.rpc_addr.port() {
            0 => 0,
            rpc => rpc.checked_add(1).ok_or_else(|| {
                Error::Config(format!(
                    "the PubSub port defaults to the JSON-RPC port + 1, but the JSON-RPC port is {rpc}: set the PubSub address"
                ))
            })?,
        };
        Ok(SocketAddr::new(self.rpc_addr.ip(), port))
    }

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
        if self.pubsub_connection_queue == 0 {
            return Err(Error::Config(
                "PubSub connection queue must be positive".into(),
            ));
        }
        self.pubsub_bind_addr()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pubsub_defaults_to_the_rpc_port_plus_one() {
        let config = Config::default();
        assert_eq!(
            config.pubsub_bind_addr().unwrap(),
            SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_RPC_PORT + 1))
        );
        assert_eq!(Config::ephemeral().pubsub_bind_addr().unwrap().port(), 0);
        let explicit = SocketAddr::from((Ipv4Addr::LOCALHOST, 9000));
        let config = Config {
            pubsub_addr: Some(explicit),
            ..Config::default()
        };
        assert_eq!(config.pubsub_bind_addr().unwrap(), explicit);
    }

    #[test]
    fn the_last_rpc_port_needs_an_explicit_pubsub_address() {
        let config = Config {
            rpc_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, u16::MAX)),
            ..Config::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("set the PubSub address"), "{err}");
    }
}
