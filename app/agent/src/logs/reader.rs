//! Reading a lease's log: the last records, the records since a point, or
//! following it while the job runs. Rotated files never change, so a reader
//! that finishes one moves on to the file holding the next sequence number;
//! records deleted by rotation show as a gap in the sequence numbers.

use super::{log_files, LogRecord, CURRENT};
use crate::runner::{proc, state::LeaseDir};
use std::{
    collections::VecDeque,
    fs::File,
    io::{self, BufRead, BufReader},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    time::Duration,
};
use tokio_stream::wrappers::ReceiverStream;

/// How often a follower looks for new records.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// A line longer than this is not a record (records are far smaller): it
/// is skipped rather than held.
const MAX_RECORD_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("no job of this lease ran on this node ({0} does not exist)")]
    NotFound(PathBuf),
    #[error(
        "the lease's logs were deleted at unix ms {deleted_at_ms}, after the retention \
         period that follows the end of its job"
    )]
    Deleted { deleted_at_ms: i64 },
    #[error("reading the lease's logs: {0}")]
    Io(#[from] io::Error),
}

/// Where reading starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    /// After this sequence number (the last one seen before a reconnect).
    Seq(u64),
    /// At or after this unix millisecond.
    TimeMs(i64),
}

/// A lease's log, for reading.
#[derive(Clone, Debug)]
pub struct LogReader {
    lease: LeaseDir,
}

impl LogReader {
    /// The log of the lease whose directory is `lease_dir`
    /// (`Jobs::lease_dir(lease).root()`).
    pub fn open(lease_dir: &Path) -> Result<Self, LogError> {
        let lease = LeaseDir::at(lease_dir);
        if let Some(deleted_at_ms) = lease.deleted_at_ms() {
            return Err(LogError::Deleted { deleted_at_ms });
        }
        if !lease_dir.is_dir() {
            return Err(LogError::NotFound(lease_dir.to_path_buf()));
        }
        Ok(LogReader { lease })
    }

    /// The records written so far: those after `since` (all without it),
    /// of which only the last `tail` when given. Reads files: blocking.
    pub fn read(
        &self,
        tail: Option<usize>,
        since: Option<Since>,
    ) -> Result<Vec<LogRecord>, LogError> {
        let from_seq = match since {
            Some(Since::Seq(seq)) => seq.saturating_add(1),
            _ => 0,
        };
        let mut cursor = Cursor::new(self.lease.logs(), from_seq);
        let mut records = VecDeque::new();
        while let Some(record) = cursor.next()? {
            if matches!(since, Some(Since::TimeMs(t)) if record.time_ms < t) {
                continue;
            }
            records.push_back(record);
            if tail.is_some_and(|n| records.len() > n) {
                records.pop_front();
            }
        }
        Ok(records.into())
    }

