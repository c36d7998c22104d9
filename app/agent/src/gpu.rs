//! GPU detection: an override listing the GPUs (also how the demo simulates
//! GPUs on machines without any), else NVML when the driver's library is
//! installed, else `nvidia-smi`. NVML is loaded at run time, not linked, so
//! the agent needs no native library to build or start.

mod nvml;

pub use nvml::{query_nvml, query_nvml_library, NVML_LIBRARY};

use iomesh_agent_proto::v1;
use serde::{Deserialize, Serialize};
use std::{fmt, path::Path, process::Command};

/// One GPU as the agent reports it to the scheduler and to `iomesh node register`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gpu {
    /// Device index as `CUDA_VISIBLE_DEVICES` counts it.
    pub index: u32,
    pub uuid: String,
    pub model: String,
    pub vram_mib: u64,
}

impl Gpu {
    pub fn to_proto(&self) -> v1::Gpu {
        v1::Gpu {
            index: self.index,
            model: self.model.clone(),
            vram_mib: self.vram_mib,
            uuid: self.uuid.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GpuError {
    #[error("nvidia-smi line {line}: {detail} (got `{text}`; expected `index, uuid, name, memory.total`)")]
    NvidiaSmi {
        line: usize,
        text: String,
        detail: String,
    },
    #[error("nvidia-smi failed: {0}")]
    NvidiaSmiFailed(String),
    #[error(
        "NVML {call} failed{}: {detail} (the NVIDIA driver's library is installed but cannot list the GPUs: is the driver loaded and of the same version? `nvidia-smi` shows the same error)",
        device.map(|i| format!(" for GPU {i}")).unwrap_or_default()
    )]
    Nvml {
        call: &'static str,
        device: Option<u32>,
        detail: String,
    },
    #[error(
        "GPU override `{spec}`: {detail} (expected COUNTxMODEL:VRAM_MIB, e.g. `4xRTX 4090:24576`)"
    )]
    Override { spec: String, detail: String },
    #[error("GPU file {path}: {detail}")]
    File { path: String, detail: String },
    #[error("GPU index {0} is listed twice")]
    DuplicateIndex(u32),
}

/// The arguments the agent runs `nvidia-smi` with.
pub const NVIDIA_SMI_ARGS: [&str; 2] = [
    "--query-gpu=index,uuid,name,memory.total",
    "--format=csv,noheader,nounits",
];

/// Parses `nvidia-smi --query-gpu=index,uuid,name,memory.total
/// --format=csv,noheader,nounits` output: one `0, GPU-…, NVIDIA …, 24564`
/// line per GPU. Names may contain commas, so the name is everything between
/// the uuid and the last field.
pub fn parse_nvidia_smi(output: &str) -> Result<Vec<Gpu>, GpuError> {
    let mut gpus = Vec::new();
    for (n, raw) in output.lines().enumerate() {
        let text = raw.trim();
        if text.is_empty() {
            continue;
        }
        let error = |detail: &str| GpuError::NvidiaSmi {
            line: n + 1,
            text: text.to_string(),
            detail: detail.to_string(),
        };
        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
        if fields.len() < 4 {
            return Err(error("fewer than 4 fields"));
        }
        let index = fields[0]
            .parse()
            .map_err(|_| error("the index is not a number"))?;
        let uuid = fields[1];
        if uuid.is_empty() {
            return Err(error("the uuid is empty"));
        }
        let vram_mib = fields[fields.len() - 1]
            .parse()
            .map_err(|_| error("memory.total is not a number of MiB"))?;
        let model = fields[2..fields.len() - 1].join(", ");
        gpus.push(Gpu {
            index,
            uuid: uuid.to_string(),
            model,
            vram_mib,
        });
    }
    check_unique(&gpus)?;
    Ok(gpus)
}

