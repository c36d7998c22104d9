//! Job spec bytes as renters submit them: mutations of valid specs (wrong
//! types, unknown fields, huge values, deep nesting) and raw bytes. Parsing
//! must never panic, and a spec that parses must hash the same twice.

use crate::{gen::Gen, Fuzz, Outcome, Problem};
use iomesh_agent_proto::{job_spec_hash, JobSpec, JobSpecError, MAX_JOB_SPEC_BYTES};
use serde_json::{json, Value};

pub struct JobSpecFuzz;

fn valid(gen: &mut Gen) -> Value {
    let mut spec = json!({
        "image": "pytorch/pytorch:2.4",
        "command": ["python", "train.py", "--epochs", "3"],
        "env": {"EPOCHS": "3"},
        "ports": [8080]
    });
    if gen.chance(0.3) {
        // A version 2 Ray spec.
        spec = json!({
            "version": 2,
            "runtime": "ray",
            "ray": {"entrypoint": "python main.py", "version": "2.60.0",
                    "runtime_env": {"working_dir": ".", "env_vars": {"A": "1"}, "pip": ["numpy"]}},
            "ports": [8265]
        });
    }
    let keys = [
        "image", "command", "env", "ports", "version", "runtime", "ray",
    ];
    for _ in 0..gen.below(3) {
        let key = *gen.pick(&keys);
        if gen.chance(0.3) {
            spec.as_object_mut().unwrap().remove(key);
        } else {
            spec[key] = gen.json(3);
        }
    }
    if gen.chance(0.2) {
        spec[gen.text(10)] = gen.json(2);
    }
    spec
}

fn input(gen: &mut Gen) -> Vec<u8> {
    match gen.below(5) {
        0 => gen.bytes(256),
        1 => {
            // Deep nesting: a stack overflow in the parser would be a crash.
            let depth = gen.below(4_096);
            let mut text = "[".repeat(depth);
            text.push_str(&"]".repeat(depth));
            format!("{{\"command\":{text}}}").into_bytes()
        }
        2 => {
            // Around the size limit.
            let filler = "x".repeat(MAX_JOB_SPEC_BYTES - 40 + gen.below(80));
            format!("{{\"command\":[\"{filler}\"]}}").into_bytes()
        }
        _ => serde_json::to_vec(&valid(gen)).expect("JSON"),
    }
}

impl Fuzz for JobSpecFuzz {
    async fn case(&mut self, gen: &mut Gen) -> Result<Outcome, Problem> {
        let bytes = input(gen);
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
        let parsed = tokio::task::spawn_blocking(move || {
            let parsed = JobSpec::parse(&bytes).map(|_| job_spec_hash(&bytes));
            (parsed, job_spec_hash(&bytes))
        })
        .await;
        match parsed {
            Err(panic) => Err(Problem::new(
                shown,
                format!("JobSpec::parse panicked: {panic}"),
            )),
            Ok((Ok(hash), again)) if hash != again => {
                Err(Problem::new(shown, "the hash of the same bytes changed"))
            }
            Ok((Ok(_), _)) => Ok("accepted".into()),
            Ok((Err(err), _)) => Ok(match err {
                JobSpecError::TooLarge(_) => "refused: too large",
                JobSpecError::Invalid(_) => "refused: not a job spec",
                JobSpecError::Empty => "refused: no image or command",
                JobSpecError::Version(_) => "refused: unknown version",
                JobSpecError::NeedsVersion2(_) => "refused: version 2 field in version 1",
                JobSpecError::Shape { .. } => "refused: runtime shape",
            }
            .into()),
        }
    }

    async fn shutdown(self) {}
}
