//! The ports each running job's spec lists: the only ones a tunnel may reach,
//! each with the port on the job's loopback it leads to (the same, except a
//! Ray job's 8265, which leads to the lease's own dashboard port). Kept on disk (`<state dir>/ports/<lease>.json`) so that an agent that
//! restarts and reattaches to its jobs still knows them.

use std::{
    collections::HashMap,
    io,
    path::{Path, PathBuf},
    sync::Mutex,
};

pub struct JobPorts {
    dir: PathBuf,
    by_lease: Mutex<HashMap<String, Vec<(u16, u16)>>>,
}

/// A lease's ports as recorded: `[renter port, job port]` pairs, or (as
/// agents before Ray jobs wrote them) plain ports.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Recorded {
    Mapped(Vec<(u16, u16)>),
    Plain(Vec<u16>),
}

impl JobPorts {
    /// Loads what an earlier agent recorded, keeping only `running` leases.
    pub fn open(state_dir: &Path, running: &[String]) -> io::Result<Self> {
        let dir = state_dir.join("ports");
        std::fs::create_dir_all(&dir)?;
        let mut by_lease = HashMap::new();
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let Some(lease) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .map(str::to_string)
            else {
                continue;
            };
            if !running.contains(&lease) {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let recorded = std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Recorded>(&bytes).ok());
            let ports = match recorded {
                Some(Recorded::Mapped(pairs)) => pairs,
                Some(Recorded::Plain(ports)) => ports.into_iter().map(|p| (p, p)).collect(),
                None => Vec::new(),
            };
            by_lease.insert(lease, ports);
        }
        Ok(Self {
            dir,
            by_lease: Mutex::new(by_lease),
        })
    }

    /// Records the ports of `lease`'s job: (port the renter names, port on
    /// the job's loopback).
    pub fn set(&self, lease: &str, ports: &[(u16, u16)]) -> io::Result<()> {
        let path = self.dir.join(format!("{lease}.json"));
        std::fs::write(&path, serde_json::to_vec(ports).expect("ports serialise"))?;
        self.by_lease
            .lock()
            .expect("ports lock")
            .insert(lease.to_string(), ports.to_vec());
        Ok(())
    }

    /// The ports the renter may name for `lease`.
    pub fn of(&self, lease: &str) -> Vec<u16> {
        self.by_lease
            .lock()
            .expect("ports lock")
            .get(lease)
            .map(|pairs| pairs.iter().map(|(renter, _)| *renter).collect())
            .unwrap_or_default()
    }

    /// The job's port that the renter's `port` leads to, if listed.
    pub fn target(&self, lease: &str, port: u16) -> Option<u16> {
        self.by_lease
            .lock()
            .expect("ports lock")
            .get(lease)?
            .iter()
            .find(|(renter, _)| *renter == port)
            .map(|(_, job)| *job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_survive_a_restart_for_running_jobs_only() {
        let dir = tempfile::tempdir().unwrap();
        let ports = JobPorts::open(dir.path(), &[]).unwrap();
        ports.set("A", &[(8080, 8080), (8265, 30001)]).unwrap();
        ports.set("B", &[(22, 22)]).unwrap();
        std::fs::write(dir.path().join("ports/C.json"), "[9000]").unwrap();
        let running = ["A".to_string(), "C".to_string()];
        let again = JobPorts::open(dir.path(), &running).unwrap();
        assert_eq!(again.of("A"), vec![8080, 8265]);
        assert_eq!(again.target("A", 8265), Some(30001));
        assert_eq!(again.target("A", 30001), None);
        assert_eq!(
            again.target("C", 9000),
            Some(9000),
            "an older agent's record"
        );
        assert!(again.of("B").is_empty());
        assert!(!dir.path().join("ports/B.json").exists());
    }
}
