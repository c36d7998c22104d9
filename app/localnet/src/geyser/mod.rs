//! Yellowstone gRPC (Dragon's Mouth `geyser.Geyser`, proto 14) over the
//! localnet's bank: the bank's notifier and commit path feed `buffer::Feed`,
//! each subscription filters the feed, and `grpc.health.v1` reports the
//! service SERVING.

pub mod buffer;
pub mod convert;
pub mod filter;
pub mod message;
pub mod notifier;
pub mod service;
pub mod subscriber;

pub use buffer::Feed;
pub use service::GeyserService;

use tokio::{net::TcpListener, task::JoinHandle};
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use yellowstone_grpc_proto::{
    geyser::geyser_server::GeyserServer,
    tonic::{codec::CompressionEncoding, transport::Server},
};

/// Largest request a client may send (filters with many pubkeys).
const MAX_DECODING_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Serves the Geyser and health services on `listener` until `shutdown`.
pub async fn spawn(
    listener: TcpListener,
    service: GeyserService,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<GeyserServer<GeyserService>>()
        .await;
    let geyser = GeyserServer::new(service)
        .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES)
        .max_encoding_message_size(usize::MAX)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Zstd);
    tokio::spawn(async move {
        let served = Server::builder()
            .add_service(health)
            .add_service(geyser)
            .serve_with_incoming_shutdown(
                TcpListenerStream::new(listener),
                shutdown.cancelled_owned(),
            )
            .await;
        if let Err(err) = served {
            tracing::error!(%err, "gRPC server stopped");
        }
    })
}
