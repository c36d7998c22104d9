use crate::common::{final_error, localnet_with, next_update, subscribed, test_config};
use iomesh_localnet::Config;
use yellowstone_grpc_client::GeyserGrpcClient;
use yellowstone_grpc_proto::{
    prelude::{
        subscribe_update::UpdateOneof, SubscribeRequest, SubscribeRequestFilterAccounts,
        SubscribeRequestFilterSlots,
    },
    tonic::Code,
};

#[tokio::test(flavor = "multi_thread")]
async fn a_subscriber_that_never_reads_is_cut_off_while_others_keep_streaming() {
    let localnet = localnet_with(Config {
        grpc_subscriber_queue: 16,
        ..test_config()
    })
    .await;
    // Small HTTP/2 windows, so the stalled client's transport fills quickly too.
    let mut stalled_client = GeyserGrpcClient::build_from_shared(localnet.grpc_url())
        .unwrap()
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .unwrap();
    let everything = SubscribeRequest {
        accounts: [("all".to_owned(), SubscribeRequestFilterAccounts::default())].into(),
        slots: [("slots".to_owned(), SubscribeRequestFilterSlots::default())].into(),
        ..Default::default()
    };
    let (_stalled_sink, mut stalled) = subscribed(&mut stalled_client, everything).await;

    let mut reader_client = crate::common::grpc(&localnet).await;
    let (_sink, mut reader) = subscribed(
        &mut reader_client,
        SubscribeRequest {
            slots: [("slots".to_owned(), SubscribeRequestFilterSlots::default())].into(),
            ..Default::default()
        },
    )
    .await;
    // Every slot rewrites the sysvars (tens of KB): 40 slots overflow the
    // stalled subscriber's transport window and its 16-update queue.
    let mut slots = 0;
    while slots < 40 {
        let update = next_update(&mut reader).await;
        if matches!(update.update_oneof, Some(UpdateOneof::Slot(_))) {
            slots += 1;
        }
    }
    let status = final_error(&mut stalled).await;
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(status.message(), "lagged to send an update");
    // The reader is unaffected.
    for _ in 0..5 {
        let update = next_update(&mut reader).await;
        assert!(matches!(update.update_oneof, Some(UpdateOneof::Slot(_))));
    }
    localnet.shutdown().await;
}
