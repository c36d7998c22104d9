//! Fixture: the shared localnet fixture (fast slots, the stock RpcClient,
//! funding, polling), the stock Yellowstone client, and bounded reads of a
//! subscription.

pub use iomesh_tests::localnet::*;

use futures::{SinkExt, StreamExt};
use iomesh_localnet::Localnet;
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_signature::Signature;
use std::collections::HashMap;
use yellowstone_grpc_client::{GeyserGrpcClient, GeyserStream, SubscribeRequestSink};
use yellowstone_grpc_proto::{
    prelude::{
        subscribe_update::UpdateOneof, SubscribeRequest, SubscribeRequestFilterAccounts,
        SubscribeRequestPing, SubscribeUpdate,
    },
    tonic::Status,
};

pub async fn grpc(localnet: &Localnet) -> GeyserGrpcClient {
    GeyserGrpcClient::build_from_shared(localnet.grpc_url())
        .expect("endpoint")
        .connect()
        .await
        .expect("gRPC connects")
}

/// A new keypair holding `lamports`, airdropped and confirmed.
pub async fn funded(rpc: &RpcClient, lamports: u64) -> Keypair {
    funded_at(rpc, lamports, CommitmentConfig::confirmed()).await
}

/// Sends `instructions` paid by the first signer; returns the signature as
/// soon as `sendTransaction` answers (the transaction has executed).
pub async fn send(
    rpc: &RpcClient,
    instructions: &[Instruction],
    signers: &[&Keypair],
) -> Signature {
    rpc.send_transaction(&signed(rpc, instructions, signers).await)
        .await
        .expect("transaction accepted")
}

/// The slot `signature` landed in, once it is confirmed.
pub async fn confirmed_slot(rpc: &RpcClient, signature: &Signature) -> u64 {
    let status = confirm(rpc, signature, CommitmentConfig::confirmed()).await;
    assert_eq!(status.err, None, "transaction failed");
    status.slot
}

/// An accounts filter, named `name`, for exactly one account.
pub fn watching(
    name: &str,
    account: &impl ToString,
) -> HashMap<String, SubscribeRequestFilterAccounts> {
    [(
        name.to_owned(),
        SubscribeRequestFilterAccounts {
            account: vec![account.to_string()],
            ..Default::default()
        },
    )]
    .into()
}

/// The next item of `stream` that is not a server keep-alive ping.
pub async fn next(stream: &mut GeyserStream) -> Option<Result<SubscribeUpdate, Status>> {
    loop {
        let item = tokio::time::timeout(TIMEOUT, stream.next())
            .await
            .expect("the stream yields within the timeout");
        match &item {
            Some(Ok(SubscribeUpdate {
                update_oneof: Some(UpdateOneof::Ping(_)),
                ..
            })) => continue,
            _ => return item,
        }
    }
}

/// The next update (not ping, not error).
pub async fn next_update(stream: &mut GeyserStream) -> SubscribeUpdate {
    match next(stream).await {
        Some(Ok(update)) => update,
        Some(Err(status)) => panic!("stream failed: {status:?}"),
        None => panic!("stream ended"),
    }
}

/// Reads updates until `stop` returns true for one; returns all read, that one included.
pub async fn read_until(
    stream: &mut GeyserStream,
    mut stop: impl FnMut(&SubscribeUpdate) -> bool,
) -> Vec<SubscribeUpdate> {
    let mut seen = Vec::new();
    loop {
        let update = next_update(stream).await;
        let done = stop(&update);
        seen.push(update);
        if done {
            return seen;
        }
    }
}

/// The error a subscription ends with (after any updates it still had queued).
pub async fn final_error(stream: &mut GeyserStream) -> Status {
    loop {
        match next(stream).await {
            Some(Ok(_)) => continue,
            Some(Err(status)) => return status,
            None => panic!("stream ended without an error status"),
        }
    }
}

/// Whether `update` is the given slot status for `slot`.
pub fn is_slot_status(
    update: &SubscribeUpdate,
    slot: u64,
    status: yellowstone_grpc_proto::prelude::SlotStatus,
) -> bool {
    matches!(&update.update_oneof, Some(UpdateOneof::Slot(s)) if s.slot == slot && s.status == status as i32)
}

/// Subscribes with `request` and returns once the server applied it: a ping
/// sent after the request is answered only after the filter is installed.
pub async fn subscribed(
    client: &mut GeyserGrpcClient,
    request: SubscribeRequest,
) -> (SubscribeRequestSink, GeyserStream) {
    let (mut sink, mut stream) = client
        .subscribe_with_request(Some(request))
        .await
        .expect("subscribe");
    sink.send(SubscribeRequest {
        ping: Some(SubscribeRequestPing { id: PING_ID }),
        ..Default::default()
    })
    .await
    .expect("ping sent");
    read_until(
        &mut stream,
        |u| matches!(&u.update_oneof, Some(UpdateOneof::Pong(p)) if p.id == PING_ID),
    )
    .await;
    (sink, stream)
}

const PING_ID: i32 = 515;
