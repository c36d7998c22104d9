use crate::common::{localnet_with, test_config, Ws};
use iomesh_localnet::Config;
use serde_json::json;

/// A client that subscribes to a lot and never reads is disconnected once
/// its queue fills; another connection keeps being notified.
#[tokio::test(flavor = "multi_thread")]
async fn a_connection_that_never_reads_is_cut_off_while_others_keep_going() {
    let localnet = localnet_with(Config {
        pubsub_connection_queue: 8,
        ..test_config()
    })
    .await;
    let mut stalled = Ws::connect(&localnet).await;
    // Every slot rewrites sysvars (tens of KB each): forty subscriptions to
    // them overflow the socket buffers and the 8-message queue quickly. They
    // go in one write, their replies unread: reading a reply here would race
    // the cut-off this test waits for.
    stalled
        .call_unread(
            40,
            "programSubscribe",
            json!(["Sysvar1111111111111111111111111111111111111", {"commitment": "processed", "encoding": "base64"}]),
        )
        .await;
    let mut reader = Ws::connect(&localnet).await;
    let slots = reader.subscribe("slotSubscribe", json!([])).await;
    // Read the reader for long enough that the stalled one overflows: its
    // end shows once it is read.
    for _ in 0..40 {
        let n = reader.notification().await;
        assert_eq!(n["params"]["subscription"], slots);
    }
    stalled.closed().await;
    for _ in 0..5 {
        let n = reader.notification().await;
        assert_eq!(n["params"]["subscription"], slots);
    }
    localnet.shutdown().await;
}
