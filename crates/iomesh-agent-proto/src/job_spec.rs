//! The job spec a renter submits for a lease. The lease stores its sha256
//! (`job_spec_hash`); the scheduler and the agent both check the bytes
//! against it, so the bytes are what matter, not a re-serialisation.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Largest accepted spec, in bytes.
pub const MAX_JOB_SPEC_BYTES: usize = 16 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Container image; run with Docker when the node has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Program and arguments (inside the image, or on the host without one).
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Container ports to expose.
    #[serde(default)]
    pub ports: Vec<u16>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JobSpecError {
    #[error("job spec is {0} bytes; the limit is {MAX_JOB_SPEC_BYTES}")]
    TooLarge(usize),
    #[error("job spec is not valid JSON for a job: {0}")]
    Invalid(String),
    #[error("job spec names neither an image nor a command")]
    Empty,
}

impl JobSpec {
    /// Parses and validates spec bytes as submitted.
    pub fn parse(bytes: &[u8]) -> Result<Self, JobSpecError> {
        if bytes.len() > MAX_JOB_SPEC_BYTES {
            return Err(JobSpecError::TooLarge(bytes.len()));
        }
        let spec: JobSpec =
            serde_json::from_slice(bytes).map_err(|e| JobSpecError::Invalid(e.to_string()))?;
        if spec.image.is_none() && spec.command.is_empty() {
            return Err(JobSpecError::Empty);
        }
        Ok(spec)
    }
}

/// sha256 of the spec bytes, as stored in the lease's `job_spec_hash`.
pub fn job_spec_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Domain separator for the renter's signature on a spec submission.
pub const SPEC_DOMAIN: &[u8] = b"iomesh-job-spec-v1\0";

/// The bytes the renter signs to submit a spec for a lease:
/// domain ‖ lease (32) ‖ sha256(spec).
pub fn spec_submission_message(lease: &[u8; 32], spec_hash: &[u8; 32]) -> Vec<u8> {
    [SPEC_DOMAIN, lease.as_slice(), spec_hash.as_slice()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_validates_size_shape_and_content() {
        let ok = br#"{"command":["python","train.py"],"env":{"EPOCHS":"3"}}"#;
        let spec = JobSpec::parse(ok).unwrap();
        assert_eq!(spec.command, vec!["python", "train.py"]);
        assert_eq!(spec.env["EPOCHS"], "3");
        assert_eq!(JobSpec::parse(b"{}"), Err(JobSpecError::Empty));
        assert!(matches!(
            JobSpec::parse(br#"{"command":["x"],"gpus":2}"#),
            Err(JobSpecError::Invalid(m)) if m.contains("gpus")
        ));
        let big = vec![b' '; MAX_JOB_SPEC_BYTES + 1];
        assert_eq!(
            JobSpec::parse(&big),
            Err(JobSpecError::TooLarge(MAX_JOB_SPEC_BYTES + 1))
        );
        assert_ne!(job_spec_hash(ok), job_spec_hash(b"{}"));
    }
}
