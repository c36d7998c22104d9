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

    /// Every epoch file of the directory that verifies, newest epoch first
    /// (read off the async workers: a large tree takes a while to rebuild).
    pub async fn trees(&self) -> Vec<RewardTree> {
        let Some(dir) = self.dir.clone() else {
            return Vec::new();
        };
        tokio::task::spawn_blocking(move || read_trees(&dir))
            .await
            .unwrap_or_default()
    }

    /// The verified tree of `epoch`, if its file is in the directory.
    pub async fn tree(&self, epoch: u64) -> Option<RewardTree> {
        self.trees().await.into_iter().find(|t| t.epoch() == epoch)
    }
}

/// The allocations paying `owner` in `trees`, with their tree.
pub fn owned<'a>(
    trees: &'a [RewardTree],
    owner: &'a Pubkey,
) -> impl Iterator<Item = (&'a RewardTree, &'a Allocation)> + 'a {
    trees.iter().flat_map(move |tree| {
        tree.allocations()
            .iter()
            .filter(move |a| a.owner.to_bytes() == owner.to_bytes())
            .map(move |a| (tree, a))
    })
}

fn read_trees(dir: &std::path::Path) -> Vec<RewardTree> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            tracing::warn!(%err, dir = %dir.display(), "cannot read the reward epochs directory");
            return Vec::new();
        }
    };
    let mut trees: Vec<RewardTree> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .filter_map(|path| {
            match EpochFile::read_json(&path).and_then(|file| file.verify()) {
                Ok(tree) => Some(tree),
                Err(err) => {
                    tracing::warn!(%err, file = %path.display(), "skipping an epoch file that does not verify");
                    None
                }
            }
        })
        .collect();
    trees.sort_by_key(|t| std::cmp::Reverse(t.epoch()));
    trees.dedup_by_key(|t| t.epoch());
    trees
}
