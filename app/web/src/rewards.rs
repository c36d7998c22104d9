//! Reward epochs as the suppliers' pages and the claim Action see them: the
//! epoch files the reward job writes (`iomesh-scheduler rewards --out`),
//! read from one directory. A file is used only when it verifies (its tree
//! rebuilt from its allocations gives its root and every proof); a claim is
//! also checked against the root published on-chain before it is offered.

use iomesh_rewards::{Allocation, EpochFile, RewardTree};
use solana_pubkey::Pubkey;
use std::path::PathBuf;

/// The directory of epoch files, when one is configured.
#[derive(Clone, Debug, Default)]
pub struct Epochs {
    dir: Option<PathBuf>,
}

impl Epochs {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir }
    }

    pub fn configured(&self) -> bool {
        self.dir.is_some()
    }

    /// The newest `limit` epochs' trees, newest first, from the files that
    /// verify (read off the async workers: a large tree takes a while to
    /// rebuild, so only the files used are verified).
    pub async fn newest(&self, limit: usize) -> Vec<RewardTree> {
        self.verified(move |files| files.into_iter().take(limit).collect())
            .await
    }

    /// The verified tree of `epoch`, if its file is in the directory.
    pub async fn tree(&self, epoch: u64) -> Option<RewardTree> {
        self.verified(move |files| {
            files
                .into_iter()
                .filter(|f| f.epoch == epoch)
                .take(1)
                .collect()
        })
        .await
        .pop()
    }

    /// The files `pick` chooses among the directory's (newest epoch first),
    /// verified; one that does not verify is skipped with a warning.
    async fn verified(
        &self,
        pick: impl FnOnce(Vec<EpochFile>) -> Vec<EpochFile> + Send + 'static,
    ) -> Vec<RewardTree> {
        let Some(dir) = self.dir.clone() else {
            return Vec::new();
        };
        tokio::task::spawn_blocking(move || {
            pick(read_files(&dir))
                .into_iter()
                .filter_map(|file| match file.verify() {
                    Ok(tree) => Some(tree),
                    Err(err) => {
                        tracing::warn!(%err, epoch = file.epoch, "skipping an epoch file that does not verify");
                        None
                    }
                })
                .collect()
        })
        .await
        .unwrap_or_default()
    }
}

/// The leaves of `tree` paying `owner`: their index and allocation.
pub fn owned<'a>(
    tree: &'a RewardTree,
    owner: &'a Pubkey,
) -> impl Iterator<Item = (u32, &'a Allocation)> + 'a {
    tree.allocations()
        .iter()
        .enumerate()
        .filter(move |(_, a)| a.owner == *owner)
        .map(|(index, a)| (index as u32, a))
}

/// The directory's epoch files, parsed, newest epoch first (one per epoch).
fn read_files(dir: &std::path::Path) -> Vec<EpochFile> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            tracing::warn!(%err, dir = %dir.display(), "cannot read the reward epochs directory");
            return Vec::new();
        }
    };
    let mut files: Vec<EpochFile> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .filter_map(|path| match EpochFile::read_json(&path) {
            Ok(file) => Some(file),
            Err(err) => {
                tracing::warn!(%err, file = %path.display(), "skipping an unreadable epoch file");
                None
            }
        })
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.epoch));
    files.dedup_by_key(|f| f.epoch);
    files
}
