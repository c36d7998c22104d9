//! `iomesh node register --agent-gpus`: turns the GPU list printed by
//! `iomesh-agent gpus --json` into the GPU model, count and VRAM of a listing.
//!
//! The JSON is parsed here rather than through the `iomesh-agent` crate, which
//! would pull its job runner into the wallet CLI; `AgentGpu` mirrors the
//! agent's `gpu::Gpu` field for field.

use anyhow::{anyhow, bail, Context as _, Result};
use iomesh_client::iomesh::state::{GPU_MODEL_LEN, MAX_GPUS_PER_NODE};
use serde::Deserialize;
use std::{collections::BTreeMap, io::Read, path::Path};

/// One GPU as `iomesh-agent gpus --json` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct AgentGpu {
    /// Device index as `CUDA_VISIBLE_DEVICES` counts it.
    pub index: u32,
    pub uuid: String,
    /// As `nvidia-smi` names it, e.g. "NVIDIA GeForce RTX 4090".
    pub model: String,
    pub vram_mib: u64,
}

/// What a node lists about its GPUs, taken from the agent's list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuListing {
    /// The model as renters search for it, e.g. "RTX 4090".
    pub gpu_model: String,
    pub gpu_count: u16,
    /// The smallest VRAM of the GPUs, in MiB.
    pub vram_mib: u32,
    /// The largest VRAM of the GPUs, in MiB (more than `vram_mib` when they differ).
    pub largest_vram_mib: u32,
}

impl GpuListing {
    /// Says why the VRAM listed is below some GPUs' VRAM, when it is.
    pub fn vram_note(&self) -> Option<String> {
        (self.largest_vram_mib != self.vram_mib).then(|| {
            format!(
                "note: the GPUs' VRAM differs ({} to {} MiB); listing the smallest, {} MiB, \
                 so a renter gets at least what is listed",
                self.vram_mib, self.largest_vram_mib, self.vram_mib
            )
        })
    }
}

/// The listing from the agent's JSON list in `path` (`-`: stdin).
pub fn read_listing(path: &Path) -> Result<GpuListing> {
    let stdin = path == Path::new("-");
    let source = if stdin {
        "- (stdin)".to_string()
    } else {
        path.display().to_string()
    };
    let text = if stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map(|_| text)
            .with_context(|| format!("--agent-gpus {source}: reading stdin"))?
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("--agent-gpus {source}: reading the file"))?
    };
    parse(&text)
        .and_then(|gpus| listing(&gpus))
        .with_context(|| format!("--agent-gpus {source}"))
}

/// Parses the agent's JSON list.
pub fn parse(text: &str) -> Result<Vec<AgentGpu>> {
    serde_json::from_str(text).map_err(|e| {
        anyhow!(
            "not the output of `iomesh-agent gpus --json` ({e}); expected a JSON array of \
             {{\"index\", \"uuid\", \"model\", \"vram_mib\"}}"
        )
    })
}

/// The listing for `gpus`: one model, each index once, the smallest VRAM.
pub fn listing(gpus: &[AgentGpu]) -> Result<GpuListing> {
    if gpus.is_empty() {
        bail!(
            "the agent lists no GPUs (nvidia-smi is missing or lists none); \
             a node needs at least one GPU"
        );
    }
    let mut by_index = BTreeMap::new();
    for gpu in gpus {
        if let Some(first) = by_index.insert(gpu.index, gpu) {
            bail!(
                "GPU index {} is listed twice ({} and {}); each GPU must appear once",
                gpu.index,
                first.uuid,
                gpu.uuid
            );
        }
    }
    let mut by_model: BTreeMap<String, usize> = BTreeMap::new();
    for gpu in gpus {
        *by_model.entry(short_model(&gpu.model)).or_default() += 1;
    }
    if by_model.len() > 1 {
        let models: Vec<String> = by_model
            .iter()
            .map(|(model, count)| format!("{count}x {model}"))
            .collect();
        bail!(
            "the agent lists GPUs of {} models ({}), but a node lists one model: \
             run one agent per model, or pass the agent a --gpus-file holding one model",
            by_model.len(),
            models.join(", ")
        );
    }
    let (gpu_model, _) = by_model.pop_first().expect("at least one GPU");
    check_model(&gpu_model, &gpus[0].model)?;
    let gpu_count = u16::try_from(gpus.len())
        .ok()
        .filter(|count| *count <= MAX_GPUS_PER_NODE)
        .ok_or_else(|| {
            anyhow!(
                "the agent lists {} GPUs; a node lists at most {MAX_GPUS_PER_NODE}",
                gpus.len()
            )
        })?;
    let vram = |gpu: &AgentGpu| {
        u32::try_from(gpu.vram_mib)
            .ok()
            .filter(|mib| *mib > 0)
            .ok_or_else(|| {
                anyhow!(
                    "GPU {} has a VRAM of {} MiB; expected 1 to {} MiB",
                    gpu.index,
                    gpu.vram_mib,
                    u32::MAX
                )
            })
    };
    let mut vram_mib = u32::MAX;
    let mut largest_vram_mib = 0;
    for gpu in gpus {
        let mib = vram(gpu)?;
        vram_mib = vram_mib.min(mib);
        largest_vram_mib = largest_vram_mib.max(mib);
    }
    Ok(GpuListing {
        gpu_model,
        gpu_count,
        vram_mib,
        largest_vram_mib,
    })
}

