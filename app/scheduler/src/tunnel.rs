//! Tunnels to a job's ports over its agent's outbound connection.
//!
//! Each tunnel is one gRPC stream (one HTTP/2 stream) that the agent opens
//! when asked; bytes travel as `TunnelFrame`s. Both directions are bounded:
//! a few frames queue towards the agent, and frames from the agent are read
//! only as fast as the renter's side takes them, so HTTP/2 flow control
//! holds the job back when the renter reads slowly. Memory stays bounded
//! whatever the speeds.

use crate::{rendezvous::OpenError, sessions::Outbound, Shared};
use bytes::{Buf, Bytes};
use futures::Stream;
use iomesh_agent_proto::v1::{
    scheduler_message::Msg as SchedMsg, CloseTunnel, OpenTunnel, SchedulerMessage, TunnelFrame,
};
use prometheus::{IntCounter, IntGauge};
use solana_pubkey::Pubkey;
use std::{
    io,
    pin::Pin,
    task::{ready, Context, Poll},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;
use tonic::{Status, Streaming};

/// Frames queued towards the agent per tunnel.
pub const FRAMES_QUEUED: usize = 8;
/// Largest payload of one frame.
pub const FRAME_BYTES: usize = iomesh_agent_proto::TUNNEL_FRAME_BYTES;

/// What the gRPC handler hands over: the agent's frames, and the sender of ours.
pub struct AgentSide {
    pub inbound: Streaming<TunnelFrame>,
    pub outbound: mpsc::Sender<Result<TunnelFrame, Status>>,
}

/// Asks the agent of `node` to connect to `port` of `lease`'s job and waits
/// for its tunnel. Call on the replica holding the node's session.
pub async fn open(
    shared: &Shared,
    node: &Pubkey,
    lease: &Pubkey,
    port: u16,
) -> Result<TunnelIo, OpenError> {
    let session = shared.sessions.get(node).ok_or(OpenError::Gone)?;
    let waiting = shared.tunnels.wait();
    let open = SchedulerMessage {
        msg: Some(SchedMsg::OpenTunnel(OpenTunnel {
            tunnel_id: waiting.id.clone(),
            lease: lease.to_string(),
            port: u32::from(port),
        })),
    };
    let tunnel_id = waiting.id.clone();
    session
        .outbound
        .send(Ok(open))
        .await
        .map_err(|_| OpenError::Gone)?;
    let agent = waiting.arrived().await?;
    let (to_job, from_job) = shared.metrics.tunnel_bytes(lease);
    shared.metrics.tunnels_opened_total.inc();
    shared.metrics.tunnels_open.inc();
    Ok(TunnelIo {
        inbound: agent.inbound,
        pending: Bytes::new(),
        outbound: PollSender::new(agent.outbound),
        to_job,
        from_job,
        open: shared.metrics.tunnels_open.clone(),
        tunnel_id,
        session: session.outbound.clone(),
        job_side_ended: false,
        renter_side_ended: false,
    })
}

/// A tunnel as a byte stream: reads what the job's port sends, writes what
/// goes to it; shutting down the write side half-closes the connection.
pub struct TunnelIo {
    inbound: Streaming<TunnelFrame>,
    pending: Bytes,
    outbound: PollSender<Result<TunnelFrame, Status>>,
    to_job: IntCounter,
    from_job: IntCounter,
    open: IntGauge,
    tunnel_id: String,
    /// The node's session, which carries `CloseTunnel`.
    session: Outbound,
    /// The agent ended its stream (the job sent everything).
    job_side_ended: bool,
    /// We ended ours (the renter sent everything).
    renter_side_ended: bool,
}

impl Drop for TunnelIo {
    /// A tunnel dropped before both sides ended was broken off. The agent
    /// is told on the node's session: on the tunnel's own stream the news
    /// would queue behind data a blocked job may never read.
    fn drop(&mut self) {
        self.open.dec();
        if self.job_side_ended && self.renter_side_ended {
            return;
        }
        let close = SchedulerMessage {
            msg: Some(SchedMsg::CloseTunnel(CloseTunnel {
                tunnel_id: std::mem::take(&mut self.tunnel_id),
                reason: "the renter's side of the tunnel ended early".into(),
            })),
        };
        if let Err(mpsc::error::TrySendError::Full(close)) = self.session.try_send(Ok(close)) {
            let session = self.session.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { session.send(close).await });
            }
        }
    }
}

impl AsyncRead for TunnelIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(buf.remaining());
                buf.put_slice(&self.pending[..n]);
                self.pending.advance(n);
                self.from_job.inc_by(n as u64);
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut self.inbound).poll_next(cx)) {
                // The agent half-closed: the job's side sent everything.
                None => {
                    self.job_side_ended = true;
                    return Poll::Ready(Ok(()));
                }
                Some(Err(status)) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        format!("tunnel closed by the agent: {}", status.message()),
                    )))
                }
                Some(Ok(frame)) if !frame.error.is_empty() => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        format!("tunnel failed on the node: {}", frame.error),
                    )))
                }
                Some(Ok(frame)) => self.pending = frame.data,
            }
        }
    }
}

impl AsyncWrite for TunnelIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let closed = || io::Error::new(io::ErrorKind::BrokenPipe, "tunnel closed by the agent");
        ready!(self.outbound.poll_reserve(cx)).map_err(|_| closed())?;
        let n = buf.len().min(FRAME_BYTES);
        let frame = TunnelFrame {
            data: Bytes::copy_from_slice(&buf[..n]),
            ..TunnelFrame::default()
        };
        self.outbound.send_item(Ok(frame)).map_err(|_| closed())?;
        self.to_job.inc_by(n as u64);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Ending our stream tells the agent to half-close the job's socket.
        self.outbound.close();
        self.renter_side_ended = true;
        Poll::Ready(Ok(()))
    }
}
