//! The scheduler ⇄ agent protocol (`proto/agent.proto`) and the bytes an
//! agent signs to prove it holds a node's operator key; the job spec a
//! renter submits for a lease and the bytes the renter signs for it.

pub mod access;
mod job_spec;
pub mod relay;

pub use job_spec::{
    job_spec_hash, spec_submission_message, JobSpec, JobSpecError, RayRuntimeEnv, RaySpec, Runtime,
    JOB_SPEC_VERSION, MAX_JOB_SPEC_BYTES, RAY_DASHBOARD_PORT, SPEC_DOMAIN, SPEC_SIGNATURE_HEADER,
};

#[allow(clippy::all)]
pub mod v1 {
    tonic::include_proto!("iomesh.agent.v1");
}

/// Largest payload of one tunnel frame: large enough that framing costs
/// little per byte, small enough that a few queued frames stay cheap.
pub const TUNNEL_FRAME_BYTES: usize = 128 * 1024;

/// HTTP/2 flow-control windows of the scheduler ⇄ agent connection. The
/// default 64 KiB stream window caps a tunnel at one window per round trip;
/// these keep a bulk transfer moving while still bounding what one stream
/// can have in flight (and so buffered at a slow reader).
pub const STREAM_WINDOW_BYTES: u32 = 2 * 1024 * 1024;
pub const CONNECTION_WINDOW_BYTES: u32 = 16 * 1024 * 1024;

/// Ports the scheduler hands to one lease on a node, from the agent's job
/// port range (`Capabilities.job_ports_first..=job_ports_last`).
pub const PORT_BLOCK: u16 = 100;

/// Domain separator, so an auth signature can never be mistaken for a
/// Solana transaction or any other message signed by the operator key.
pub const AUTH_DOMAIN: &[u8] = b"iomesh-agent-auth-v1\0";

/// The exact bytes the agent signs with the operator key in answer to a
/// challenge: domain ‖ operator (32) ‖ len(scheduler_id) u16 LE ‖ scheduler_id ‖ nonce.
pub fn auth_message(operator: &[u8; 32], scheduler_id: &str, nonce: &[u8]) -> Vec<u8> {
    let id = &scheduler_id.as_bytes()[..scheduler_id.len().min(u16::MAX as usize)];
    let mut message = Vec::with_capacity(AUTH_DOMAIN.len() + 32 + 2 + id.len() + nonce.len());
    message.extend_from_slice(AUTH_DOMAIN);
    message.extend_from_slice(operator);
    message.extend_from_slice(&(id.len() as u16).to_le_bytes());
    message.extend_from_slice(id);
    message.extend_from_slice(nonce);
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_message_binds_operator_scheduler_and_nonce() {
        let a = auth_message(&[1; 32], "replica-a", b"nonce");
        assert_ne!(a, auth_message(&[2; 32], "replica-a", b"nonce"));
        assert_ne!(a, auth_message(&[1; 32], "replica-b", b"nonce"));
        assert_ne!(a, auth_message(&[1; 32], "replica-a", b"nonce2"));
        // The length prefix keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(
            auth_message(&[1; 32], "ab", b"c"),
            auth_message(&[1; 32], "a", b"bc")
        );
        assert!(a.starts_with(AUTH_DOMAIN));
    }
}
