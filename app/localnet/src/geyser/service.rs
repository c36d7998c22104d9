//! The `geyser.Geyser` tonic service: streaming subscriptions over the feed
//! and unary reads answered from the bank at the requested commitment.

use super::{buffer::Feed, subscriber};
use crate::bank::Chain;
use solana_commitment_config::CommitmentLevel;
use solana_hash::Hash;
use std::{str::FromStr, sync::Arc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use yellowstone_grpc_proto::{
    geyser::geyser_server::Geyser,
    prelude::{
        CommitmentLevel as ProtoCommitment, GetBlockHeightRequest, GetBlockHeightResponse,
        GetLatestBlockhashRequest, GetLatestBlockhashResponse, GetSlotRequest, GetSlotResponse,
        GetVersionRequest, GetVersionResponse, IsBlockhashValidRequest, IsBlockhashValidResponse,
        PingRequest, PongResponse, SubscribeDeshredRequest, SubscribeGossipRequest,
        SubscribeReplayInfoRequest, SubscribeReplayInfoResponse, SubscribeRequest, SubscribeUpdate,
        SubscribeUpdateDeshred, SubscribeUpdateGossip,
    },
    tonic::{self, Request, Response, Status, Streaming},
};

/// The proto version this server speaks (the crate is pinned to it).
const PROTO_VERSION: &str = "14.0.1";

pub struct GeyserService {
    chain: Arc<Chain>,
    feed: Arc<Feed>,
    subscriber_queue: usize,
    shutdown: CancellationToken,
}

impl GeyserService {
    pub fn new(
        chain: Arc<Chain>,
        feed: Arc<Feed>,
        subscriber_queue: usize,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            chain,
            feed,
            subscriber_queue,
            shutdown,
        }
    }
}

/// A request's commitment (processed when absent, as the reference server).
fn commitment(value: Option<i32>) -> Result<CommitmentLevel, Status> {
    match value.map(ProtoCommitment::try_from) {
        None | Some(Ok(ProtoCommitment::Processed)) => Ok(CommitmentLevel::Processed),
        Some(Ok(ProtoCommitment::Confirmed)) => Ok(CommitmentLevel::Confirmed),
        Some(Ok(ProtoCommitment::Finalized)) => Ok(CommitmentLevel::Finalized),
        Some(Err(_)) => Err(Status::invalid_argument(format!(
            "unknown commitment level {}; expected 0 (processed), 1 (confirmed) or 2 (finalized)",
            value.unwrap_or_default()
        ))),
    }
}

#[tonic::async_trait]
impl Geyser for GeyserService {
    type SubscribeStream = ReceiverStream<Result<SubscribeUpdate, Status>>;

    async fn subscribe(
        &self,
        request: Request<Streaming<SubscribeRequest>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        if self.shutdown.is_cancelled() {
            return Err(Status::unavailable("server is shutting down"));
        }
        Ok(Response::new(subscriber::spawn(
            self.feed.clone(),
            request.into_inner(),
            self.subscriber_queue,
            self.shutdown.clone(),
        )))
    }

    type SubscribeDeshredStream = tokio_stream::Empty<Result<SubscribeUpdateDeshred, Status>>;

    async fn subscribe_deshred(
        &self,
        _request: Request<Streaming<SubscribeDeshredRequest>>,
    ) -> Result<Response<Self::SubscribeDeshredStream>, Status> {
        Err(Status::unimplemented(
            "the iomesh localnet has no shreds: SubscribeDeshred is not served",
        ))
    }

    type SubscribeGossipStream = tokio_stream::Empty<Result<SubscribeUpdateGossip, Status>>;

    async fn subscribe_gossip(
        &self,
        _request: Request<SubscribeGossipRequest>,
    ) -> Result<Response<Self::SubscribeGossipStream>, Status> {
        Err(Status::unimplemented(
            "the iomesh localnet has no gossip: SubscribeGossip is not served",
        ))
    }

    async fn subscribe_replay_info(
        &self,
        _request: Request<SubscribeReplayInfoRequest>,
    ) -> Result<Response<SubscribeReplayInfoResponse>, Status> {
        Ok(Response::new(SubscribeReplayInfoResponse {
            first_available: Some(self.feed.first_available()),
        }))
    }

    async fn ping(&self, request: Request<PingRequest>) -> Result<Response<PongResponse>, Status> {
        Ok(Response::new(PongResponse {
            count: request.into_inner().count,
        }))
    }

    async fn get_latest_blockhash(
        &self,
        request: Request<GetLatestBlockhashRequest>,
    ) -> Result<Response<GetLatestBlockhashResponse>, Status> {
        let bank = self
            .chain
            .bank(commitment(request.into_inner().commitment)?);
        let (blockhash, last_valid_block_height) = Chain::blockhash(&bank);
        Ok(Response::new(GetLatestBlockhashResponse {
            slot: bank.slot(),
            blockhash: blockhash.to_string(),
            last_valid_block_height,
        }))
    }

    async fn get_block_height(
        &self,
        request: Request<GetBlockHeightRequest>,
    ) -> Result<Response<GetBlockHeightResponse>, Status> {
        let bank = self
            .chain
            .bank(commitment(request.into_inner().commitment)?);
        Ok(Response::new(GetBlockHeightResponse {
            block_height: bank.block_height(),
        }))
    }

    async fn get_slot(
        &self,
        request: Request<GetSlotRequest>,
    ) -> Result<Response<GetSlotResponse>, Status> {
        let bank = self
            .chain
            .bank(commitment(request.into_inner().commitment)?);
        Ok(Response::new(GetSlotResponse { slot: bank.slot() }))
    }

    async fn is_blockhash_valid(
        &self,
        request: Request<IsBlockhashValidRequest>,
    ) -> Result<Response<IsBlockhashValidResponse>, Status> {
        let request = request.into_inner();
        let bank = self.chain.bank(commitment(request.commitment)?);
        let hash = Hash::from_str(&request.blockhash).map_err(|_| {
            Status::invalid_argument(format!(
                "blockhash `{}` is not a base58 32-byte hash",
                request.blockhash
            ))
        })?;
        Ok(Response::new(IsBlockhashValidResponse {
            slot: bank.slot(),
            valid: bank.is_blockhash_valid(&hash),
        }))
    }

    async fn get_version(
        &self,
        _request: Request<GetVersionRequest>,
    ) -> Result<Response<GetVersionResponse>, Status> {
        let version = serde_json::json!({
            "package": env!("CARGO_PKG_NAME"),
            "version": env!("CARGO_PKG_VERSION"),
            "proto": PROTO_VERSION,
            "solana": solana_version::Version::default().to_string(),
        });
        Ok(Response::new(GetVersionResponse {
            version: version.to_string(),
        }))
    }
}
