//! GPU detection through NVML, the NVIDIA Management Library.
//!
//! The library is opened at run time (dlopen through `nvml-wrapper`), never
//! linked, so the agent builds and starts on machines without NVIDIA drivers:
//! there NVML is simply absent and detection moves on to `nvidia-smi`.

use super::{check_unique, Gpu, GpuError};
use nvml_wrapper::{error::NvmlError, Nvml};
use std::ffi::OsStr;

/// The name the driver installs NVML under. The unversioned
/// `libnvidia-ml.so` comes only with development packages, and containers
/// given GPUs by the NVIDIA container toolkit get only `.so.1`.
pub const NVML_LIBRARY: &str = "libnvidia-ml.so.1";

const BYTES_PER_MIB: u64 = 1024 * 1024;

/// The GPUs NVML lists. `Ok(None)` when no usable NVML can be loaded (no
/// driver installed, or one older than the calls used here); `Err` when
/// NVML loads but fails, e.g. the kernel driver is not running.
pub fn query_nvml() -> Result<Option<Vec<Gpu>>, GpuError> {
    query_nvml_library(OsStr::new(NVML_LIBRARY))
}

/// [`query_nvml`] with the library named or located by `library` (a bare
/// name is searched like dlopen does, a path is opened as is).
pub fn query_nvml_library(library: &OsStr) -> Result<Option<Vec<Gpu>>, GpuError> {
    match list_gpus(library) {
        Ok(gpus) => {
            check_unique(&gpus)?;
            Ok(Some(gpus))
        }
        Err(Failure::Unavailable(reason)) => {
            tracing::debug!(%reason, "NVML is not available");
            Ok(None)
        }
        Err(Failure::Failed(error)) => Err(error),
    }
}

/// Why NVML gave no GPUs.
#[derive(Debug)]
enum Failure {
    /// No usable NVML here: the library is missing, is not a loadable
    /// library, or lacks a function this module calls.
    Unavailable(String),
    /// NVML loaded but one of its calls failed.
    Failed(GpuError),
}

fn list_gpus(library: &OsStr) -> Result<Vec<Gpu>, Failure> {
    let on = |call: &'static str, device: Option<u32>| {
        move |error: NvmlError| classify(library, call, device, error)
    };
    let nvml = Nvml::builder()
        .lib_path(library)
        .init()
        .map_err(on("nvmlInit_v2", None))?;
    let count = nvml
        .device_count()
        .map_err(on("nvmlDeviceGetCount_v2", None))?;
    let mut gpus = Vec::with_capacity(count as usize);
    for index in 0..count {
        let device = nvml
            .device_by_index(index)
            .map_err(on("nvmlDeviceGetHandleByIndex_v2", Some(index)))?;
        let uuid = device
            .uuid()
            .map_err(on("nvmlDeviceGetUUID", Some(index)))?;
        let name = device
            .name()
            .map_err(on("nvmlDeviceGetName", Some(index)))?;
        let memory = device
            .memory_info()
            .map_err(on("nvmlDeviceGetMemoryInfo_v2", Some(index)))?;
        gpus.push(to_gpu(index, uuid, name, memory.total));
    }
    // The GPUs are read; a failed shutdown changes nothing about them.
    if let Err(error) = nvml.shutdown() {
        tracing::warn!(%error, "nvmlShutdown failed");
    }
    Ok(gpus)
}

fn classify(library: &OsStr, call: &'static str, device: Option<u32>, error: NvmlError) -> Failure {
    let library = library.to_string_lossy();
    match error {
        // The loader's message names the library and says why.
        NvmlError::LibloadingError(e) => Failure::Unavailable(format!("cannot load NVML: {e}")),
        // Older drivers lack newer functions such as
        // nvmlDeviceGetMemoryInfo_v2; their `nvidia-smi` still lists the GPUs.
        NvmlError::FailedToLoadSymbol(e) => Failure::Unavailable(format!(
            "{library} has no {call}, so it is not an NVML this agent can use: {e}"
        )),
        other => Failure::Failed(GpuError::Nvml {
            call,
            device,
            detail: other.to_string(),
        }),
    }
}

