//! A lease's log records sent to the scheduler on request (`ReadLogs`), over
//! the agent's own connection: the records asked for, in batches, then,
//! when following, each new record as the job's shim writes it, until the
//! job has ended and everything was sent or the renter stops reading.

use crate::{
    agent::Agent,
    logs::{LogError, LogRecord, LogStream, Since},
};
use futures::StreamExt;
use iomesh_agent_proto::v1::{
    scheduler_client::SchedulerClient, LogBatch, LogRecord as WireRecord, LogStream as WireStream,
    LogsUnavailable, ReadLogs,
};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

/// Most records per batch.
const BATCH_RECORDS: usize = 512;
/// Batches queued towards the scheduler: reading slows down, not memory up.
const BATCHES_QUEUED: usize = 4;

fn wire(record: LogRecord) -> WireRecord {
    WireRecord {
        seq: record.seq,
        at_ms: record.time_ms,
        stream: match record.stream {
            LogStream::Out => WireStream::Stdout,
            LogStream::Err => WireStream::Stderr,
            LogStream::Sys => WireStream::System,
        } as i32,
        line: record.line,
    }
}

/// Sends what `read` asks for on a `Logs` stream.
pub async fn serve(agent: Arc<Agent>, mut client: SchedulerClient<Channel>, read: ReadLogs) {
    let (batches, receiver) = mpsc::channel::<LogBatch>(BATCHES_QUEUED);
    let call = tokio::spawn(async move { client.logs(ReceiverStream::new(receiver)).await });
    let first = |records: Vec<WireRecord>, error: String| LogBatch {
        request_id: read.request_id.clone(),
        records,
        error,
        unavailable: LogsUnavailable::Unspecified as i32,
    };
    let reader = match agent.jobs.logs(&read.lease) {
        Ok(reader) => reader,
        Err(err) => {
            let unavailable = match err {
                LogError::NotFound(_) => LogsUnavailable::NoJob,
                LogError::Deleted { .. } => LogsUnavailable::Deleted,
                LogError::Io(_) => LogsUnavailable::Unspecified,
            };
            let refusal = LogBatch {
                unavailable: unavailable as i32,
                ..first(Vec::new(), err.to_string())
            };
            let _ = batches.send(refusal).await;
            drop(batches);
            let _ = call.await;
            return;
        }
    };
    let since = match (read.after_seq, read.since_ms) {
        (Some(seq), _) => Some(Since::Seq(seq)),
        (None, ms) if ms > 0 => Some(Since::TimeMs(ms)),
        _ => None,
    };
    let tail = (read.tail > 0).then_some(read.tail as usize);
    let past = {
        let reader = reader.clone();
        tokio::task::spawn_blocking(move || reader.read(tail, since)).await
    };
    let past = match past {
        Ok(Ok(records)) => records,
        Ok(Err(err)) => {
            let _ = batches.send(first(Vec::new(), err.to_string())).await;
            drop(batches);
            let _ = call.await;
            return;
        }
        Err(_) => Vec::new(),
    };
    let next_seq = past
        .last()
        .map(|r| r.seq + 1)
        .or(read.after_seq.map(|s| s + 1))
        .unwrap_or(0);
    let mut records = past.into_iter().map(wire);
    let head: Vec<WireRecord> = records.by_ref().take(BATCH_RECORDS).collect();
    if batches.send(first(head, String::new())).await.is_err() {
        return;
    }
    let rest: Vec<WireRecord> = records.collect();
    for chunk in rest.chunks(BATCH_RECORDS) {
        if batches
            .send(LogBatch {
                records: chunk.to_vec(),
                ..LogBatch::default()
            })
            .await
            .is_err()
        {
            return;
        }
    }
    if read.follow {
        // What the job writes from now on; records older than `next_seq`
        // were sent above. A time filter only applies to the past.
        let mut follow = reader.follow(next_seq).ready_chunks(BATCH_RECORDS);
        loop {
            let chunk = tokio::select! {
                chunk = follow.next() => chunk,
                _ = batches.closed() => break,
            };
            let Some(chunk) = chunk else { break };
            let mut batch = LogBatch::default();
            for item in chunk {
                match item {
                    Ok(record) => batch.records.push(wire(record)),
                    Err(err) => batch.error = format!("reading the lease's logs: {err}"),
                }
            }
            let failed = !batch.error.is_empty();
            if batches.send(batch).await.is_err() || failed {
                break;
            }
        }
    }
    drop(batches);
    if let Ok(Err(status)) = call.await {
        tracing::debug!(%status, "log stream ended by the scheduler");
    }
}
