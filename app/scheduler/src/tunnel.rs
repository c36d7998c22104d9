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
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
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
    let ends = Arc::new(Ends {
        job: AtomicBool::new(false),
        renter: AtomicBool::new(false),
        open: shared.metrics.tunnels_open.clone(),
        tunnel_id,
        session: session.outbound.clone(),
    });
    Ok(TunnelIo {
        from_job: FromJob {
            inbound: agent.inbound,
            pending: Bytes::new(),
            bytes: from_job,
            ends: ends.clone(),
        },
        to_job: ToJob {
            outbound: PollSender::new(agent.outbound),
            bytes: to_job,
            ends,
        },
    })
}

/// A tunnel as a byte stream: reads what the job's port sends, writes what
/// goes to it; shutting down the write side half-closes the connection.
/// [`TunnelIo::split`] gives the two directions as frames, without copies.
pub struct TunnelIo {
    from_job: FromJob,
    to_job: ToJob,
}

impl TunnelIo {
    pub fn split(self) -> (FromJob, ToJob) {
        (self.from_job, self.to_job)
    }
}

/// Which sides of a tunnel ended cleanly; shared by its two directions.
struct Ends {
    /// The agent ended its stream (the job sent everything).
    job: AtomicBool,
    /// We ended ours (the renter sent everything).
    renter: AtomicBool,
    open: IntGauge,
    tunnel_id: String,
    /// The node's session, which carries `CloseTunnel`.
    session: Outbound,
}

impl Drop for Ends {
    /// A tunnel dropped before both sides ended was broken off. The agent
    /// is told on the node's session: on the tunnel's own stream the news
    /// would queue behind data a blocked job may never read.
    fn drop(&mut self) {
        self.open.dec();
        if *self.job.get_mut() && *self.renter.get_mut() {
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

/// The job → renter direction.
pub struct FromJob {
    inbound: Streaming<TunnelFrame>,
    /// The unread rest of the last frame (byte-stream reads only).
    pending: Bytes,
    bytes: IntCounter,
    ends: Arc<Ends>,
}

impl FromJob {
    /// The next bytes the job sent, as the agent framed them; `None` once
    /// the job's side ended.
    pub async fn chunk(&mut self) -> io::Result<Option<Bytes>> {
        if !self.pending.is_empty() {
            let data = std::mem::take(&mut self.pending);
            self.bytes.inc_by(data.len() as u64);
            return Ok(Some(data));
        }
        let data = std::future::poll_fn(|cx| self.poll_frame(cx)).await?;
        if let Some(data) = &data {
            self.bytes.inc_by(data.len() as u64);
        }
        Ok(data)
    }

    /// The next non-empty frame's bytes, `None` at the end.
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Bytes>>> {
        loop {
            let frame = match ready!(Pin::new(&mut self.inbound).poll_next(cx)) {
                // The agent half-closed: the job's side sent everything.
                None => {
                    self.ends.job.store(true, Ordering::Relaxed);
                    return Poll::Ready(Ok(None));
                }
                Some(Err(status)) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        format!("tunnel closed by the agent: {}", status.message()),
                    )))
                }
                Some(Ok(frame)) => frame,
            };
            if !frame.error.is_empty() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    format!("tunnel failed on the node: {}", frame.error),
                )));
            }
            if !frame.data.is_empty() {
                return Poll::Ready(Ok(Some(frame.data)));
            }
        }
    }
}

impl AsyncRead for FromJob {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pending.is_empty() {
            match ready!(self.poll_frame(cx))? {
                Some(data) => self.pending = data,
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = self.pending.len().min(buf.remaining());
        buf.put_slice(&self.pending[..n]);
        self.pending.advance(n);
        self.bytes.inc_by(n as u64);
        Poll::Ready(Ok(()))
    }
}

/// The renter → job direction.
pub struct ToJob {
    outbound: PollSender<Result<TunnelFrame, Status>>,
    bytes: IntCounter,
    ends: Arc<Ends>,
}

fn closed_by_agent() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "tunnel closed by the agent")
}

impl ToJob {
    /// Sends `data` towards the job in frames of at most [`FRAME_BYTES`],
    /// without copying it; waits while the agent's queue is full.
    pub async fn send(&mut self, mut data: Bytes) -> io::Result<()> {
        while !data.is_empty() {
            let piece = data.split_to(data.len().min(FRAME_BYTES));
            std::future::poll_fn(|cx| self.outbound.poll_reserve(cx))
                .await
                .map_err(|_| closed_by_agent())?;
            self.send_reserved(piece)?;
        }
        Ok(())
    }

    fn send_reserved(&mut self, data: Bytes) -> io::Result<()> {
        let n = data.len() as u64;
        let frame = TunnelFrame {
            data,
            ..TunnelFrame::default()
        };
        self.outbound
            .send_item(Ok(frame))
            .map_err(|_| closed_by_agent())?;
        self.bytes.inc_by(n);
        Ok(())
    }

    /// Ends the renter's direction: the agent half-closes the job's socket.
    pub fn finish(&mut self) {
        self.outbound.close();
        self.ends.renter.store(true, Ordering::Relaxed);
    }
}

impl AsyncWrite for ToJob {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.outbound.poll_reserve(cx)).map_err(|_| closed_by_agent())?;
        let n = buf.len().min(FRAME_BYTES);
        self.send_reserved(Bytes::copy_from_slice(&buf[..n]))?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.finish();
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for TunnelIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.from_job).poll_read(cx, buf)
    }
}

impl AsyncWrite for TunnelIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.to_job).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.to_job).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.to_job).poll_shutdown(cx)
    }
}
