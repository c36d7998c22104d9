//! The ports each running job's spec lists: the only ones a tunnel may reach.
//! Kept on disk (`<state dir>/ports/<lease>.json`) so that an agent that
//! restarts and reattaches to its jobs still knows them.

use std::{
    collections::HashMap,
    io,
    path::{Path, PathBuf},
    sync::Mutex,
};

pub struct JobPorts {
    dir: PathBuf,
    by_lease: Mutex<HashMap<String, Vec<u16>>>,
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
            if let Ok(ports) =
                std::fs::read(&path).map(|bytes| serde_json::from_slice::<Vec<u16>>(&bytes))
            {
                by_lease.insert(lease, ports.unwrap_or_default());
            }
        }
        Ok(Self {
            dir,
            by_lease: Mutex::new(by_lease),
        })
    }

    /// Records the ports of `lease`'s job (its spec's `ports`).
    pub fn set(&self, lease: &str, ports: &[u16]) -> io::Result<()> {
        let path = self.dir.join(format!("{lease}.json"));
        std::fs::write(&path, serde_json::to_vec(ports).expect("ports serialise"))?;
        self.by_lease
            .lock()
            .expect("ports lock")
            .insert(lease.to_string(), ports.to_vec());
        Ok(())
    }

    pub fn of(&self, lease: &str) -> Vec<u16> {
        self.by_lease
            .lock()
            .expect("ports lock")
            .get(lease)
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_survive_a_restart_for_running_jobs_only() {
        let dir = tempfile::tempdir().unwrap();
        let ports = JobPorts::open(dir.path(), &[]).unwrap();
        ports.set("A", &[8080, 8265]).unwrap();
        ports.set("B", &[22]).unwrap();
        let again = JobPorts::open(dir.path(), &["A".to_string()]).unwrap();
        assert_eq!(again.of("A"), vec![8080, 8265]);
        assert!(again.of("B").is_empty());
        assert!(!dir.path().join("ports/B.json").exists());
    }
}
