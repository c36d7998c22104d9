//! `iomesh lease logs` and `iomesh lease forward`: what a renter reaches of
//! its running job through a scheduler (`--scheduler`), authorised by access
//! tokens its keypair signs.

use crate::{context::Context, output::OutputFormat, renter_api::RenterApi};
use anyhow::{bail, Context as _, Result};
use bytes::{BufMut, BytesMut};
use futures::{SinkExt, StreamExt};
use iomesh_agent_proto::relay::{both_ways, Leg};
use std::{net::SocketAddr, time::Duration};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue, Message};

/// Waits between reconnections of a followed log stream.
const RETRY: Duration = Duration::from_millis(500);

/// Prints the lease's log lines; with `follow`, keeps going while the job
/// runs, reconnecting after the last line seen when a replica goes away.
pub async fn logs(
    ctx: &Context,
    lease: &str,
    follow: bool,
    tail: Option<u32>,
    since: Option<String>,
) -> Result<()> {
    let api = RenterApi::new(&ctx.scheduler_url()?);
    let keypair = ctx.signer()?;
    let mut after: Option<u64> = None;
    let mut attempts = 0u32;
    loop {
        let mut query = Vec::new();
        match after {
            Some(seq) => query.push(("after", seq.to_string())),
            None => {
                if let Some(tail) = tail {
                    query.push(("tail", tail.to_string()));
                }
                if let Some(since) = &since {
                    query.push(("since", since.clone()));
                }
            }
        }
        if follow {
            query.push(("follow", "true".into()));
        }
        let response = match api.logs(&keypair, lease, &query).await {
            Ok(response) => response,
            // A follow outlives a replica: retry a while before giving up.
            Err(err) if follow && after.is_some() && attempts < 60 => {
                attempts += 1;
                eprintln!("(log stream interrupted: {err:#}; retrying)");
                tokio::time::sleep(RETRY).await;
                continue;
            }
            Err(err) => return Err(err),
        };
        attempts = 0;
        let mut body = response.bytes_stream();
        let mut pending = Vec::new();
        let mut broken = false;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(err) => {
                    if !follow {
                        return Err(err).context("the log stream broke");
                    }
                    eprintln!("(log stream interrupted: {err}; resuming)");
                    broken = true;
                    break;
                }
            };
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let Ok(record) = serde_json::from_slice::<crate::renter_api::LogLine>(&line) else {
                    continue;
                };
                if let Some(error) = record.error {
                    if !follow {
                        bail!("{error}");
                    }
                    eprintln!("({error}; resuming)");
                    broken = true;
                    continue;
                }
                after = record.seq.or(after);
                print_line(ctx.output, &line, &record);
            }
        }
        if !(follow && broken) {
            return Ok(());
        }
        tokio::time::sleep(RETRY).await;
    }
}

fn print_line(output: OutputFormat, raw: &[u8], record: &crate::renter_api::LogLine) {
    match output {
        OutputFormat::Json | OutputFormat::JsonCompact => {
            print!("{}", String::from_utf8_lossy(raw));
        }
        OutputFormat::Display => {
            let time = record.t.map(format_time).unwrap_or_default();
            let stream = match record.stream.as_deref() {
                Some("stderr") => "err",
                Some("system") => "sys",
                _ => "out",
            };
            println!("{time} {stream}  {}", record.line.as_deref().unwrap_or(""));
        }
    }
}

/// "HH:MM:SS.mmm" (UTC) of a unix-millisecond time.
fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1_000);
    let day = secs.rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day / 3_600,
        day % 3_600 / 60,
        day % 60,
        ms.rem_euclid(1_000)
    )
}

