//! One WebSocket connection: JSON-RPC calls in, replies and notifications
//! out through a bounded queue. A connection whose queue fills (a client
//! that does not read) or that falls behind the feed is closed; the bank
//! never waits for it.

use super::{
    notify::{self, Notice, View},
    subscriptions::{self, Call, Kind, Subscriptions},
    PubsubState,
};
use axum::extract::ws::{Message as WsMessage, WebSocket};
use futures::{SinkExt, StreamExt};
use jsonrpc_core::{Error, Failure, Id, Output, Request, Success, Version};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_util::sync::CancellationToken;

/// Why a connection ended on the server's side.
#[derive(Debug, thiserror::Error)]
enum Closed {
    #[error("client stopped reading: {0} messages queued")]
    QueueFull(usize),
    #[error("connection fell {0} batches behind the bank")]
    Lagged(u64),
}

struct Connection {
    state: Arc<PubsubState>,
    subs: Subscriptions,
    view: View,
    out: mpsc::Sender<WsMessage>,
}

/// Serves `socket` until the client leaves, it is too slow, or `shutdown`.
pub async fn serve(socket: WebSocket, state: Arc<PubsubState>, shutdown: CancellationToken) {
    let (mut sink, mut stream) = socket.split();
    let (out, mut queued) = mpsc::channel::<WsMessage>(state.connection_queue);
    let writer = tokio::spawn(async move {
        while let Some(message) = queued.recv().await {
            if sink.send(message).await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    // Subscribe before reading the root, so no finalized slot falls between.
    let mut feed = match state.feed.subscribe(None) {
        Ok((_, receiver)) => receiver,
        Err(unavailable) => {
            tracing::error!(oldest = unavailable.oldest, "PubSub cannot follow the feed");
            return;
        }
    };
    let mut connection = Connection {
        view: View {
            root: state.chain.slots().finalized,
        },
        state,
        subs: Subscriptions::default(),
        out,
    };
    let ended = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            frame = stream.next() => match frame {
                Some(Ok(WsMessage::Text(text))) => {
                    if let Err(closed) = connection.request(text.as_str()) {
                        break Err(closed);
                    }
                }
                Some(Ok(WsMessage::Binary(bytes))) => {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    if let Err(closed) = connection.request(&text) {
                        break Err(closed);
                    }
                }
                // Pings are answered by the WebSocket layer.
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                Some(Ok(WsMessage::Close(_)) | Err(_)) | None => break Ok(()),
            },
            batch = feed.recv() => match batch {
                Ok(batch) => {
                    if let Err(closed) = connection.batch(&batch) {
                        break Err(closed);
                    }
                }
                Err(RecvError::Lagged(missed)) => break Err(Closed::Lagged(missed)),
                Err(RecvError::Closed) => break Ok(()),
            },
        }
    };
    match ended {
        Ok(()) => {
            // Let the writer flush what is queued, then close.
            drop(connection);
            let _ = writer.await;
        }
        Err(closed) => {
            tracing::warn!(%closed, "PubSub connection closed");
            writer.abort();
        }
    }
}

impl Connection {
    fn send(&self, text: String) -> Result<(), Closed> {
        self.out
            .try_send(WsMessage::Text(text.into()))
            .map_err(|_| Closed::QueueFull(self.state.connection_queue))
    }

    fn send_notices(&mut self, notices: Vec<Notice>) -> Result<(), Closed> {
        for notice in notices {
            if notice.last {
                // Gone already when a signature matched twice in one batch.
                if self.subs.remove(notice.id).is_err() {
                    continue;
                }
            }
            self.send(notice.json)?;
        }
        Ok(())
    }

    fn batch(&mut self, batch: &crate::geyser::message::Batch) -> Result<(), Closed> {
        let notices = notify::batch(&self.state.chain, &self.subs, &mut self.view, batch);
        self.send_notices(notices)
    }

    /// One frame from the client: a call or a batch of calls. Replies go
    /// out first, then any notification a subscription yields at once.
    fn request(&mut self, text: &str) -> Result<(), Closed> {
        let mut notices = Vec::new();
        let reply = match serde_json::from_str::<Request>(text) {
            Err(_) => Some(serde_json::to_string(&failure(
                Error::parse_error(),
                Id::Null,
            ))),
            Ok(Request::Single(call)) => self
                .call(call, &mut notices)
                .map(|output| serde_json::to_string(&output)),
            Ok(Request::Batch(calls)) => {
                let outputs: Vec<Output> = calls
                    .into_iter()
                    .filter_map(|call| self.call(call, &mut notices))
                    .collect();
                (!outputs.is_empty()).then(|| serde_json::to_string(&outputs))
            }
        };
        match reply {
            Some(Ok(text)) => self.send(text)?,
            Some(Err(err)) => tracing::error!(%err, "cannot serialize a PubSub reply"),
            None => {}
        }
        self.send_notices(notices)
    }

    /// Answers one call; a JSON-RPC notification (no id) gets no answer.
    fn call(&mut self, call: jsonrpc_core::Call, notices: &mut Vec<Notice>) -> Option<Output> {
        match call {
            jsonrpc_core::Call::MethodCall(call) => {
                let params = serde_json::to_value(call.params).unwrap_or(Value::Null);
                let result = self.method(&call.method, params, notices);
                Some(match result {
                    Ok(value) => Output::Success(Success {
                        jsonrpc: Some(Version::V2),
                        result: value,
                        id: call.id,
                    }),
                    Err(error) => failure(error, call.id),
                })
            }
            jsonrpc_core::Call::Notification(_) => None,
            jsonrpc_core::Call::Invalid { id } => Some(failure(Error::invalid_request(), id)),
        }
    }

    fn method(
        &mut self,
        method: &str,
        params: Value,
        notices: &mut Vec<Notice>,
    ) -> Result<Value, Error> {
        match subscriptions::parse_call(method, params)? {
            Call::Unsubscribe(id) => self.subs.remove(id).map(Value::Bool),
            Call::Subscribe(subscription) => {
                let landed = match &subscription.kind {
                    Kind::Signature { signature, .. } => {
                        self.state.landed(signature, subscription.commitment)
                    }
                    _ => None,
                };
                let id = self.subs.add(subscription);
                if let Some(record) = landed {
                    notices.push(notify::signature_notice(id, &record));
                }
                Ok(Value::from(id))
            }
        }
    }
}

fn failure(error: Error, id: Id) -> Output {
    Output::Failure(Failure {
        jsonrpc: Some(Version::V2),
        error,
        id,
    })
}
