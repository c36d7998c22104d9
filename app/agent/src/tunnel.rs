//! Tunnels to a job's ports, opened on the scheduler's request over the
//! agent's own outbound connection (nodes sit behind NAT; nothing listens
//! here). The agent connects only to a port the lease's job spec lists, only
//! while its job runs, and only on the job's own loopback (jobs share the
//! node's network namespace, so that is 127.0.0.1).

use crate::agent::Agent;
use bytes::{BufMut, BytesMut};
use iomesh_agent_proto::TUNNEL_FRAME_BYTES as FRAME_BYTES;
use iomesh_agent_proto::{
    relay::{both_ways, Leg},
    v1::{scheduler_client::SchedulerClient, OpenTunnel, TunnelFrame},
};
use std::{sync::Arc, time::Duration};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::mpsc,
};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

/// Frames queued towards the scheduler per tunnel.
const FRAMES_QUEUED: usize = 8;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The job's port the tunnel leads to, or why the agent will not open it.
fn target(agent: &Agent, open: &OpenTunnel) -> Result<u16, String> {
    if agent.jobs.get(&open.lease).is_none() {
        return Err(format!("no job of lease {} runs on this node", open.lease));
    }
    let port = u16::try_from(open.port).ok();
    port.and_then(|port| agent.ports.target(&open.lease, port))
        .ok_or_else(|| {
            format!(
                "port {} is not in the job spec of lease {} (it lists {:?})",
                open.port,
                open.lease,
                agent.ports.of(&open.lease)
            )
        })
}

/// Opens the tunnel `open` asks for and carries its bytes until both sides end.
pub async fn serve(agent: Arc<Agent>, mut client: SchedulerClient<Channel>, open: OpenTunnel) {
    let (_open, closed) = agent.tunnel_guard(&open.tunnel_id);
    let (frames, receiver) = mpsc::channel::<TunnelFrame>(FRAMES_QUEUED);
    let target = target(&agent, &open);
    let socket = match target {
        Err(_) => None,
        Ok(job_port) => {
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(("127.0.0.1", job_port)))
                .await
            {
                Ok(Ok(socket)) => Some(socket),
                Ok(Err(err)) => {
                    let _ = frames
                        .send(first(
                            &open,
                            format!("cannot connect to the job's port {}: {err}", open.port),
                        ))
                        .await;
                    None
                }
                Err(_) => {
                    let _ = frames
                        .send(first(
                            &open,
                            format!("the job's port {} did not accept in time", open.port),
                        ))
                        .await;
                    None
                }
            }
        }
    };
    if let Err(reason) = target {
        tracing::info!(lease = open.lease, port = open.port, %reason, "tunnel refused");
        let _ = frames.send(first(&open, reason)).await;
    }
    let Some(socket) = socket else {
        drop(frames);
        let _ = client.tunnel(ReceiverStream::new(receiver)).await;
        return;
    };
    let _ = socket.set_nodelay(true);
    if frames.send(first(&open, String::new())).await.is_err() {
        return;
    }
    let mut from_scheduler = match client.tunnel(ReceiverStream::new(receiver)).await {
        Ok(response) => response.into_inner(),
        Err(status) => {
            tracing::warn!(lease = open.lease, %status, "the scheduler refused the tunnel");
            return;
        }
    };
    let (mut from_job, mut to_job) = socket.into_split();
    // `move`: finishing a direction drops its halves, and dropping `frames`
    // ends our stream, which is how the renter's side reads the job's EOF.
    let upstream = async move {
        // Job → renter: read only as fast as the frames leave, each read
        // into its own buffer that the frame then carries without a copy.
        let mut buffer = BytesMut::new();
        loop {
            buffer.reserve(FRAME_BYTES);
            match from_job
                .read_buf(&mut (&mut buffer).limit(FRAME_BYTES))
                .await
            {
                Ok(0) => return Leg::Finished,
                Err(err) => {
                    // Said if there is room; the broken tunnel ends anyway.
                    let reason = format!("the job's connection failed: {err}");
                    let _ = frames.try_send(TunnelFrame {
                        error: reason,
                        ..TunnelFrame::default()
                    });
                    return Leg::Broken;
                }
                Ok(_) => {
                    let frame = TunnelFrame {
                        data: buffer.split().freeze(),
                        ..TunnelFrame::default()
                    };
                    if frames.send(frame).await.is_err() {
                        return Leg::Broken;
                    }
                }
            }
        }
    };
    let downstream = async move {
        loop {
            match from_scheduler.message().await {
                Ok(Some(frame)) => {
                    if to_job.write_all(&frame.data).await.is_err() {
                        return Leg::Broken;
                    }
                }
                // The renter finished sending: half-close towards the job.
                Ok(None) => {
                    let _ = to_job.shutdown().await;
                    return Leg::Finished;
                }
                // The scheduler aborted the tunnel, or its connection broke.
                Err(_) => return Leg::Broken,
            }
        }
    };
    // Both halves of the job's socket drop with this function: on a break,
    // or when the scheduler closes the tunnel, the job sees a reset.
    tokio::select! {
        _ = both_ways(upstream, downstream) => {}
        _ = closed.cancelled() => {}
    }
}

fn first(open: &OpenTunnel, error: String) -> TunnelFrame {
    TunnelFrame {
        tunnel_id: open.tunnel_id.clone(),
        data: Default::default(),
        error,
    }
}