    /// Every record from `from_seq` on, as they are written, ending once the
    /// job's shim has exited and everything it wrote was read. Needs a tokio
    /// runtime; dropping the stream stops the follower.
    pub fn follow(&self, from_seq: u64) -> ReceiverStream<io::Result<LogRecord>> {
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let lease = self.lease.clone();
        tokio::spawn(async move {
            let mut cursor = Cursor::new(lease.logs(), from_seq);
            loop {
                match cursor.next() {
                    Ok(Some(record)) => {
                        if tx.send(Ok(record)).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) if job_ended(&lease) => {
                        // The shim writes its last record before it exits:
                        // one more pass reads everything.
                        loop {
                            let item = match cursor.next() {
                                Ok(Some(record)) => Ok(record),
                                Ok(None) => return,
                                Err(e) => Err(e),
                            };
                            let stop = item.is_err();
                            if tx.send(item).await.is_err() || stop {
                                return;
                            }
                        }
                    }
                    Ok(None) => tokio::select! {
                        _ = tokio::time::sleep(FOLLOW_POLL) => {}
                        _ = tx.closed() => return,
                    },
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
            }
        });
        ReceiverStream::new(rx)
    }

    /// Whether the lease's job has ended (its shim exited or is gone).
    pub fn job_ended(&self) -> bool {
        job_ended(&self.lease)
    }
}

/// The shim records the exit code after its last log record; a shim that
/// was killed records nothing, so its process is checked too.
fn job_ended(lease: &LeaseDir) -> bool {
    if lease.exit_code_file().exists() {
        return true;
    }
    match lease.load() {
        Ok(record) => !proc::is_alive(record.pid, record.start_ticks),
        Err(_) => true,
    }
}

/// (device, inode) of a file: what stays the same when it is renamed.
type FileId = (u64, u64);

fn file_id(meta: &std::fs::Metadata) -> FileId {
    (meta.dev(), meta.ino())
}

/// A position in a lease's log: the next sequence number wanted and the
/// file it is read from.
struct Cursor {
    dir: PathBuf,
    next_seq: u64,
    open: Option<OpenLog>,
}

struct OpenLog {
    reader: BufReader<File>,
    id: FileId,
    /// A line read without its newline yet (being written).
    partial: Vec<u8>,
}

enum Line {
    Whole(Vec<u8>),
    End,
}

impl OpenLog {
    fn open(path: &Path) -> io::Result<Option<OpenLog>> {
        let file = match File::open(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            other => other?,
        };
        let id = file_id(&file.metadata()?);
        Ok(Some(OpenLog {
            reader: BufReader::new(file),
            id,
            partial: Vec::new(),
        }))
    }

    fn next_line(&mut self) -> io::Result<Line> {
        loop {
            let available = self.reader.fill_buf()?;
            if available.is_empty() {
                return Ok(Line::End);
            }
            match available.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    let oversized = self.partial.len() > MAX_RECORD_BYTES;
                    self.partial.extend_from_slice(&available[..end]);
                    self.reader.consume(end + 1);
                    let line = std::mem::take(&mut self.partial);
                    if !oversized {
                        return Ok(Line::Whole(line));
                    }
                }
                None => {
                    let n = available.len();
                    if self.partial.len() <= MAX_RECORD_BYTES {
                        self.partial.extend_from_slice(available);
                    }
                    self.reader.consume(n);
                }
            }
        }
    }

    /// The sequence number of the file's first record, the reader left at
    /// the start.
    fn first_seq(&mut self) -> io::Result<Option<u64>> {
        use std::io::Seek;
        let first = loop {
            match self.next_line()? {
                Line::End => break None,
                Line::Whole(line) => {
                    if let Ok(record) = serde_json::from_slice::<LogRecord>(&line) {
                        break Some(record.seq);
                    }
                }
            }
        };
        self.reader.rewind()?;
        self.partial.clear();
        Ok(first)
    }
}

impl Cursor {
    fn new(dir: PathBuf, from_seq: u64) -> Self {
        Cursor {
            dir,
            next_seq: from_seq,
            open: None,
        }
    }

    /// The next record written so far, or `None` when everything written
    /// has been read.
    fn next(&mut self) -> io::Result<Option<LogRecord>> {
        loop {
            if self.open.is_none() {
                self.open = self.locate()?;
                if self.open.is_none() {
                    return Ok(None);
                }
            }
            let open = self.open.as_mut().expect("a file is open");
            match open.next_line()? {
                Line::Whole(line) => match serde_json::from_slice::<LogRecord>(&line) {
                    Ok(record) if record.seq >= self.next_seq => {
                        self.next_seq = record.seq + 1;
                        return Ok(Some(record));
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!(dir = %self.dir.display(), %err, "skipping a log line that is not a record")
                    }
                },
                Line::End => {
                    // The live file may still grow; a rotated one is
                    // complete, and the next record is in a newer file.
                    let finished = open.id;
                    let live = std::fs::metadata(self.dir.join(CURRENT))
                        .ok()
                        .map(|m| file_id(&m));
                    if live == Some(finished) {
                        return Ok(None);
                    }
                    match self.locate()? {
                        Some(next) if next.id != finished => self.open = Some(next),
                        // Nothing newer yet (the new live file is empty).
                        _ => return Ok(None),
                    }
                }
            }
        }
    }

