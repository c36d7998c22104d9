//! How fast an account change reaches a gRPC subscriber: from
//! `sendTransaction` returning to the account update arriving, and from the
//! slot's bank being announced (CreatedBank) to the update arriving.
//! `cargo test -p iomesh-localnet --test grpc latency_report -- --ignored --nocapture`
//! prints the figures (IOMESH_LATENCY_SAMPLES sets the sample count).

use crate::common::{funded, grpc, localnet, rpc, send, subscribed, SOL, TIMEOUT};
use futures::StreamExt;
use iomesh_localnet::Localnet;
use solana_keypair::Keypair;
use solana_signature::Signature;
use solana_signer::Signer;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use yellowstone_grpc_proto::prelude::{
    subscribe_update::UpdateOneof, SlotStatus, SubscribeRequest, SubscribeRequestFilterAccounts,
    SubscribeRequestFilterSlots,
};

/// Per-sample latencies.
#[derive(Debug, Default)]
pub struct Latency {
    /// From `sendTransaction` returning to the account update arriving.
    pub after_send: Vec<Duration>,
    /// From the update's slot being announced to the update arriving.
    pub into_slot: Vec<Duration>,
}

#[derive(Default)]
struct Arrivals {
    updates: HashMap<Signature, (Instant, u64)>,
    slots: HashMap<u64, Instant>,
}

/// Sends `samples` transfers one after another and times each one's
/// account update on a processed subscription.
pub async fn measure(localnet: &Localnet, samples: usize) -> Latency {
    let rpc = rpc(localnet);
    let payer = funded(&rpc, 10 * SOL).await;
    let recipient = Keypair::new();
    let mut client = grpc(localnet).await;
    let (_sink, mut stream) = subscribed(
        &mut client,
        SubscribeRequest {
            accounts: [(
                "recipient".to_owned(),
                SubscribeRequestFilterAccounts {
                    account: vec![recipient.pubkey().to_string()],
                    ..Default::default()
                },
            )]
            .into(),
            slots: [(
                "slots".to_owned(),
                SubscribeRequestFilterSlots {
                    interslot_updates: Some(true),
                    ..Default::default()
                },
            )]
            .into(),
            ..Default::default()
        },
    )
    .await;
    let arrivals = Arc::new(Mutex::new(Arrivals::default()));
    let recorder = arrivals.clone();
    let reader = tokio::spawn(async move {
        while let Some(Ok(update)) = stream.next().await {
            let now = Instant::now();
            let mut arrivals = recorder.lock().unwrap();
            match update.update_oneof {
                Some(UpdateOneof::Account(a)) => {
                    let info = a.account.unwrap();
                    if let Some(sig) = info.txn_signature {
                        let sig = Signature::try_from(sig.as_slice()).unwrap();
                        arrivals.updates.insert(sig, (now, a.slot));
                    }
                }
                Some(UpdateOneof::Slot(s)) if s.status == SlotStatus::SlotCreatedBank as i32 => {
                    arrivals.slots.insert(s.slot, now);
                }
                _ => {}
            }
        }
    });
    let mut latency = Latency::default();
    for i in 0..samples {
        let transfer = solana_system_interface::instruction::transfer(
            &payer.pubkey(),
            &recipient.pubkey(),
            SOL / 1000 + i as u64,
        );
        let signature = send(&rpc, &[transfer], &[&payer]).await;
        let sent = Instant::now();
        let deadline = sent + TIMEOUT;
        let (arrived, slot_start) = loop {
            let found = {
                let arrivals = arrivals.lock().unwrap();
                arrivals
                    .updates
                    .get(&signature)
                    .map(|(at, slot)| (*at, arrivals.slots.get(slot).copied()))
            };
            if let Some(found) = found {
                break found;
            }
            assert!(Instant::now() < deadline, "update {i} never arrived");
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        latency
            .after_send
            .push(arrived.saturating_duration_since(sent));
        if let Some(start) = slot_start {
            latency
                .into_slot
                .push(arrived.saturating_duration_since(start));
        }
    }
    reader.abort();
    latency
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() - 1) * p / 100]
}

fn summary(name: &str, values: &[Duration]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort();
    format!(
        "{name}: n={} p50={:?} p90={:?} p99={:?} max={:?}",
        sorted.len(),
        percentile(&sorted, 50),
        percentile(&sorted, 90),
        percentile(&sorted, 99),
        sorted.last().unwrap()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sent_change_reaches_a_subscriber_before_its_slot_ends() {
    let localnet = localnet().await;
    let latency = measure(&localnet, 5).await;
    assert_eq!(latency.after_send.len(), 5);
    // Processed updates stream live, inside the slot the change landed in.
    assert!(latency
        .into_slot
        .iter()
        .all(|d| *d < Duration::from_secs(5)));
    localnet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn latency_report() {
    let samples = std::env::var("IOMESH_LATENCY_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let localnet = localnet().await;
    let latency = measure(&localnet, samples).await;
    println!("{}", summary("send -> account update", &latency.after_send));
    println!(
        "{}",
        summary("slot start -> account update", &latency.into_slot)
    );
    localnet.shutdown().await;
}
