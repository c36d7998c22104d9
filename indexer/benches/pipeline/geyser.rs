//! A Geyser server over real gRPC that streams a prepared list of updates
//! once per subscription (optionally paced), stamping `created_at` as each
//! leaves: the source the indexer's benchmark and its gRPC tests stream
//! from.

use iomesh_indexer::{reconcile::Reconciler, source::SourceConfig};
use solana_commitment_config::CommitmentConfig;
use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use yellowstone_grpc_proto::{
    geyser::geyser_server::{Geyser, GeyserServer},
    prelude::{
        subscribe_update::UpdateOneof, CommitmentLevel, GetBlockHeightRequest,
        GetBlockHeightResponse, GetLatestBlockhashRequest, GetLatestBlockhashResponse,
        GetSlotRequest, GetSlotResponse, GetVersionRequest, GetVersionResponse,
        IsBlockhashValidRequest, IsBlockhashValidResponse, PingRequest, PongResponse, SlotStatus,
        SubscribeDeshredRequest, SubscribeGossipRequest, SubscribeReplayInfoRequest,
        SubscribeReplayInfoResponse, SubscribeRequest, SubscribeUpdate, SubscribeUpdateDeshred,
        SubscribeUpdateGossip, SubscribeUpdateSlot,
    },
    prost_types::Timestamp,
    tonic::{self, transport::Server, Request, Response, Status, Streaming},
};

/// The indexer's source pointed at the canned server on `addr` (the iomesh
/// program, confirmed), with the reconciler a canned stream never uses: it
/// carries no transactions to re-read.
pub fn indexer_source(addr: SocketAddr) -> (SourceConfig, Reconciler) {
    let config = SourceConfig {
        endpoint: format!("http://{addr}"),
        x_token: None,
        program_id: iomesh::ID,
        commitment: CommitmentLevel::Confirmed,
        watchdog: Duration::from_secs(30),
        reconcile_chunk: 4_096,
    };
    let reconciler = Reconciler::new(
        "http://127.0.0.1:1".into(),
        iomesh::ID,
        CommitmentConfig::confirmed(),
    );
    (config, reconciler)
}

/// A confirmed status for `slot` (parent `slot - 1`).
pub fn slot_update(slot: u64) -> SubscribeUpdate {
    SubscribeUpdate {
        filters: vec!["slots".into()],
        created_at: None,
        update_oneof: Some(UpdateOneof::Slot(SubscribeUpdateSlot {
            slot,
            parent: Some(slot - 1),
            status: SlotStatus::SlotConfirmed as i32,
            dead_error: None,
            bank_id: None,
        })),
    }
}

/// A Geyser server that streams a prepared workload once per subscription,
/// stamping `created_at` as each update leaves, then closes the stream.
struct BenchGeyser {
    updates: Arc<Vec<SubscribeUpdate>>,
    rate: Option<u64>,
}

#[tonic::async_trait]
impl Geyser for BenchGeyser {
    type SubscribeStream = ReceiverStream<Result<SubscribeUpdate, Status>>;
    async fn subscribe(
        &self,
        _request: Request<Streaming<SubscribeRequest>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let (tx, rx) = mpsc::channel(1_024);
        let updates = self.updates.clone();
        let rate = self.rate;
        tokio::spawn(async move {
            let started = Instant::now();
            for (i, update) in updates.iter().enumerate() {
                if let Some(rate) = rate {
                    let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let mut update = update.clone();
                update.created_at = Some(Timestamp::from(SystemTime::now()));
                if tx.send(Ok(update)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
    type SubscribeDeshredStream = ReceiverStream<Result<SubscribeUpdateDeshred, Status>>;
    async fn subscribe_deshred(
        &self,
        _: Request<Streaming<SubscribeDeshredRequest>>,
    ) -> Result<Response<Self::SubscribeDeshredStream>, Status> {
        Err(Status::unimplemented("bench server"))
    }
    type SubscribeGossipStream = ReceiverStream<Result<SubscribeUpdateGossip, Status>>;
    async fn subscribe_gossip(
        &self,
        _: Request<SubscribeGossipRequest>,
    ) -> Result<Response<Self::SubscribeGossipStream>, Status> {
        Err(Status::unimplemented("bench server"))
    }
    async fn subscribe_replay_info(
        &self,
        _: Request<SubscribeReplayInfoRequest>,
    ) -> Result<Response<SubscribeReplayInfoResponse>, Status> {
        Err(Status::unimplemented("bench server"))
    }
    async fn ping(&self, r: Request<PingRequest>) -> Result<Response<PongResponse>, Status> {
        Ok(Response::new(PongResponse {
            count: r.into_inner().count,
        }))
    }
    async fn get_latest_blockhash(
        &self,
        _: Request<GetLatestBlockhashRequest>,
    ) -> Result<Response<GetLatestBlockhashResponse>, Status> {
        Err(Status::unimplemented("bench server"))
    }
    async fn get_block_height(
        &self,
        _: Request<GetBlockHeightRequest>,
    ) -> Result<Response<GetBlockHeightResponse>, Status> {
        Err(Status::unimplemented("bench server"))
    }
    async fn get_slot(
        &self,
        _: Request<GetSlotRequest>,
    ) -> Result<Response<GetSlotResponse>, Status> {
        Err(Status::unimplemented("bench server"))
    }
    async fn is_blockhash_valid(
        &self,
        _: Request<IsBlockhashValidRequest>,
    ) -> Result<Response<IsBlockhashValidResponse>, Status> {
        Err(Status::unimplemented("bench server"))
    }
    async fn get_version(
        &self,
        _: Request<GetVersionRequest>,
    ) -> Result<Response<GetVersionResponse>, Status> {
        Ok(Response::new(GetVersionResponse {
            version: "iomesh-indexer pipeline benchmark".into(),
        }))
    }
}

/// Serves `updates` over real gRPC (Yellowstone's Geyser service) on a local
/// port, once per subscription, optionally paced at `rate` per second; the
/// stream ends after the last update. Stopped by the returned token.
pub async fn serve(
    updates: Arc<Vec<SubscribeUpdate>>,
    rate: Option<u64>,
) -> (SocketAddr, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let stop = CancellationToken::new();
    let service =
        GeyserServer::new(BenchGeyser { updates, rate }).max_encoding_message_size(usize::MAX);
    let token = stop.clone();
    tokio::spawn(async move {
        let _ = Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                token.cancelled_owned(),
            )
            .await;
    });
    (addr, stop)
}