    /// Opens the file holding `next_seq`: the newest whose first record is
    /// not after it, or the oldest kept when rotation deleted it (a gap).
    fn locate(&self) -> io::Result<Option<OpenLog>> {
        // A rotation between listing and opening shows as a live file that
        // is not the one listed: list again.
        for _ in 0..5 {
            let mut chosen: Option<OpenLog> = None;
            let mut live_id = None;
            for file in log_files(&self.dir)? {
                let Some(mut open) = OpenLog::open(&file.path)? else {
                    continue;
                };
                if file.generation.is_none() {
                    live_id = Some(open.id);
                }
                match open.first_seq()? {
                    Some(first) if first <= self.next_seq => chosen = Some(open),
                    Some(_) => {
                        if chosen.is_none() {
                            chosen = Some(open);
                        }
                        break;
                    }
                    None => {}
                }
            }
            let live_now = std::fs::metadata(self.dir.join(CURRENT))
                .ok()
                .map(|m| file_id(&m));
            if live_id.is_none() || live_id == live_now {
                return Ok(chosen);
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::{LogLimits, LogStream, LogWriter};

    fn lease_with_log(lines: usize, limits: LogLimits) -> (tempfile::TempDir, LogReader) {
        let dir = tempfile::tempdir().unwrap();
        let lease = LeaseDir::at(dir.path());
        let mut log = LogWriter::open(&lease.logs(), limits).unwrap();
        for i in 0..lines {
            log.append(LogStream::Out, &format!("{i:06} {}", "y".repeat(200)))
                .unwrap();
        }
        log.flush().unwrap();
        let reader = LogReader::open(dir.path()).unwrap();
        (dir, reader)
    }

    #[test]
    fn reads_the_tail_and_resumes_after_a_sequence_number() {
        let (_dir, log) = lease_with_log(2000, LogLimits::new(1 << 20, 4).unwrap());
        let all = log.read(None, None).unwrap();
        assert_eq!(all.len(), 2000);
        let tail = log.read(Some(3), None).unwrap();
        assert_eq!(
            tail.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [1997, 1998, 1999]
        );
        let after = log.read(None, Some(Since::Seq(1500))).unwrap();
        assert_eq!(after.first().unwrap().seq, 1501);
        assert_eq!(after.len(), 499);
        let since_time = log
            .read(None, Some(Since::TimeMs(all[1999].time_ms + 1)))
            .unwrap();
        assert!(since_time.is_empty());
    }

    #[test]
    fn rotated_away_records_show_as_a_gap() {
        // 3000 records of ~250 bytes over 4 files of 128 KiB: the first
        // ones are gone.
        let (_dir, log) = lease_with_log(3000, LogLimits::new(512 * 1024, 4).unwrap());
        let all = log.read(None, None).unwrap();
        let first = all[0].seq;
        assert!(first > 0);
        assert_eq!(all.last().unwrap().seq, 2999);
        assert_eq!(all.len() as u64, 3000 - first);
        let from_start = log.read(None, Some(Since::Seq(0))).unwrap();
        assert_eq!(from_start[0].seq, first);
    }

    #[test]
    fn deleted_and_missing_leases_say_so() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            LogReader::open(&dir.path().join("nope")),
            Err(LogError::NotFound(_))
        ));
        let lease = LeaseDir::at(&dir.path().join("gone"));
        std::fs::create_dir_all(lease.root()).unwrap();
        lease.mark_deleted(1234).unwrap();
        let err = LogReader::open(lease.root()).unwrap_err();
        assert!(matches!(
            err,
            LogError::Deleted {
                deleted_at_ms: 1234
            }
        ));
        assert!(err.to_string().contains("deleted"), "{err}");
    }
}
