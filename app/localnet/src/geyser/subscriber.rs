//! One `Subscribe` stream: reads the client's requests (filters, pings),
//! forwards matching feed batches into the subscriber's bounded queue, and
//! sends keep-alive pings. A subscriber whose queue is full, or that falls
//! behind the feed's broadcast, is disconnected with a status saying so.

use super::{
    buffer::{Feed, Unavailable},
    filter::{self, Filter, Request},
    message::Batch,
};
use std::{sync::Arc, time::Duration};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use yellowstone_grpc_proto::{
    prelude::{
        subscribe_update::UpdateOneof, SubscribeRequest, SubscribeUpdate, SubscribeUpdatePing,
    },
    tonic::{Status, Streaming},
};

/// Server keep-alive, as the reference server.
pub const PING_INTERVAL: Duration = Duration::from_secs(10);

type Item = Result<SubscribeUpdate, Status>;

/// Starts the subscriber task and returns the stream tonic sends from.
pub fn spawn(
    feed: Arc<Feed>,
    requests: Streaming<SubscribeRequest>,
    queue: usize,
    shutdown: CancellationToken,
) -> ReceiverStream<Item> {
    let (tx, rx) = mpsc::channel(queue);
    tokio::spawn(async move {
        let mut subscriber = Subscriber {
            feed,
            requests,
            tx,
            shutdown,
            filter: Filter::default(),
        };
        if let Some(status) = subscriber.run().await {
            tracing::debug!(code = ?status.code(), message = status.message(), "subscriber disconnected");
            // The status is the stream's last item; it waits behind what is queued.
            subscriber.send_waiting(Err(status)).await;
        }
    });
    ReceiverStream::new(rx)
}

struct Subscriber {
    feed: Arc<Feed>,
    requests: Streaming<SubscribeRequest>,
    tx: mpsc::Sender<Item>,
    shutdown: CancellationToken,
    filter: Filter,
}

/// Why forwarding stopped without the client going away.
type Ending = Option<Status>;

impl Subscriber {
    /// Runs until the client leaves (`None`) or must be told why it is cut off.
    async fn run(&mut self) -> Ending {
        let Ok((_, mut live)) = self.feed.subscribe(None) else {
            return Some(Status::internal("feed subscription failed"));
        };
        let mut requests_open = true;
        let mut ping = tokio::time::interval(PING_INTERVAL);
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => {
                    let _ = self.tx.try_send(Err(Status::unavailable("server is shutting down try again later")));
                    return None;
                }
                _ = self.tx.closed() => return None,
                request = self.requests.message(), if requests_open => match request {
                    Ok(Some(request)) => {
                        if let Some(ending) = self.apply(&request, &mut live).await {
                            return ending;
                        }
                    }
                    // The client closed its side; keep streaming to it.
                    Ok(None) => requests_open = false,
                    Err(_) => return None,
                },
                batch = live.recv() => match batch {
                    Ok(batch) => {
                        if let Err(ending) = self.forward(&batch) {
                            return ending;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        return Some(Status::internal("lagged to receive geyser messages"));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = ping.tick() => {
                    let ping = SubscribeUpdate {
                        filters: Vec::new(),
                        update_oneof: Some(UpdateOneof::Ping(SubscribeUpdatePing {})),
                        created_at: Some(super::convert::now()),
                    };
                    if let Err(ending) = self.enqueue(ping) {
                        return ending;
                    }
                }
            }
        }
    }

    /// Handles one client request; `Some` ends the subscription.
    async fn apply(
        &mut self,
        request: &SubscribeRequest,
        live: &mut broadcast::Receiver<Arc<Batch>>,
    ) -> Option<Ending> {
        match filter::compile(request) {
            Ok(Request::Ping(id)) => {
                (!self.send_waiting(Ok(filter::pong(id))).await).then_some(None)
            }
            Ok(Request::Subscribe { filter, from_slot }) => {
                self.filter = filter;
                let from_slot = from_slot?;
                match self.feed.subscribe(Some(from_slot)) {
                    Err(Unavailable { oldest }) => Some(Some(Status::out_of_range(format!(
                        "broadcast from {from_slot} is not available, last available: {oldest}"
                    )))),
                    Ok((replay, receiver)) => {
                        // The replay and the new receiver meet exactly.
                        *live = receiver;
                        let level = self.filter.commitment();
                        for batch in replay.iter().filter(|b| b.audience.includes(level)) {
                            for message in &batch.messages {
                                for update in self.filter.updates(message) {
                                    if !self.send_waiting(Ok(update)).await {
                                        return Some(None);
                                    }
                                }
                            }
                        }
                        None
                    }
                }
            }
            Err(err) => Some(Some(Status::invalid_argument(format!(
                "failed to create filter: {err}"
            )))),
        }
    }

    /// Queues a live batch's matching updates without waiting.
    fn forward(&self, batch: &Batch) -> Result<(), Ending> {
        if !batch.audience.includes(self.filter.commitment()) {
            return Ok(());
        }
        for message in &batch.messages {
            for update in self.filter.updates(message) {
                self.enqueue(update)?;
            }
        }
        Ok(())
    }

    fn enqueue(&self, update: SubscribeUpdate) -> Result<(), Ending> {
        match self.tx.try_send(Ok(update)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                Err(Some(Status::internal("lagged to send an update")))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(None),
        }
    }

    /// Queues `item`, waiting for room; false once the client or the server is gone.
    async fn send_waiting(&self, item: Item) -> bool {
        tokio::select! {
            sent = self.tx.send(item) => sent.is_ok(),
            _ = self.shutdown.cancelled() => false,
        }
    }
}