/// Listens on `local` and carries each connection to `port` of the lease's
/// job, like `ssh -L` or `kubectl port-forward`, until Ctrl-C.
pub async fn forward(ctx: &Context, lease: &str, port: u16, local: SocketAddr) -> Result<()> {
    let api = RenterApi::new(&ctx.scheduler_url()?);
    let keypair = std::sync::Arc::new(ctx.signer()?);
    let listener = TcpListener::bind(local)
        .await
        .with_context(|| format!("cannot listen on {local}"))?;
    let bound = listener.local_addr()?;
    // One line a script can wait for (the port may have been chosen with :0).
    println!("Forwarding {bound} -> lease {lease} port {port} (Ctrl-C to stop)");
    let api = std::sync::Arc::new(api);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let (socket, peer) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                eprintln!("accept failed: {err}");
                continue;
            }
        };
        let (api, keypair, lease) = (api.clone(), keypair.clone(), lease.to_string());
        tokio::spawn(async move {
            if let Err(err) = carry(&api, &keypair, &lease, port, socket).await {
                eprintln!("connection from {peer}: {err:#}");
            }
        });
    }
}

/// Tries of a forward the scheduler answers 503 (about 9 s of waiting in all).
const FORWARD_ATTEMPTS: u32 = 10;

/// One local connection over one WebSocket. An empty binary message ends a
/// direction (a half-close), as the scheduler reads it; a failure on either
/// side ends both (see `iomesh_agent_proto::relay`).
async fn carry(
    api: &RenterApi,
    keypair: &solana_keypair::Keypair,
    lease: &str,
    port: u16,
    socket: TcpStream,
) -> Result<()> {
    let _ = socket.set_nodelay(true);
    let (url, token) = api.forward_target(keypair, lease, port);
    let mut attempt = 0;
    let ws = loop {
        attempt += 1;
        let mut request = url.as_str().into_client_request()?;
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}"))?,
        );
        // Nagle off: a request must not wait for the scheduler's delayed ACK.
        match tokio_tungstenite::connect_async_with_config(request, None, true).await {
            Ok((ws, _)) => break ws,
            // 503: the lease's agent is reconnecting or moving between
            // replicas; the API asks clients to retry.
            Err(tokio_tungstenite::tungstenite::Error::Http(response))
                if response.status() == 503 && attempt < FORWARD_ATTEMPTS =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt)))
                    .await;
            }
            Err(err) => {
                return Err(err).with_context(|| {
                    format!("the scheduler at {} refused the forward", api.base())
                })
            }
        }
    };
    let (mut to_job, mut from_job) = ws.split();
    let (mut from_local, mut to_local) = socket.into_split();
    let upstream = async {
        // Each read fills its own buffer, which the message then carries.
        let frame_bytes = iomesh_agent_proto::TUNNEL_FRAME_BYTES;
        let mut buffer = BytesMut::new();
        loop {
            buffer.reserve(frame_bytes);
            match from_local
                .read_buf(&mut (&mut buffer).limit(frame_bytes))
                .await
            {
                Ok(0) => break,
                Err(_) => return Leg::Broken,
                Ok(_) => {
                    let data = Message::Binary(buffer.split().freeze());
                    if to_job.send(data).await.is_err() {
                        return Leg::Broken;
                    }
                }
            }
        }
        match to_job.send(Message::Binary(Vec::new().into())).await {
            Ok(()) => Leg::Finished,
            Err(_) => Leg::Broken,
        }
    };
    let downstream = async {
        loop {
            match from_job.next().await {
                Some(Ok(Message::Binary(data))) if data.is_empty() => break,
                Some(Ok(Message::Binary(data))) => {
                    if to_local.write_all(&data).await.is_err() {
                        return Leg::Broken;
                    }
                }
                Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
                // The scheduler's side went away without ending the stream.
                Some(Err(_)) | None => return Leg::Broken,
            }
        }
        let _ = to_local.shutdown().await;
        Leg::Finished
    };
    // Dropping both halves on a break resets the local connection too.
    both_ways(upstream, downstream).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_utc_clock_times() {
        assert_eq!(format_time(0), "00:00:00.000");
        assert_eq!(format_time(1_700_000_123_456), "22:15:23.456");
    }
}