/// Parses an override `COUNTxMODEL:VRAM_MIB` into simulated GPUs 0..COUNT.
pub fn parse_override(spec: &str) -> Result<Vec<Gpu>, GpuError> {
    let error = |detail: &str| GpuError::Override {
        spec: spec.to_string(),
        detail: detail.to_string(),
    };
    let (count, rest) = spec.split_once('x').ok_or_else(|| error("no `x`"))?;
    let count: u32 = count
        .trim()
        .parse()
        .map_err(|_| error("the count is not a number"))?;
    if count == 0 || count > 64 {
        return Err(error("the count must be between 1 and 64"));
    }
    let (model, vram) = rest
        .rsplit_once(':')
        .ok_or_else(|| error("no `:VRAM_MIB`"))?;
    let model = model.trim();
    if model.is_empty() {
        return Err(error("the model is empty"));
    }
    let vram_mib = vram
        .trim()
        .parse()
        .map_err(|_| error("VRAM_MIB is not a number"))?;
    Ok((0..count)
        .map(|index| Gpu {
            index,
            uuid: format!("SIM-{index}"),
            model: model.to_string(),
            vram_mib,
        })
        .collect())
}

/// Reads a JSON array of GPUs (the output of `iomesh-agent gpus --json`).
pub fn read_gpu_file(path: &Path) -> Result<Vec<Gpu>, GpuError> {
    let error = |detail: String| GpuError::File {
        path: path.display().to_string(),
        detail,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let gpus: Vec<Gpu> = serde_json::from_str(&text).map_err(|e| error(e.to_string()))?;
    check_unique(&gpus)?;
    Ok(gpus)
}

/// Runs `nvidia-smi`; `Ok(None)` when it is not installed.
pub fn query_nvidia_smi() -> Result<Option<Vec<Gpu>>, GpuError> {
    match Command::new("nvidia-smi").args(NVIDIA_SMI_ARGS).output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(GpuError::NvidiaSmiFailed(e.to_string())),
        Ok(out) if !out.status.success() => Err(GpuError::NvidiaSmiFailed(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
        Ok(out) => parse_nvidia_smi(&String::from_utf8_lossy(&out.stdout)).map(Some),
    }
}

/// Where the GPUs come from, in order of precedence.
#[derive(Clone, Debug, Default)]
pub struct GpuSource {
    pub file: Option<std::path::PathBuf>,
    pub inline: Option<String>,
}

/// Where `detect` found the GPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detected {
    File,
    Inline,
    Nvml,
    NvidiaSmi,
    /// Neither NVML nor `nvidia-smi` is installed.
    Nothing,
}

impl fmt::Display for Detected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Detected::File => "--gpus-file",
            Detected::Inline => "--gpus",
            Detected::Nvml => "NVML",
            Detected::NvidiaSmi => "nvidia-smi",
            Detected::Nothing => "none (neither NVML nor nvidia-smi is installed)",
        })
    }
}

/// The GPUs of this machine: the override when given, else NVML, else
/// `nvidia-smi`, else none. Logs which source answered.
pub fn detect(source: &GpuSource) -> Result<Vec<Gpu>, GpuError> {
    let (gpus, detected) = detect_with_source(source)?;
    tracing::info!(source = %detected, gpus = gpus.len(), "GPUs detected");
    Ok(gpus)
}

/// [`detect`] without the log, also saying which source answered.
pub fn detect_with_source(source: &GpuSource) -> Result<(Vec<Gpu>, Detected), GpuError> {
    if let Some(path) = &source.file {
        return Ok((read_gpu_file(path)?, Detected::File));
    }
    if let Some(spec) = &source.inline {
        return Ok((parse_override(spec)?, Detected::Inline));
    }
    if let Some(gpus) = query_nvml()? {
        return Ok((gpus, Detected::Nvml));
    }
    if let Some(gpus) = query_nvidia_smi()? {
        return Ok((gpus, Detected::NvidiaSmi));
    }
    Ok((Vec::new(), Detected::Nothing))
}

