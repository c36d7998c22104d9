//! Fixture: an in-process localnet with fast slots, the stock Yellowstone
//! client, the stock RpcClient, and bounded reads of a subscription.

use futures::{SinkExt, StreamExt};
use iomesh_localnet::{Config, Localnet};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::Transaction;
use std::{future::Future, time::Duration};
use yellowstone_grpc_client::{GeyserGrpcClient, GeyserStream, SubscribeRequestSink};
use yellowstone_grpc_proto::{
    prelude::{
        subscribe_update::UpdateOneof, SubscribeRequest, SubscribeRequestPing, SubscribeUpdate,
    },
    tonic::Status,
};

/// Bound on any wait for the chain or the stream to move.
pub const TIMEOUT: Duration = Duration::from_secs(30);
pub const SLOT: Duration = Duration::from_millis(50);
pub const SOL: u64 = 1_000_000_000;

pub fn test_config() -> Config {
    Config {
        rpc_addr: "127.0.0.1:0".parse().unwrap(),
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        slot_duration: SLOT,
        ..Config::default()
    }
}

pub async fn localnet() -> Localnet {
    localnet_with(test_config()).await
}

pub async fn localnet_with(config: Config) -> Localnet {
    Localnet::start(config).await.expect("localnet starts")
}

pub fn rpc(localnet: &Localnet) -> RpcClient {
    RpcClient::new_with_commitment(localnet.rpc_url(), CommitmentConfig::confirmed())
}

pub async fn grpc(localnet: &Localnet) -> GeyserGrpcClient {
    GeyserGrpcClient::build_from_shared(localnet.grpc_url())
        .expect("endpoint")
        .connect()
        .await
        .expect("gRPC connects")
}

/// Polls `check` until it yields `Some`, failing after `TIMEOUT`.
pub async fn poll<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A new keypair holding `lamports`, airdropped and confirmed.
pub async fn funded(rpc: &RpcClient, lamports: u64) -> Keypair {
    let keypair = Keypair::new();
    let signature = rpc
        .request_airdrop(&keypair.pubkey(), lamports)
        .await
        .expect("airdrop");
    confirmed_slot(rpc, &signature).await;
    keypair
}

/// Sends `instructions` paid by the first signer; returns the signature as
/// soon as `sendTransaction` answers (the transaction has executed).
pub async fn send(
    rpc: &RpcClient,
    instructions: &[Instruction],
    signers: &[&Keypair],
) -> Signature {
    let blockhash = rpc.get_latest_blockhash().await.expect("blockhash");
    let tx = Transaction::new_signed_with_payer(
        instructions,
        Some(&signers[0].pubkey()),
        signers,
        blockhash,
    );
    rpc.send_transaction(&tx)
        .await
        .expect("transaction accepted")
}

/// The slot `signature` landed in, once it is confirmed.
pub async fn confirmed_slot(rpc: &RpcClient, signature: &Signature) -> u64 {
    poll("confirmation", || async {
        let statuses = rpc.get_signature_statuses(&[*signature]).await.ok()?;
        statuses.value[0]
            .clone()
            .filter(|s| s.satisfies_commitment(CommitmentConfig::confirmed()))
            .map(|s| {
                assert_eq!(s.err, None, "transaction failed");
                s.slot
            })
    })
    .await
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
