//! The container runner: `docker run` in the foreground, under the same shim
//! and process group as a host process, with exactly the leased GPUs.

use super::JobLimits;
use iomesh_agent_proto::JobSpec;
use std::{collections::BTreeMap, path::Path};

/// The container's name for a lease, so a stop can remove it by name.
pub fn container_name(lease: &str) -> String {
    format!("iomesh-{lease}")
}

/// `docker` arguments that run `spec` on `gpus` within `limits`. Docker
/// parses `--gpus` as CSV, so a list of devices must itself be quoted:
/// `"device=0,1"`.
pub fn docker_run_args(
    lease: &str,
    spec: &JobSpec,
    image: &str,
    gpus: &[u32],
    work: &Path,
    limits: &JobLimits,
    cluster_env: &BTreeMap<String, String>,
) -> Vec<String> {
    let devices = gpus
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut args: Vec<String> = vec![
        "run".into(),
        "--rm".into(),
        "--init".into(),
        "--name".into(),
        container_name(lease),
        "--label".into(),
        format!("io.iomesh.lease={lease}"),
        "--gpus".into(),
        format!("\"device={devices}\""),
        "-v".into(),
        format!("{}:/workspace", work.display()),
        "-w".into(),
        "/workspace".into(),
    ];
    if limits.memory_bytes > 0 {
        args.push("--memory".into());
        args.push(format!("{}b", limits.memory_bytes));
    }
    if limits.max_procs > 0 {
        args.push("--pids-limit".into());
        args.push(limits.max_procs.to_string());
    }
    for (key, value) in &spec.env {
        args.push("-e".into());
        args.push(format!("{key}={value}"));
    }
    for (key, value) in cluster_env {
        args.push("-e".into());
        args.push(format!("{key}={value}"));
    }
    args.push("-e".into());
    args.push(format!("IOMESH_LEASE={lease}"));
    for port in &spec.ports {
        // Published on a host port Docker picks, so leases never collide.
        args.push("-p".into());
        args.push(port.to_string());
    }
    args.push(image.to_string());
    args.extend(spec.command.iter().cloned());
    args
}

/// Whether a `docker` client is on PATH.
pub fn docker_available() -> bool {
    std::process::Command::new("docker")
        .arg("version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Removes the lease's container (best effort: it may already be gone).
pub async fn remove_container(name: &str) {
    let result = tokio::process::Command::new("docker")
        .args(["rm", "-f", name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await;
    if let Err(err) = result {
        tracing::warn!(container = name, %err, "docker rm failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_docker_run_with_exactly_the_leased_gpus() {
        let spec = JobSpec::parse(
            br#"{"image":"pytorch/pytorch:2.4","command":["python","train.py"],"env":{"EPOCHS":"3"},"ports":[8888]}"#,
        )
        .unwrap();
        let args = docker_run_args(
            "LeAse1",
            &spec,
            "pytorch/pytorch:2.4",
            &[2, 5],
            Path::new("/s/w"),
            &JobLimits {
                memory_bytes: 8 << 30,
                max_procs: 4096,
            },
            &BTreeMap::from([("NODE_RANK".to_string(), "1".to_string())]),
        );
        let pos = |flag: &str| args.iter().position(|a| a == flag).unwrap();
        assert_eq!(args[0], "run");
        assert_eq!(args[pos("--gpus") + 1], "\"device=2,5\"");
        assert_eq!(args[pos("--name") + 1], "iomesh-LeAse1");
        assert_eq!(args[pos("-v") + 1], "/s/w:/workspace");
        assert_eq!(args[pos("-p") + 1], "8888");
        assert_eq!(args[pos("--memory") + 1], "8589934592b");
        assert_eq!(args[pos("--pids-limit") + 1], "4096");
        assert!(args.windows(2).any(|w| w == ["-e", "EPOCHS=3"]));
        assert!(args.windows(2).any(|w| w == ["-e", "IOMESH_LEASE=LeAse1"]));
        assert!(args.windows(2).any(|w| w == ["-e", "NODE_RANK=1"]));
        // The image comes after every option, the command after the image.
        assert_eq!(
            &args[args.len() - 3..],
            ["pytorch/pytorch:2.4", "python", "train.py"]
        );
    }

    #[test]
    fn one_gpu_and_no_command_keep_the_image_default() {
        let spec = JobSpec::parse(br#"{"image":"nvidia/cuda:12.4-base"}"#).unwrap();
        let unlimited = JobLimits {
            memory_bytes: 0,
            max_procs: 0,
        };
        let args = docker_run_args(
            "L",
            &spec,
            "nvidia/cuda:12.4-base",
            &[0],
            Path::new("/w"),
            &unlimited,
            &BTreeMap::new(),
        );
        assert!(args.contains(&"\"device=0\"".to_string()));
        assert!(!args.iter().any(|a| a == "--memory" || a == "--pids-limit"));
        assert_eq!(args.last().unwrap(), "nvidia/cuda:12.4-base");
    }
}
