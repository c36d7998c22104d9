//! A lease's logs, read from its agent over the agent's own connection: the
//! agent keeps them on the node (bounded, rotated) and streams the records
//! asked for on a `Logs` stream, following the job while it runs.

use crate::{rendezvous::OpenError, Shared};
use futures::{stream, Stream, StreamExt};
use iomesh_agent_proto::v1::{
    scheduler_message::Msg as SchedMsg, LogBatch, LogRecord, LogStream, ReadLogs, SchedulerMessage,
};
use serde::Serialize;
use solana_pubkey::Pubkey;
use tonic::Streaming;

/// What the gRPC handler hands over: the records of the agent's first batch,
/// the rest of its stream, and what ends the call once the reader is done
/// with it (dropped with the stream).
pub struct AgentSide {
    pub first: Vec<LogRecord>,
    pub rest: Streaming<LogBatch>,
    pub done: tokio::sync::oneshot::Sender<()>,
}

/// The agent's logs stream, or why it has none to give.
pub type Arrival = Result<AgentSide, OpenError>;

/// Which records a renter asks for.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pub tail: u32,
    pub after_seq: Option<u64>,
    pub since_ms: i64,
    pub follow: bool,
}

/// One log line as the HTTP API sends it (one JSON object per line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Line {
    pub seq: u64,
    /// Unix milliseconds, the node's clock.
    pub t: i64,
    /// "stdout", "stderr" or "system" (what the node says about the job).
    pub stream: &'static str,
    pub line: String,
}

impl From<LogRecord> for Line {
    fn from(record: LogRecord) -> Self {
        let stream = match record.stream() {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
            LogStream::System | LogStream::Unspecified => "system",
        };
        Line {
            seq: record.seq,
            t: record.at_ms,
            stream,
            line: record.line,
        }
    }
}

/// Asks the agent of `node` for `lease`'s records and streams them. Call on
/// the replica holding the node's session.
pub async fn read(
    shared: &Shared,
    node: &Pubkey,
    lease: &Pubkey,
    query: Query,
) -> Result<impl Stream<Item = Result<Line, String>> + Send + 'static, OpenError> {
    let session = shared.sessions.get(node).ok_or(OpenError::Gone)?;
    let waiting = shared.logs.wait();
    let message = SchedulerMessage {
        msg: Some(SchedMsg::ReadLogs(ReadLogs {
            request_id: waiting.id.clone(),
            lease: lease.to_string(),
            tail: query.tail,
            after_seq: query.after_seq,
            since_ms: query.since_ms,
            follow: query.follow,
        })),
    };
    session
        .outbound
        .send(Ok(message))
        .await
        .map_err(|_| OpenError::Gone)?;
    let agent = waiting.arrived().await??;
    let counter = shared.metrics.log_records_total.clone();
    let done = agent.done;
    let first = stream::iter(agent.first.into_iter().map(Ok));
    let rest = agent.rest.flat_map(|batch| {
        stream::iter(match batch {
            Ok(batch) if !batch.error.is_empty() => vec![Err(batch.error)],
            Ok(batch) => batch.records.into_iter().map(Ok).collect(),
            Err(status) => vec![Err(format!(
                "the node stopped sending logs: {}",
                status.message()
            ))],
        })
    });
    Ok(first.chain(rest).map(move |record| {
        // Held by the stream: the agent's call ends when the reader drops it.
        let _call = &done;
        record.map(|r| {
            counter.inc();
            Line::from(r)
        })
    }))
}
