//! The job spec a renter submits for a lease. The lease stores its sha256
//! (`job_spec_hash`); the scheduler and the agent both check the bytes
//! against it, so the bytes are what matter, not a re-serialisation.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Largest accepted spec, in bytes.
pub const MAX_JOB_SPEC_BYTES: usize = 16 * 1024;

/// The spec format this code writes. Version 1 (no `version` field) had
/// no `runtime`: a spec with an image ran in a container, one without on
/// the host; it still parses, as exactly that.
pub const JOB_SPEC_VERSION: u32 = 2;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Spec format; absent in version 1 specs.
    #[serde(default = "first_version")]
    pub version: u32,
    /// How the job runs; version 2 only. Absent: `container` when an image
    /// is named, else `process`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Runtime>,
    /// Container image; run with Docker when the node has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Program and arguments (inside the image, or on the host without one).
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Ports of the job the renter reaches through the tunnel. A `ray` job's
    /// dashboard and job API is [`RAY_DASHBOARD_PORT`] without listing it.
    #[serde(default)]
    pub ports: Vec<u16>,
    /// What a `ray` job runs on the lease's Ray cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ray: Option<RaySpec>,
}

fn first_version() -> u32 {
    1
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// The command on the node, in the agent's sandbox.
    Process,
    /// The command in the image, with Docker.
    Container,
    /// A Ray cluster over the lease's nodes (one node for a single lease);
    /// the entrypoint is submitted as a Ray job once every node is alive.
    Ray,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Process => "process",
            Runtime::Container => "container",
            Runtime::Ray => "ray",
        }
    }
}

/// The renter's view of a Ray lease's dashboard and job submission API, as
/// Ray numbers it by default; the agent maps it to the lease's own port.
pub const RAY_DASHBOARD_PORT: u16 = 8265;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaySpec {
    /// Shell command submitted as the Ray job (`ray job submit -- …`).
    pub entrypoint: String,
    /// The Ray version the job needs; the node's Ray must be exactly this.
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_env: Option<RayRuntimeEnv>,
}

/// The parts of Ray's `runtime_env` a job may set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RayRuntimeEnv {
    /// Relative to the lease's work directory on the head node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env_vars: BTreeMap<String, String>,
    /// pip requirements installed for the job by Ray.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pip: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JobSpecError {
    #[error("job spec is {0} bytes; the limit is {MAX_JOB_SPEC_BYTES}")]
    TooLarge(usize),
    #[error("job spec is not valid JSON for a job: {0}")]
    Invalid(String),
    #[error("job spec names neither an image nor a command")]
    Empty,
    #[error("job spec version {0} is not supported (this code knows 1 and {JOB_SPEC_VERSION})")]
    Version(u32),
    #[error("job spec field `{0}` needs \"version\": 2")]
    NeedsVersion2(&'static str),
    #[error("a {runtime} job spec {problem}")]
    Shape {
        runtime: &'static str,
        problem: &'static str,
    },
}

