//! The agents connected to this replica: node → the sender of its stream.
//! Postgres (`agent_sessions`) says which replica holds a node; this map is
//! how the replica reaches the agent.

use iomesh_agent_proto::v1::SchedulerMessage;
use solana_pubkey::Pubkey;
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::Status;

pub type Outbound = mpsc::Sender<Result<SchedulerMessage, Status>>;

#[derive(Clone)]
pub struct Session {
    pub session_id: String,
    pub outbound: Outbound,
    /// Cancelled when the session is replaced or the replica stops.
    pub closed: CancellationToken,
}

#[derive(Clone, Default)]
pub struct Sessions {
    inner: Arc<RwLock<HashMap<Pubkey, Session>>>,
}

impl Sessions {
    /// Registers `session` for `node`; returns the session it replaces.
    pub fn insert(&self, node: Pubkey, session: Session) -> Option<Session> {
        self.inner.write().expect("lock").insert(node, session)
    }

    /// Removes the node's session if it is still `session_id`.
    pub fn remove(&self, node: &Pubkey, session_id: &str) -> bool {
        let mut map = self.inner.write().expect("lock");
        if map.get(node).is_some_and(|s| s.session_id == session_id) {
            map.remove(node);
            true
        } else {
            false
        }
    }

    pub fn get(&self, node: &Pubkey) -> Option<Session> {
        self.inner.read().expect("lock").get(node).cloned()
    }

    pub fn len(&self) -> usize {
        self.inner.read().expect("lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every session, for shutdown.
    pub fn all(&self) -> Vec<(Pubkey, Session)> {
        self.inner
            .read()
            .expect("lock")
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }
}
