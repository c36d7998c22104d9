//! Appending records to a lease's log, rotating between records so no line
//! is ever cut, and deleting the oldest file when the lease's bound is
//! exceeded. Used by the job's shim.

use super::{log_files, LogLimits, LogRecord, LogStream, CURRENT};
use serde::Serialize;
use std::{
    fs::{File, OpenOptions},
    io::{self, BufRead, BufReader, Write},
    os::unix::fs::DirBuilderExt,
    path::{Path, PathBuf},
};

/// Records gathered before they are written in one go.
const BATCH_BYTES: usize = 64 * 1024;

/// The borrowed form of `LogRecord`, so a line is encoded without a copy.
#[derive(Serialize)]
struct RecordRef<'a> {
    seq: u64,
    t: i64,
    s: LogStream,
    l: &'a str,
}

pub struct LogWriter {
    dir: PathBuf,
    limits: LogLimits,
    file: File,
    /// Bytes of whole records in the live file.
    written: u64,
    /// Encoded records not written yet.
    pending: Vec<u8>,
    next_seq: u64,
    next_generation: u64,
}

impl LogWriter {
    /// Opens the log in `dir` (created, readable by its owner only),
    /// continuing its sequence when an earlier attempt of the lease wrote
    /// one.
    pub fn open(dir: &Path, limits: LogLimits) -> io::Result<Self> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let files = log_files(dir)?;
        let next_generation = files
            .iter()
            .filter_map(|f| f.generation)
            .max()
            .map_or(1, |g| g + 1);
        let current = dir.join(CURRENT);
        let (written, mut last_seq) = whole_records(&current, true)?;
        if last_seq.is_none() {
            if let Some(newest) = files.iter().rev().find(|f| f.generation.is_some()) {
                last_seq = whole_records(&newest.path, false)?.1;
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&current)?;
        Ok(LogWriter {
            dir: dir.to_path_buf(),
            limits,
            file,
            written,
            pending: Vec::with_capacity(BATCH_BYTES),
            next_seq: last_seq.map_or(0, |s| s + 1),
            next_generation,
        })
    }

    /// Adds one record of `line` (which must not contain a newline) and
    /// returns its sequence number. Records are written in batches: call
    /// `flush` before waiting for more.
    pub fn append(&mut self, stream: LogStream, line: &str) -> io::Result<u64> {
        let seq = self.next_seq;
        let start = self.pending.len();
        serde_json::to_writer(
            &mut self.pending,
            &RecordRef {
                seq,
                t: crate::now_ms(),
                s: stream,
                l: line,
            },
        )
        .map_err(io::Error::other)?;
        self.pending.push(b'\n');
        let record = (self.pending.len() - start) as u64;
        let before = self.written + start as u64;
        // Rotate between records: the live file never exceeds its share of
        // the bound unless one record alone does.
        if before > 0 && before + record > self.limits.file_bytes() {
            let this = self.pending.split_off(start);
            self.flush()?;
            self.rotate()?;
            self.pending = this;
        }
        self.next_seq += 1;
        if self.pending.len() >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(seq)
    }

    /// Writes the records gathered so far. On a failed write the live file
    /// is cut back to its last whole record and those records are lost.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let result = self.file.write_all(&self.pending);
        match result {
            Ok(()) => self.written += self.pending.len() as u64,
            Err(_) => {
                let _ = self.file.set_len(self.written);
            }
        }
        self.pending.clear();
        result
    }

    /// The sequence number the next record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Renames the live file to the next generation, starts a new one and
    /// deletes the oldest files beyond the bound.
    fn rotate(&mut self) -> io::Result<()> {
        let rotated = self.dir.join(format!("{}.jsonl", self.next_generation));
        std::fs::rename(self.dir.join(CURRENT), rotated)?;
        self.next_generation += 1;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(CURRENT))?;
        self.written = 0;
        let files = log_files(&self.dir)?;
        let rotated: Vec<_> = files.iter().filter(|f| f.generation.is_some()).collect();
        let keep = self.limits.files.saturating_sub(1) as usize;
        for old in &rotated[..rotated.len().saturating_sub(keep)] {
            match std::fs::remove_file(&old.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

/// The length of `path` up to the end of its last whole line, and the
/// sequence number of its last record. With `repair`, a last line left
/// without its newline (the shim was killed while writing it) is cut off.
fn whole_records(path: &Path, repair: bool) -> io::Result<(u64, Option<u64>)> {
    let file = match File::open(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((0, None)),
        other => other?,
    };
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let (mut whole, mut last_seq) = (0u64, None);
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        whole += n as u64;
        if let Ok(record) = serde_json::from_slice::<LogRecord>(&line) {
            last_seq = Some(record.seq);
        }
    }
    if repair && whole < std::fs::metadata(path)?.len() {
        OpenOptions::new().write(true).open(path)?.set_len(whole)?;
    }
    Ok((whole, last_seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(dir: &Path) -> Vec<LogRecord> {
        let mut all = Vec::new();
        for file in log_files(dir).unwrap() {
            for line in std::fs::read_to_string(&file.path).unwrap().lines() {
                all.push(serde_json::from_str(line).unwrap());
            }
        }
        all
    }

    #[test]
    fn rotates_between_records_and_keeps_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let limits = LogLimits::new(512 * 1024, 4).unwrap();
        let mut log = LogWriter::open(dir.path(), limits).unwrap();
        let line = "x".repeat(1000);
        for _ in 0..2000 {
            log.append(LogStream::Out, &line).unwrap();
        }
        log.flush().unwrap();
        let files = log_files(dir.path()).unwrap();
        assert_eq!(files.len(), 4);
        let total: u64 = files
            .iter()
            .map(|f| std::fs::metadata(&f.path).unwrap().len())
            .sum();
        assert!(total <= limits.max_bytes, "{total} bytes on disk");
        let kept = records(dir.path());
        assert_eq!(kept.last().unwrap().seq, 1999);
        for pair in kept.windows(2) {
            assert_eq!(pair[1].seq, pair[0].seq + 1);
        }
        // The generations count on: 1.. were deleted, the newest kept.
        assert_eq!(files[2].generation, Some(files[0].generation.unwrap() + 2));
    }

    #[test]
    fn a_new_attempt_continues_the_sequence_and_drops_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let limits = LogLimits::new(1 << 20, 2).unwrap();
        let mut log = LogWriter::open(dir.path(), limits).unwrap();
        for i in 0..3 {
            log.append(LogStream::Out, &format!("line {i}")).unwrap();
        }
        log.flush().unwrap();
        drop(log);
        // The shim was killed in the middle of a record.
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.path().join(CURRENT))
            .unwrap();
        file.write_all(br#"{"seq":3,"t":1,"s":"out","l":"cut sh"#)
            .unwrap();
        let mut log = LogWriter::open(dir.path(), limits).unwrap();
        assert_eq!(log.next_seq(), 3);
        log.append(LogStream::Sys, "restarted").unwrap();
        log.flush().unwrap();
        let kept = records(dir.path());
        assert_eq!(kept.len(), 4);
        assert_eq!(kept[3].seq, 3);
        assert_eq!(kept[3].line, "restarted");
    }

    #[test]
    fn continues_after_a_rotated_file_when_the_live_one_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("4.jsonl"),
            "{\"seq\":41,\"t\":1,\"s\":\"out\",\"l\":\"a\"}\n",
        )
        .unwrap();
        let log = LogWriter::open(dir.path(), LogLimits::DEFAULT).unwrap();
        assert_eq!(log.next_seq(), 42);
        assert_eq!(log.next_generation, 5);
    }
}