/// One GPU as NVML describes it: the model name exactly as NVML returns it,
/// the memory in whole MiB as `nvidia-smi` prints `memory.total`.
fn to_gpu(index: u32, uuid: String, model: String, total_bytes: u64) -> Gpu {
    Gpu {
        index,
        uuid,
        model,
        vram_mib: total_bytes / BYTES_PER_MIB,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable_reason(library: &OsStr) -> String {
        match list_gpus(library) {
            Err(Failure::Unavailable(reason)) => reason,
            other => panic!("{library:?}: expected NVML to be unavailable, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_library_is_no_nvml() {
        let library = OsStr::new("libnvidia-ml-not-installed.so.1");
        let reason = unavailable_reason(library);
        assert!(
            reason.contains("libnvidia-ml-not-installed.so.1"),
            "{reason}"
        );
        assert_eq!(query_nvml_library(library), Ok(None));
    }

    #[test]
    fn a_file_that_is_not_a_library_is_no_nvml() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NVML_LIBRARY);
        std::fs::write(&path, "not an ELF shared object").unwrap();
        let reason = unavailable_reason(path.as_os_str());
        assert!(reason.contains(&*path.to_string_lossy()), "{reason}");
        assert_eq!(query_nvml_library(path.as_os_str()), Ok(None));
    }

    #[test]
    fn a_library_without_nvml_functions_is_no_nvml() {
        // A real shared library every Linux machine has, which loads fine
        // but exports no NVML function.
        let reason = unavailable_reason(OsStr::new("libc.so.6"));
        assert!(reason.contains("libc.so.6 has no nvmlInit_v2"), "{reason}");
    }

    #[test]
    fn this_machine_without_a_driver_has_no_nvml() {
        // The kernel driver publishes /proc/driver/nvidia; without it the
        // driver's user-space library is normally not installed either.
        if std::path::Path::new("/proc/driver/nvidia").exists() {
            eprintln!("skipped: this machine has an NVIDIA driver");
            return;
        }
        assert_eq!(query_nvml(), Ok(None));
    }

    #[test]
    fn converts_nvml_values_like_nvidia_smi_prints_them() {
        // nvidia-smi prints memory.total 24564 MiB for an RTX 4090 and 81920
        // for an A100-SXM4-80GB: NVML's total in bytes over 1 MiB.
        let gpu = to_gpu(
            1,
            "GPU-1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809".into(),
            "NVIDIA GeForce RTX 4090".into(),
            25_757_220_864,
        );
        assert_eq!(
            gpu,
            Gpu {
                index: 1,
                uuid: "GPU-1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809".into(),
                model: "NVIDIA GeForce RTX 4090".into(),
                vram_mib: 24564,
            }
        );
        let a100 = to_gpu(
            0,
            "GPU-a".into(),
            "NVIDIA A100-SXM4-80GB".into(),
            85_899_345_920,
        );
        assert_eq!(a100.vram_mib, 81920);
        // Whole MiB only: a partial MiB is dropped, never rounded up.
        assert_eq!(
            to_gpu(0, "GPU-b".into(), "T4".into(), BYTES_PER_MIB * 2 - 1).vram_mib,
            1
        );
    }

    #[test]
    fn call_failures_name_the_call_and_the_device() {
        let failure = classify(
            OsStr::new(NVML_LIBRARY),
            "nvmlDeviceGetUUID",
            Some(3),
            NvmlError::GpuLost,
        );
        let Failure::Failed(error) = failure else {
            panic!("a failed call must be an error, got {failure:?}");
        };
        let message = error.to_string();
        assert!(message.contains("nvmlDeviceGetUUID"), "{message}");
        assert!(message.contains("GPU 3"), "{message}");
    }
}
