//! Fixture: the shared localnet fixture (fast slots, the stock RpcClient,
//! funding, signing, polling) and a raw WebSocket JSON-RPC client with
//! bounded reads. Tests fund their wallets at `finalized`, so that no
//! notification of the airdrop can arrive later.

pub use iomesh_tests::localnet::*;

use futures::{SinkExt, StreamExt};
use iomesh_localnet::Localnet;
use serde_json::{json, Value};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::Transaction;
use std::collections::VecDeque;
use tokio::net::TcpStream;
use tokio_tungstenite::{tungstenite::Message, MaybeTlsStream, WebSocketStream};

/// A raw PubSub connection: requests by id, everything else queued in
/// arrival order.
pub struct Ws {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Notifications read while waiting for a reply.
    pending: VecDeque<Value>,
}

impl Ws {
    pub async fn connect(localnet: &Localnet) -> Self {
        let (socket, _) = tokio_tungstenite::connect_async(localnet.pubsub_url())
            .await
            .expect("PubSub connects");
        Self {
            socket,
            next_id: 1,
            pending: VecDeque::new(),
        }
    }

    pub async fn send_text(&mut self, text: String) {
        self.socket
            .send(Message::Text(text.into()))
            .await
            .expect("frame sent");
    }

    /// Sends a call; returns its id.
    pub async fn call(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_text(request.to_string()).await;
        id
    }

    /// Sends `count` identical calls in one write and reads none of their
    /// replies: nothing the server does afterwards can fail a send.
    pub async fn call_unread(&mut self, count: usize, method: &str, params: Value) {
        for _ in 0..count {
            let id = self.next_id;
            self.next_id += 1;
            let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
            self.socket
                .feed(Message::Text(request.to_string().into()))
                .await
                .expect("frame queued");
        }
        self.socket.flush().await.expect("frames sent");
    }

    /// The next JSON message, within `TIMEOUT`.
    pub async fn next(&mut self) -> Value {
        if let Some(message) = self.pending.pop_front() {
            return message;
        }
        self.read().await
    }

    async fn read(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(TIMEOUT, self.socket.next())
                .await
                .expect("a message within the timeout")
                .expect("connection open")
                .expect("frame read");
            match frame {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// Calls and returns the whole reply; notifications that arrive first
    /// stay queued for `next`.
    pub async fn reply(&mut self, method: &str, params: Value) -> Value {
        let id = self.call(method, params).await;
        loop {
            let message = self.read().await;
            if message.get("id") == Some(&json!(id)) {
                return message;
            }
            assert!(
                message.get("method").is_some(),
                "unexpected message {message}"
            );
            self.pending.push_back(message);
        }
    }

    /// Drops the notifications that arrived before the last reply.
    pub fn forget_pending(&mut self) {
        self.pending.clear();
    }

    /// The connection's end as the client sees it: it reads whatever is
    /// still buffered, then the stream closes or fails, within `TIMEOUT`.
    pub async fn closed(mut self) {
        tokio::time::timeout(TIMEOUT, async {
            while let Some(Ok(_)) = self.socket.next().await {}
        })
        .await
        .expect("the server closes the connection within the timeout");
    }

    /// Subscribes; returns the subscription id.
    pub async fn subscribe(&mut self, method: &str, params: Value) -> u64 {
        let reply = self.reply(method, params).await;
        reply["result"]
            .as_u64()
            .unwrap_or_else(|| panic!("{method} refused: {reply}"))
    }

    /// The next notification (a message with a `method`).
    pub async fn notification(&mut self) -> Value {
        let message = self.next().await;
        assert!(
            message.get("method").is_some(),
            "not a notification: {message}"
        );
        message
    }

    /// Notifications until one for `subscription` arrives; returns them all.
    pub async fn until(&mut self, subscription: u64) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let message = self.notification().await;
            let done = message["params"]["subscription"] == subscription;
            seen.push(message);
            if done {
                return seen;
            }
        }
    }
}

/// Sends without preflight (a failing transaction still lands); returns as
/// soon as it executed.
pub async fn send(rpc: &RpcClient, tx: &Transaction) -> Signature {
    rpc.send_transaction_with_config(
        tx,
        solana_client::rpc_config::RpcSendTransactionConfig {
            skip_preflight: true,
            ..Default::default()
        },
    )
    .await
    .expect("transaction accepted")
}

pub fn transfer(from: &Keypair, to: &solana_pubkey::Pubkey, lamports: u64) -> Instruction {
    solana_system_interface::instruction::transfer(&from.pubkey(), to, lamports)
}
