//! A job's log: its output lines and the shim's own notes as JSON lines in
//! `<lease>/logs/`, written by the job's shim (`writer`) and read by the
//! agent (`reader`). The live file is `current.jsonl`; when it is full it is
//! renamed `<n>.jsonl` (n counting up from 1) and a new one started; the
//! oldest files are deleted so the directory stays within `LogLimits`.

pub mod reader;
pub mod writer;

pub use reader::{LogError, LogReader, Since};
pub use writer::LogWriter;

use serde::{Deserialize, Serialize};
use std::{
    io,
    path::{Path, PathBuf},
};

/// The file the shim appends to.
pub const CURRENT: &str = "current.jsonl";

/// Longest line text in one record, in bytes; a longer line is split into
/// several records so neither the shim nor a reader ever holds it whole.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Smallest size of one log file: room for many of the largest records.
pub const MIN_FILE_BYTES: u64 = 128 * 1024;

/// Where a record's text came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// The job's stdout.
    Out,
    /// The job's stderr.
    Err,
    /// The shim: the job started, a stop signal arrived, how it ended.
    Sys,
}

/// One line of a job's log, as stored: `{"seq":N,"t":MS,"s":"out","l":"…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Position in the lease's log: 0 for the first record, one more for
    /// each next one, across rotations and across attempts of the lease.
    pub seq: u64,
    /// Unix milliseconds at which the shim wrote it.
    #[serde(rename = "t")]
    pub time_ms: i64,
    #[serde(rename = "s")]
    pub stream: LogStream,
    /// The line without its newline (or one piece of a longer line), UTF-8
    /// with invalid bytes replaced by U+FFFD.
    #[serde(rename = "l")]
    pub line: String,
}

/// How much log a lease may keep on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogLimits {
    /// All of the lease's log files together, in bytes.
    pub max_bytes: u64,
    /// How many files (the live one included) share `max_bytes`.
    pub files: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LogLimitsError {
    #[error("--log-files must be at least 1")]
    NoFiles,
    #[error(
        "--log-max-bytes {max_bytes} over {files} files leaves {per_file} bytes per file; \
         each needs at least {MIN_FILE_BYTES} (raise --log-max-bytes or lower --log-files)"
    )]
    TooSmall {
        max_bytes: u64,
        files: u32,
        per_file: u64,
    },
}

impl LogLimits {
    /// 64 MiB in 4 files.
    pub const DEFAULT: LogLimits = LogLimits {
        max_bytes: 64 * 1024 * 1024,
        files: 4,
    };

    pub fn new(max_bytes: u64, files: u32) -> Result<Self, LogLimitsError> {
        if files == 0 {
            return Err(LogLimitsError::NoFiles);
        }
        let limits = LogLimits { max_bytes, files };
        if limits.file_bytes() < MIN_FILE_BYTES {
            return Err(LogLimitsError::TooSmall {
                max_bytes,
                files,
                per_file: limits.file_bytes(),
            });
        }
        Ok(limits)
    }

    /// The size at which the live file is rotated.
    pub fn file_bytes(&self) -> u64 {
        self.max_bytes / u64::from(self.files.max(1))
    }
}

/// One of the lease's log files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogFile {
    pub path: PathBuf,
    /// Its rotation number; `None` for the live file.
    pub generation: Option<u64>,
}

/// The lease's log files, oldest first, the live file (if any) last.
pub(crate) fn log_files(dir: &Path) -> io::Result<Vec<LogFile>> {
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other?,
    };
    let mut rotated = Vec::new();
    let mut current = None;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == CURRENT {
            current = Some(LogFile {
                path: entry.path(),
                generation: None,
            });
        } else if let Some(n) = name
            .strip_suffix(".jsonl")
            .and_then(|n| n.parse::<u64>().ok())
        {
            rotated.push(LogFile {
                path: entry.path(),
                generation: Some(n),
            });
        }
    }
    rotated.sort_by_key(|f| f.generation);
    rotated.extend(current);
    Ok(rotated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_have_the_documented_shape() {
        let record = LogRecord {
            seq: 7,
            time_ms: 1_700_000_000_123,
            stream: LogStream::Err,
            line: "näive \"quoted\"".into(),
        };
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(
            json,
            r#"{"seq":7,"t":1700000000123,"s":"err","l":"näive \"quoted\""}"#
        );
        assert_eq!(serde_json::from_str::<LogRecord>(&json).unwrap(), record);
    }

    #[test]
    fn limits_leave_room_for_whole_records() {
        assert_eq!(LogLimits::new(1 << 20, 4).unwrap().file_bytes(), 256 * 1024);
        assert_eq!(LogLimits::new(1 << 20, 0), Err(LogLimitsError::NoFiles));
        assert!(matches!(
            LogLimits::new(1 << 20, 16),
            Err(LogLimitsError::TooSmall { .. })
        ));
        assert!(LogLimits::new(LogLimits::DEFAULT.max_bytes, LogLimits::DEFAULT.files).is_ok());
    }

    #[test]
    fn lists_rotated_files_in_order_then_the_live_one() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["10.jsonl", CURRENT, "9.jsonl", "notes.txt", "x.jsonl"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let generations: Vec<Option<u64>> = log_files(dir.path())
            .unwrap()
            .into_iter()
            .map(|f| f.generation)
            .collect();
        assert_eq!(generations, vec![Some(9), Some(10), None]);
        assert!(log_files(&dir.path().join("missing")).unwrap().is_empty());
    }
}
