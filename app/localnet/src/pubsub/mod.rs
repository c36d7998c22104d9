//! Solana PubSub over WebSocket (what a validator serves on its RPC port + 1),
//! for the stock `PubsubClient`, web3.js `Connection` subscriptions and
//! Anchor's `addEventListener`: account, program, logs, signature, slot and
//! root subscriptions and their unsubscribes, in agave's request and
//! notification shapes.
//!
//! It follows the same feed as the gRPC service (`geyser::Feed`): account
//! writes and transactions at processed as they commit, a slot's whole
//! content again when it is confirmed and when it is finalized, and the slot
//! statuses. So a subscription at a commitment level hears of a change when
//! the slot holding it reaches that level, as on a validator.
//!
//! Agave's own PubSub service (`solana-rpc`'s `RpcSubscriptions` and
//! `PubSubService`) is not reused: it is driven by a validator's replay and
//! voting (a `BlockCommitmentCache`, the optimistic-confirmation tracker fed
//! bank notifications, a `Blockstore` of shreds), none of which this bank
//! has; the feed already carries every change at each level.

pub mod notify;
pub mod server;
pub mod subscriptions;

use crate::{bank::Chain, geyser::Feed, ledger::TxRecord};
use axum::{
    extract::{State, WebSocketUpgrade},
    response::Response,
    routing::get,
    Router,
};
use solana_commitment_config::CommitmentLevel;
use solana_signature::Signature;
use std::sync::Arc;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// Largest client frame: subscriptions are small (agave's limit is 128 KiB).
const MAX_FRAME_BYTES: usize = 128 * 1024;

/// What every connection shares.
pub struct PubsubState {
    pub chain: Arc<Chain>,
    pub feed: Arc<Feed>,
    /// Messages queued for one connection before it is cut off as too slow.
    pub connection_queue: usize,
}

impl PubsubState {
    /// The transaction of `signature` when it already landed in a slot at
    /// `level` (the localnet answers such a subscription at once).
    fn landed(&self, signature: &Signature, level: CommitmentLevel) -> Option<Arc<TxRecord>> {
        let record = self.chain.ledger().get(signature)?;
        let slots = self.chain.slots();
        let reached = match level {
            CommitmentLevel::Processed => slots.processed,
            CommitmentLevel::Confirmed => slots.confirmed,
            CommitmentLevel::Finalized => slots.finalized,
        };
        (record.slot <= reached).then_some(record)
    }
}

/// Serves PubSub on `listener` until `shutdown`, which also closes every
/// open connection.
pub fn spawn(
    listener: TcpListener,
    state: Arc<PubsubState>,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let connections = shutdown.clone();
    let app = Router::new()
        .route(
            "/",
            get(
                move |State(state): State<Arc<PubsubState>>, upgrade: WebSocketUpgrade| {
                    let shutdown = connections.clone();
                    async move { upgraded(upgrade, state, shutdown) }
                },
            ),
        )
        .with_state(state);
    tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned());
        if let Err(err) = server.await {
            tracing::error!(%err, "PubSub server stopped");
        }
    })
}

fn upgraded(
    upgrade: WebSocketUpgrade,
    state: Arc<PubsubState>,
    shutdown: CancellationToken,
) -> Response {
    upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| server::serve(socket, state, shutdown))
}
