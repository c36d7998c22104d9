//! How long an account change takes to reach a Yellowstone gRPC subscriber:
//! a stock `yellowstone-grpc-client` subscribed by pubkey at processed and at
//! confirmed commitment, timed from the `sendTransaction` call that made the
//! change to the update's arrival.

use crate::stats::Figures;
use anyhow::{bail, Context};
use futures::{SinkExt, StreamExt};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use solana_transaction::Transaction;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};
use yellowstone_grpc_client::GeyserGrpcClient;
use yellowstone_grpc_proto::prelude::{
    subscribe_update::UpdateOneof, CommitmentLevel, SubscribeRequest,
    SubscribeRequestFilterAccounts, SubscribeRequestPing,
};

/// Arrival time of each account update, keyed by the transaction signature.
type Arrivals = Arc<Mutex<HashMap<Vec<u8>, Instant>>>;

const READY_PING: i32 = 1;
const WAIT: Duration = Duration::from_secs(30);

/// Subscribes to `account` at `level` and records when each update arrives;
/// returns once the server has installed the filter.
async fn subscribe(
    grpc_url: &str,
    account: Pubkey,
    level: CommitmentLevel,
) -> anyhow::Result<(Arrivals, tokio::task::JoinHandle<()>)> {
    let mut client = GeyserGrpcClient::build_from_shared(grpc_url.to_string())?
        .connect()
        .await
        .context("connecting to the gRPC server")?;
    let request = SubscribeRequest {
        accounts: [(
            "target".to_string(),
            SubscribeRequestFilterAccounts {
                account: vec![account.to_string()],
                ..Default::default()
            },
        )]
        .into(),
        commitment: Some(level as i32),
        ..Default::default()
    };
    let (mut sink, mut stream) = client.subscribe_with_request(Some(request)).await?;
    // The server answers a ping only after the filter above is in place.
    sink.send(SubscribeRequest {
        ping: Some(SubscribeRequestPing { id: READY_PING }),
        ..Default::default()
    })
    .await?;
    loop {
        match tokio::time::timeout(WAIT, stream.next()).await {
            Ok(Some(Ok(update))) => {
                if matches!(update.update_oneof, Some(UpdateOneof::Pong(p)) if p.id == READY_PING) {
                    break;
                }
            }
            other => bail!("subscription at {level:?} did not become ready: {other:?}"),
        }
    }
    let arrivals = Arrivals::default();
    let recorder = arrivals.clone();
    let reader = tokio::spawn(async move {
        // Keeps the request sink (and so the stream) open while reading.
        let _sink = sink;
        while let Some(Ok(update)) = stream.next().await {
            let now = Instant::now();
            if let Some(UpdateOneof::Account(account)) = update.update_oneof {
                if let Some(signature) = account.account.and_then(|a| a.txn_signature) {
                    recorder
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(signature, now);
                }
            }
        }
    });
    Ok((arrivals, reader))
}

/// Sends `samples` transfers one after another to one account and times
/// each one's update on a processed and on a confirmed subscription.
pub async fn measure(
    rpc_url: &str,
    grpc_url: &str,
    payer: &Keypair,
    samples: usize,
) -> anyhow::Result<[Figures; 2]> {
    let rpc = RpcClient::new_with_commitment(rpc_url.to_string(), CommitmentConfig::confirmed());
    let target = Keypair::new().pubkey();
    let levels = [CommitmentLevel::Processed, CommitmentLevel::Confirmed];
    let mut subscriptions = Vec::new();
    for level in levels {
        subscriptions.push(subscribe(grpc_url, target, level).await?);
    }
    let mut sent_at = Vec::with_capacity(samples);
    let start = Instant::now();
    for n in 0..samples as u64 {
        let blockhash = rpc.get_latest_blockhash().await?;
        // The first transfer creates the account, so it must be rent-exempt.
        let lamports = 1_000_000_000 + n;
        let ix = solana_system_interface::instruction::transfer(&payer.pubkey(), &target, lamports);
        let tx =
            Transaction::new_signed_with_payer(&[ix], Some(&payer.pubkey()), &[payer], blockhash);
        let sent = Instant::now();
        let signature = rpc.send_transaction(&tx).await?;
        sent_at.push((signature.as_ref().to_vec(), sent));
    }
    let elapsed = start.elapsed();
    let mut figures = Vec::new();
    for ((arrivals, reader), level) in subscriptions.into_iter().zip(levels) {
        let deadline = Instant::now() + WAIT;
        while arrivals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
            < samples
        {
            if Instant::now() > deadline {
                bail!("not every update arrived at {level:?} within {WAIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        reader.abort();
        let arrivals = arrivals.lock().unwrap_or_else(PoisonError::into_inner);
        let mut f = Figures::new(
            format!("gRPC account update at {level:?}, from send"),
            1,
            elapsed,
        );
        for (signature, sent) in &sent_at {
            match arrivals.get(signature) {
                Some(at) => f.latencies.push(at.saturating_duration_since(*sent)),
                None => f.errors += 1,
            }
        }
        figures.push(f);
    }
    let [processed, confirmed]: [Figures; 2] = figures
        .try_into()
        .map_err(|_| anyhow::anyhow!("one figure per commitment level"))?;
    Ok([processed, confirmed])
}