/// `nvidia-smi`'s name shortened to what renters search by: without the
/// vendor ("NVIDIA ") and the product line ("GeForce ", "Tesla "), e.g.
/// "NVIDIA GeForce RTX 4090" → "RTX 4090", "NVIDIA A100-SXM4-80GB" →
/// "A100-SXM4-80GB".
pub fn short_model(name: &str) -> String {
    let mut rest = name.trim();
    rest = strip_word(rest, "NVIDIA");
    rest = strip_word(rest, "GeForce");
    rest = strip_word(rest, "Tesla");
    rest.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` without a leading `word` (any case) when a space follows it.
fn strip_word<'a>(text: &'a str, word: &str) -> &'a str {
    match text.get(..word.len()) {
        Some(head) if head.eq_ignore_ascii_case(word) => {
            let tail = &text[word.len()..];
            if tail.starts_with(char::is_whitespace) {
                tail.trim_start()
            } else {
                text
            }
        }
        _ => text,
    }
}

/// The program stores the model in `GPU_MODEL_LEN` bytes of printable ASCII.
fn check_model(model: &str, reported: &str) -> Result<()> {
    let named = if model == reported {
        format!("GPU model `{model}`")
    } else {
        format!("GPU model `{model}` (from `{reported}`)")
    };
    if model.is_empty() {
        bail!("the agent lists a GPU without a model name");
    }
    if !model.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        bail!(
            "{named} has characters that are not printable ASCII, which a node listing \
             cannot hold; list the node with --gpu-model, --gpus and --vram-mib instead"
        );
    }
    if model.len() > GPU_MODEL_LEN {
        bail!(
            "{named} is {} bytes, longer than the {GPU_MODEL_LEN} a node listing holds; \
             list the node with --gpu-model, --gpus and --vram-mib instead",
            model.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(index: u32, model: &str, vram_mib: u64) -> AgentGpu {
        AgentGpu {
            index,
            uuid: format!("GPU-{index}"),
            model: model.into(),
            vram_mib,
        }
    }

    fn error(gpus: &[AgentGpu]) -> String {
        format!("{:#}", listing(gpus).unwrap_err())
    }

    #[test]
    fn parses_the_agents_json_listing() {
        // `iomesh-agent --gpus-file …  gpus --json` on a two-GPU box.
        let text = r#"[
  {
    "index": 0,
    "uuid": "GPU-8f6a1c2e-4b1d-2f3a-9c1e-0d5b7a9e3f21",
    "model": "NVIDIA GeForce RTX 4090",
    "vram_mib": 24564
  },
  {
    "index": 1,
    "uuid": "GPU-1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809",
    "model": "NVIDIA GeForce RTX 4090",
    "vram_mib": 24564
  }
]"#;
        let gpus = parse(text).unwrap();
        assert_eq!(gpus[1].uuid, "GPU-1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809");
        assert_eq!(
            listing(&gpus).unwrap(),
            GpuListing {
                gpu_model: "RTX 4090".into(),
                gpu_count: 2,
                vram_mib: 24564,
                largest_vram_mib: 24564,
            }
        );
        let err = parse(r#"{"gpus": []}"#).unwrap_err().to_string();
        assert!(
            err.contains("not the output of `iomesh-agent gpus --json`"),
            "{err}"
        );
        assert!(parse(r#"[{"index": 0, "model": "T4"}]"#).is_err());
    }

    #[test]
    fn shortens_nvidia_smi_names_to_what_renters_search() {
        for (name, short) in [
            ("NVIDIA GeForce RTX 4090", "RTX 4090"),
            ("NVIDIA A100-SXM4-80GB", "A100-SXM4-80GB"),
            ("NVIDIA H100 80GB HBM3", "H100 80GB HBM3"),
            ("NVIDIA RTX A6000", "RTX A6000"),
            ("Tesla V100-SXM2-16GB", "V100-SXM2-16GB"),
            ("NVIDIA Tesla T4", "T4"),
            ("GeForce GTX 1080 Ti", "GTX 1080 Ti"),
            ("RTX 4090", "RTX 4090"),
            ("  NVIDIA  GeForce   RTX 3090 ", "RTX 3090"),
            // Only whole leading words go.
            ("NVIDIAX 1", "NVIDIAX 1"),
            ("NVIDIA", "NVIDIA"),
        ] {
            assert_eq!(short_model(name), short, "{name}");
        }
    }

    #[test]
    fn refuses_an_empty_list() {
        assert!(error(&[]).contains("the agent lists no GPUs"));
    }

    #[test]
    fn refuses_mixed_models_naming_them() {
        let err = error(&[
            gpu(0, "NVIDIA GeForce RTX 4090", 24564),
            gpu(1, "NVIDIA A100-SXM4-80GB", 81920),
            gpu(2, "NVIDIA GeForce RTX 4090", 24564),
        ]);
        assert!(
            err.contains("2 models (1x A100-SXM4-80GB, 2x RTX 4090)"),
            "{err}"
        );
        assert!(err.contains("run one agent per model"), "{err}");
        // The same model named with and without the vendor is one model.
        let same = listing(&[gpu(0, "NVIDIA GeForce RTX 4090", 1), gpu(1, "RTX 4090", 1)]);
        assert_eq!(same.unwrap().gpu_model, "RTX 4090");
    }

    #[test]
    fn refuses_a_duplicate_index() {
        let mut twice = gpu(3, "T4", 15360);
        twice.uuid = "GPU-other".into();
        let err = error(&[gpu(3, "T4", 15360), twice]);
        assert_eq!(
            err,
            "GPU index 3 is listed twice (GPU-3 and GPU-other); each GPU must appear once"
        );
    }

    #[test]
    fn lists_the_smallest_vram_and_says_so() {
        let listed = listing(&[
            gpu(0, "NVIDIA GeForce RTX 4090", 24564),
            gpu(1, "NVIDIA GeForce RTX 4090", 24000),
            gpu(5, "NVIDIA GeForce RTX 4090", 24564),
        ])
        .unwrap();
        assert_eq!(listed.gpu_count, 3);
        assert_eq!(listed.vram_mib, 24000);
        let note = listed.vram_note().unwrap();
        assert!(note.contains("24000 to 24564 MiB"), "{note}");
        assert!(note.contains("listing the smallest, 24000 MiB"), "{note}");
        let same = listing(&[gpu(0, "T4", 15360), gpu(1, "T4", 15360)]).unwrap();
        assert_eq!(same.vram_note(), None);
    }

    #[test]
    fn refuses_vram_the_program_cannot_hold() {
        assert!(error(&[gpu(0, "T4", 0)]).contains("GPU 0 has a VRAM of 0 MiB"));
        let huge = u64::from(u32::MAX) + 1;
        assert!(error(&[gpu(0, "T4", huge)]).contains(&format!("VRAM of {huge} MiB")));
    }

    #[test]
    fn refuses_models_the_program_cannot_hold() {
        let long = "NVIDIA Some Very Long Accelerator Name 96GB";
        let err = error(&[gpu(0, long, 1)]);
        assert!(
            err.contains(
                "GPU model `Some Very Long Accelerator Name 96GB` (from `NVIDIA Some Very Long \
                 Accelerator Name 96GB`) is 36 bytes, longer than the 32 a node listing holds"
            ),
            "{err}"
        );
        assert!(error(&[gpu(0, "RTX 4090 Ti – OC", 1)]).contains("not printable ASCII"));
        assert!(error(&[gpu(0, "  ", 1)]).contains("without a model name"));
        // Exactly 32 bytes fits.
        let fits = "A".repeat(GPU_MODEL_LEN);
        assert_eq!(listing(&[gpu(0, &fits, 1)]).unwrap().gpu_model, fits);
    }

    #[test]
    fn refuses_more_gpus_than_a_node_lists() {
        let many: Vec<AgentGpu> = (0..=u32::from(MAX_GPUS_PER_NODE))
            .map(|i| gpu(i, "T4", 15360))
            .collect();
        assert!(error(&many).contains("the agent lists 1025 GPUs; a node lists at most 1024"));
    }
}
