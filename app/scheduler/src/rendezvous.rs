//! Where a renter's request meets the stream its agent opens for it.
//!
//! The scheduler cannot dial an agent (nodes sit behind NAT). To reach a
//! job's port or read its logs, the replica holding the agent's session sends
//! `OpenTunnel` / `ReadLogs` with a fresh id on the session, and waits here;
//! the agent opens a `Tunnel` / `Logs` stream on its connection, names the id
//! in its first message, and the gRPC handler hands the stream to the waiter.

use std::{collections::HashMap, sync::Mutex, time::Duration};
use tokio::sync::oneshot;

/// How long a request waits for its agent's stream.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Waiters by id, for streams of type `T`.
pub struct Rendezvous<T> {
    waiting: Mutex<HashMap<String, oneshot::Sender<Result<T, String>>>>,
}

impl<T> Default for Rendezvous<T> {
    fn default() -> Self {
        Self {
            waiting: Mutex::new(HashMap::new()),
        }
    }
}

/// A registered wait; dropping it forgets the id (a late stream is refused).
pub struct Waiting<'a, T> {
    rendezvous: &'a Rendezvous<T>,
    pub id: String,
    receiver: oneshot::Receiver<Result<T, String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the node's agent did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the node's agent refused: {0}")]
    Refused(String),
    #[error("the node's agent disconnected")]
    Gone,
    /// Logs asked of a node where no job of the lease ran.
    #[error("{0}")]
    NoLogs(String),
    /// Logs deleted after the agent's retention period.
    #[error("{0}")]
    LogsDeleted(String),
}

impl<T> Rendezvous<T> {
    /// Registers a new id to wait on.
    pub fn wait(&self) -> Waiting<'_, T> {
        let id = hex::encode(rand::random::<[u8; 16]>());
        let (sender, receiver) = oneshot::channel();
        self.waiting
            .lock()
            .expect("rendezvous lock")
            .insert(id.clone(), sender);
        Waiting {
            rendezvous: self,
            id,
            receiver,
        }
    }

    /// Hands an agent's stream (or its refusal) to the request waiting on
    /// `id`; gives the stream back when nobody waits (unknown or timed out).
    pub fn arrive(&self, id: &str, stream: Result<T, String>) -> Result<(), Result<T, String>> {
        let sender = self.waiting.lock().expect("rendezvous lock").remove(id);
        match sender {
            Some(sender) => sender.send(stream),
            None => Err(stream),
        }
    }

    pub fn len(&self) -> usize {
        self.waiting.lock().expect("rendezvous lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Waiting<'_, T> {
    /// The agent's stream, once it opened it.
    pub async fn arrived(mut self) -> Result<T, OpenError> {
        match tokio::time::timeout(OPEN_TIMEOUT, &mut self.receiver).await {
            Err(_) => Err(OpenError::Timeout(OPEN_TIMEOUT)),
            Ok(Err(_)) => Err(OpenError::Gone),
            Ok(Ok(Err(reason))) => Err(OpenError::Refused(reason)),
            Ok(Ok(Ok(stream))) => Ok(stream),
        }
    }
}

impl<T> Drop for Waiting<'_, T> {
    fn drop(&mut self) {
        self.rendezvous
            .waiting
            .lock()
            .expect("rendezvous lock")
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stream_reaches_its_waiter_and_a_late_one_comes_back() {
        let rendezvous = Rendezvous::<u32>::default();
        let waiting = rendezvous.wait();
        let id = waiting.id.clone();
        assert!(rendezvous.arrive("unknown", Ok(1)).is_err());
        assert!(rendezvous.arrive(&id, Ok(7)).is_ok());
        assert_eq!(waiting.arrived().await.unwrap(), 7);
        assert!(rendezvous.is_empty());

        let refused = rendezvous.wait();
        let id = refused.id.clone();
        rendezvous
            .arrive(&id, Err("port 9 is not in the job spec".into()))
            .unwrap();
        assert!(
            matches!(refused.arrived().await, Err(OpenError::Refused(r)) if r.contains("port 9"))
        );

        let dropped = rendezvous.wait();
        let id = dropped.id.clone();
        drop(dropped);
        assert_eq!(rendezvous.arrive(&id, Ok(3)), Err(Ok(3)));
    }
}