fn check_unique(gpus: &[Gpu]) -> Result<(), GpuError> {
    let mut seen = std::collections::BTreeSet::new();
    for gpu in gpus {
        if !seen.insert(gpu.index) {
            return Err(GpuError::DuplicateIndex(gpu.index));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real output of a two-GPU box and of an 8x A100 SXM node.
    const TWO_4090: &str = "0, GPU-8f6a1c2e-4b1d-2f3a-9c1e-0d5b7a9e3f21, NVIDIA GeForce RTX 4090, 24564\n\
                            1, GPU-1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809, NVIDIA GeForce RTX 4090, 24564\n";
    const A100: &str = "0, GPU-3f7c2c1a-aaaa-bbbb-cccc-000000000000, NVIDIA A100-SXM4-80GB, 81920\r\n\
                        7, GPU-3f7c2c1a-aaaa-bbbb-cccc-000000000007, NVIDIA A100-SXM4-80GB, 81920\r\n";

    #[test]
    fn parses_nvidia_smi_csv() {
        let gpus = parse_nvidia_smi(TWO_4090).unwrap();
        assert_eq!(
            gpus[1],
            Gpu {
                index: 1,
                uuid: "GPU-1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809".into(),
                model: "NVIDIA GeForce RTX 4090".into(),
                vram_mib: 24564,
            }
        );
        let a100 = parse_nvidia_smi(A100).unwrap();
        assert_eq!(a100.iter().map(|g| g.index).collect::<Vec<_>>(), vec![0, 7]);
        assert_eq!(a100[0].model, "NVIDIA A100-SXM4-80GB");
        assert!(parse_nvidia_smi("\n").unwrap().is_empty());
    }

    #[test]
    fn keeps_commas_inside_the_name() {
        let gpus = parse_nvidia_smi("0, GPU-x, Tesla V100, PCIe, 16160").unwrap();
        assert_eq!(gpus[0].model, "Tesla V100, PCIe");
        assert_eq!(gpus[0].vram_mib, 16160);
    }

    #[test]
    fn rejects_malformed_nvidia_smi_lines() {
        let err = parse_nvidia_smi("0, GPU-x, NVIDIA T4, [N/A]").unwrap_err();
        assert!(err.to_string().contains("memory.total"), "{err}");
        assert!(matches!(
            parse_nvidia_smi("No devices were found"),
            Err(GpuError::NvidiaSmi { line: 1, .. })
        ));
        assert_eq!(
            parse_nvidia_smi("0, a, T4, 1\n0, b, T4, 1"),
            Err(GpuError::DuplicateIndex(0))
        );
    }

    #[test]
    fn parses_overrides() {
        let gpus = parse_override("4xRTX 4090:24576").unwrap();
        assert_eq!(gpus.len(), 4);
        assert_eq!(gpus[3].index, 3);
        assert_eq!(gpus[3].model, "RTX 4090");
        assert_eq!(gpus[3].vram_mib, 24576);
        for bad in ["RTX 4090:24576", "0xT4:1", "2xT4", "2x:1", "2xT4:lots"] {
            assert!(parse_override(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn gpu_file_round_trips_the_json_listing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gpus.json");
        let gpus = parse_nvidia_smi(TWO_4090).unwrap();
        std::fs::write(&path, serde_json::to_string(&gpus).unwrap()).unwrap();
        assert_eq!(read_gpu_file(&path).unwrap(), gpus);
        std::fs::write(&path, "{").unwrap();
        assert!(read_gpu_file(&path).is_err());
    }

    #[test]
    fn overrides_come_before_detection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gpus.json");
        let listed = parse_nvidia_smi(TWO_4090).unwrap();
        std::fs::write(&path, serde_json::to_string(&listed).unwrap()).unwrap();
        let both = GpuSource {
            file: Some(path),
            inline: Some("1xT4:15360".into()),
        };
        assert_eq!(detect_with_source(&both).unwrap(), (listed, Detected::File));
        let inline = GpuSource {
            file: None,
            inline: Some("1xT4:15360".into()),
        };
        let (gpus, detected) = detect_with_source(&inline).unwrap();
        assert_eq!((gpus.len(), detected), (1, Detected::Inline));
    }

    #[test]
    fn a_machine_without_nvidia_software_detects_no_gpus() {
        // Where neither the kernel driver nor nvidia-smi is installed (this
        // test machine), NVML is absent and nvidia-smi too: no GPUs, no error.
        let nvidia_smi_installed = !matches!(
            Command::new("nvidia-smi").arg("--help").output(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound
        );
        if Path::new("/proc/driver/nvidia").exists() || nvidia_smi_installed {
            eprintln!("skipped: this machine has NVIDIA software");
            return;
        }
        assert_eq!(
            detect_with_source(&GpuSource::default()).unwrap(),
            (Vec::new(), Detected::Nothing)
        );
    }
}