impl JobSpec {
    /// Parses and validates spec bytes as submitted.
    pub fn parse(bytes: &[u8]) -> Result<Self, JobSpecError> {
        if bytes.len() > MAX_JOB_SPEC_BYTES {
            return Err(JobSpecError::TooLarge(bytes.len()));
        }
        let spec: JobSpec =
            serde_json::from_slice(bytes).map_err(|e| JobSpecError::Invalid(e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }

    fn validate(&self) -> Result<(), JobSpecError> {
        match self.version {
            1 => {
                if self.runtime.is_some() {
                    return Err(JobSpecError::NeedsVersion2("runtime"));
                }
                if self.ray.is_some() {
                    return Err(JobSpecError::NeedsVersion2("ray"));
                }
                if self.image.is_none() && self.command.is_empty() {
                    return Err(JobSpecError::Empty);
                }
                return Ok(());
            }
            JOB_SPEC_VERSION => {}
            other => return Err(JobSpecError::Version(other)),
        }
        let runtime = self.runtime();
        let shape = |problem| {
            Err(JobSpecError::Shape {
                runtime: runtime.as_str(),
                problem,
            })
        };
        match runtime {
            Runtime::Process if self.command.is_empty() => shape("needs a command"),
            Runtime::Process if self.image.is_some() => {
                shape("takes no image (use \"runtime\": \"container\")")
            }
            Runtime::Container if self.image.is_none() => shape("needs an image"),
            Runtime::Process | Runtime::Container if self.ray.is_some() => {
                shape("takes no `ray` section (use \"runtime\": \"ray\")")
            }
            Runtime::Ray => match &self.ray {
                None => shape("needs a `ray` section with the entrypoint and the Ray version"),
                Some(_) if self.image.is_some() || !self.command.is_empty() => {
                    shape("takes no image or command: Ray runs `ray.entrypoint`")
                }
                Some(ray) if ray.entrypoint.trim().is_empty() => shape("needs `ray.entrypoint`"),
                Some(ray) if !is_version(&ray.version) => shape(
                    "needs `ray.version` as the node's `ray --version` prints it, e.g. 2.60.0",
                ),
                Some(_) => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// How the job runs (for version 1: `container` with an image, else `process`).
    pub fn runtime(&self) -> Runtime {
        self.runtime.unwrap_or(if self.image.is_some() {
            Runtime::Container
        } else {
            Runtime::Process
        })
    }

    /// The Ray version the job needs, for a `ray` job.
    pub fn ray_version(&self) -> Option<&str> {
        match self.runtime() {
            Runtime::Ray => self.ray.as_ref().map(|r| r.version.as_str()),
            _ => None,
        }
    }

    /// Whether the renter may open a tunnel to `port`.
    pub fn exposes(&self, port: u16) -> bool {
        self.ports.contains(&port) || (self.runtime() == Runtime::Ray && port == RAY_DASHBOARD_PORT)
    }
}

/// Digits and dots, like `2.60.0`.
fn is_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 32
        && v.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// sha256 of the spec bytes, as stored in the lease's `job_spec_hash`.
pub fn job_spec_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Domain separator for the renter's signature on a spec submission.
pub const SPEC_DOMAIN: &[u8] = b"iomesh-job-spec-v1\0";

/// The HTTP header carrying that signature (base58) on
/// `POST /v1/leases/{lease}/job-spec`.
pub const SPEC_SIGNATURE_HEADER: &str = "x-iomesh-signature";

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

    #[test]
    fn version_one_specs_parse_as_process_or_container() {
        let process = JobSpec::parse(br#"{"command":["nvidia-smi"]}"#).unwrap();
        assert_eq!((process.version, process.runtime()), (1, Runtime::Process));
        let container = JobSpec::parse(br#"{"image":"x","command":["y"]}"#).unwrap();
        assert_eq!(container.runtime(), Runtime::Container);
        assert_eq!(
            JobSpec::parse(br#"{"runtime":"process","command":["x"]}"#),
            Err(JobSpecError::NeedsVersion2("runtime"))
        );
        assert_eq!(
            JobSpec::parse(br#"{"version":3,"command":["x"]}"#),
            Err(JobSpecError::Version(3))
        );
    }

    #[test]
    fn version_two_checks_each_runtime_shape() {
        let ray = JobSpec::parse(
            br#"{"version":2,"runtime":"ray","ray":{"entrypoint":"python main.py","version":"2.60.0",
                "runtime_env":{"working_dir":".","env_vars":{"A":"1"},"pip":["numpy"]}}}"#,
        )
        .unwrap();
        assert_eq!(ray.ray_version(), Some("2.60.0"));
        assert!(ray.exposes(RAY_DASHBOARD_PORT) && !ray.exposes(8080));
        let bad = |json: &str| JobSpec::parse(json.as_bytes()).unwrap_err().to_string();
        assert!(bad(r#"{"version":2,"runtime":"ray"}"#).contains("needs a `ray` section"));
        assert!(bad(
            r#"{"version":2,"runtime":"ray","ray":{"entrypoint":"x","version":"latest"}}"#
        )
        .contains("ray.version"));
        assert!(bad(r#"{"version":2,"runtime":"ray","command":["x"],"ray":{"entrypoint":"x","version":"2.60.0"}}"#)
            .contains("takes no image or command"));
        assert!(
            bad(r#"{"version":2,"runtime":"container","command":["x"]}"#)
                .contains("needs an image")
        );
        assert!(
            bad(r#"{"version":2,"runtime":"process","image":"x","command":["x"]}"#)
                .contains("takes no image")
        );
        assert!(bad(
            r#"{"version":2,"ray":{"entrypoint":"x","version":"2.60.0"},"command":["x"]}"#
        )
        .contains("takes no `ray` section"));
        assert!(bad(r#"{"version":2,"runtime":"ray","ray":{"entrypoint":"x","version":"2.60.0","runtime_env":{"conda":"x"}}}"#)
            .contains("conda"));
        let v2 = JobSpec::parse(br#"{"version":2,"command":["x"],"ports":[8888]}"#).unwrap();
        assert_eq!((v2.runtime(), v2.ray_version()), (Runtime::Process, None));
        assert!(v2.exposes(8888) && !v2.exposes(RAY_DASHBOARD_PORT));
    }
}
