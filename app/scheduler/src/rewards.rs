//! The epoch reward job: computes each node's share of an epoch's reward
//! amount from what Postgres holds (leases indexed from the chain, uptime
//! minutes recorded by the scheduler), builds the merkle tree with
//! `iomesh-rewards`, writes the epoch file anyone can verify, and optionally
//! publishes the epoch on-chain.
//!
//! Allocation over the window `[from, to)` (unix seconds), integer math only:
//! - `gpu_seconds(n)` = Σ over every lease of node `n` of
//!   `gpus × |[activated_at, served_until] ∩ [from, to]|`, where
//!   `served_until` is what the renter paid for: `settled_until` of an open
//!   lease; for a closed one, `billed_until` of its `LeaseEnded` event as
//!   the indexer recorded it (`lease_endings`; for a cancelled lease no later
//!   than its agent was last seen); without one (a tombstone keeping the
//!   values from before its final settlement) the reported failure time,
//!   the lease's end when it closed after it, else the last second its agent
//!   was seen serving it (see `served_until!`). Leases never activated count
//!   nothing.
//! - Refused: a window that overlaps history the indexer could not recover
//!   (`indexer_gaps`), unless `--allow-history-gaps`.
//! - `uptime_seconds(n)` = 60 × the number of minutes starting in `[from, to)`
//!   in which the node's agent sent a heartbeat (`node_uptime_minutes`).
//! - `score(n)` = `weight_permille(gpu_model) × (K × gpu_seconds + gpu_count × uptime_seconds)`
//!   with `K` = [`WORK_OVER_UPTIME`] = 10: a GPU that is merely up counts a
//!   tenth of a GPU delivering leased work (the formula is the issue's
//!   `w × (gpu_seconds + gpu_count × uptime / K)` multiplied by `K`, so no
//!   division happens before the share; only ratios of scores matter).
//! - Excluded (listed with the reason, no leaf): closed nodes; nodes whose
//!   indexed stake is below `stake_per_gpu × gpu_count` of the market (the
//!   same gate the program applies to new leases), read at job time; nodes
//!   whose score or share is zero.
//! - `amount(n)` = `floor(amount × score(n) / Σ score)` over eligible nodes,
//!   in u128; the remainder of the floors stays in the reserve (rounding in
//!   the protocol's favour), so Σ amount(n) ≤ amount.
//! - The leaf pays the node's owner; leaves are ordered by node address.

use anyhow::{anyhow, ensure, Context};
use iomesh_rewards::{Allocation, EpochFile, RewardTree};
use solana_pubkey::Pubkey;
use sqlx::{PgPool, Row};
use std::{collections::BTreeMap, path::PathBuf};

/// Delivered work counts this many times an idle-but-up GPU second.
pub const WORK_OVER_UPTIME: u128 = 10;

/// Class weight of models no entry matches (1.0).
pub const DEFAULT_WEIGHT_PERMILLE: u64 = 1_000;

/// Until when a lease's service counts, as SQL over `l` (the lease row), `e`
/// (its `LeaseEnded`, when the indexer recorded it) and `f` (its
/// assignments' failure time and last second seen). An open lease: what it
/// has settled. A closed lease with its ending: what the ending billed
/// (cancelled: no later than its agent was last seen). A closed lease
/// without one is a tombstone holding the values from
/// before its final settlement, so its end is rebuilt from what that
/// settlement paid for: the reported failure time; its full length when it
/// closed after its end; otherwise (cancelled) the last second its agent was
/// seen running it, which bills no second the node did not serve.
macro_rules! served_until {
    () => {
        "CASE WHEN l.closed_slot IS NULL THEN l.settled_until \
              WHEN e.reason = 'cancelled' \
                THEN least(e.billed_until, COALESCE(f.last_seen, e.billed_until)) \
              WHEN e.billed_until IS NOT NULL THEN e.billed_until \
              WHEN f.failed_at IS NOT NULL THEN greatest(l.settled_until, f.failed_at) \
              WHEN l.activated_at + l.duration_secs <= floor(extract(epoch from l.updated_at))::int8 \
                THEN l.activated_at + l.duration_secs \
              ELSE greatest(l.settled_until, \
                            least(l.activated_at + l.duration_secs, COALESCE(f.last_seen, l.settled_until))) END"
    };
}

/// `iomesh-scheduler rewards`.
#[derive(clap::Args, Debug, Clone)]
pub struct RewardArgs {
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Epoch number (the on-chain epoch account's seed).
    #[arg(long)]
    pub epoch: u64,
    /// Window start, unix seconds (inclusive).
    #[arg(long)]
    pub from: i64,
    /// Window end, unix seconds (exclusive).
    #[arg(long)]
    pub to: i64,
    /// IO base units to distribute; what rounding leaves over stays in the reserve.
    #[arg(long)]
    pub amount: u64,
    /// Where to write the epoch file (JSON).
    #[arg(long)]
    pub out: PathBuf,
    /// JSON object of GPU model substring → weight per mille (e.g. {"H100": 3000});
    /// entries override the defaults; key "default" sets the fallback.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Publish the epoch on-chain (publish_epoch, then grow_epoch as needed).
    #[arg(long, requires = "keypair")]
    pub publish: bool,
    /// The market's reward authority (pays the fees and the epoch account's rent).
    #[arg(long)]
    pub keypair: Option<PathBuf>,
    /// Claims are accepted until now + this many seconds.
    #[arg(long, default_value_t = 30 * 86_400)]
    pub claim_window_secs: i64,
    #[arg(
        long = "url",
        env = "IOMESH_RPC_URL",
        default_value = "http://127.0.0.1:8899"
    )]
    pub rpc_url: String,
    /// Compute the epoch even though the indexer recorded history it could
    /// not recover inside the window (leases of those slots may be missing).
    #[arg(long)]
    pub allow_history_gaps: bool,
}

/// Slots the indexer could not recover (`indexer_gaps`) overlapping a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryGap {
    pub from_slot: i64,
    pub to_slot: i64,
    pub from_time: i64,
    pub to_time: i64,
    pub reason: String,
}

/// The unrecovered history gaps that overlap `[from, to)`.
pub async fn history_gaps(pool: &PgPool, from: i64, to: i64) -> anyhow::Result<Vec<HistoryGap>> {
    let rows: Vec<(i64, i64, i64, i64, String)> = sqlx::query_as(
        "SELECT from_slot, to_slot, from_time, to_time, reason FROM indexer_gaps \
         WHERE from_time < $2 AND to_time >= $1 ORDER BY from_slot",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(from_slot, to_slot, from_time, to_time, reason)| HistoryGap {
                from_slot,
                to_slot,
                from_time,
                to_time,
                reason,
            },
        )
        .collect())
}

/// Refuses a window the indexed history does not fully cover, unless allowed.
pub async fn check_history(pool: &PgPool, from: i64, to: i64, allow: bool) -> anyhow::Result<()> {
    let gaps = history_gaps(pool, from, to).await?;
    if gaps.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = gaps
        .iter()
        .map(|g| {
            format!(
                "slots {}..={} (unix {}..{}): {}",
                g.from_slot, g.to_slot, g.from_time, g.to_time, g.reason
            )
        })
        .collect();
    if allow {
        eprintln!(
            "warning: computing the epoch over unrecovered history (--allow-history-gaps): {}",
            listed.join("; ")
        );
        return Ok(());
    }
    anyhow::bail!(
        "the window [{from}, {to}) overlaps history the indexer could not recover, so leases of \
         those slots may be missing and suppliers underpaid: {}. Recover it (re-index from an RPC \
         that still has those slots) or pass --allow-history-gaps to publish anyway",
        listed.join("; ")
    )
}

/// GPU class weights, per mille, matched by case-insensitive substring of the
/// node's model; the longest matching key wins.
#[derive(Clone, Debug)]
pub struct ClassWeights {
    entries: BTreeMap<String, u64>,
    fallback: u64,
}

impl Default for ClassWeights {
    fn default() -> Self {
        let entries = [
            ("H200", 3_500),
            ("H100", 3_000),
            ("A100", 2_000),
            ("L40S", 1_500),
            ("RTX 4090", 1_200),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        ClassWeights {
            entries,
            fallback: DEFAULT_WEIGHT_PERMILLE,
        }
    }
}

impl ClassWeights {
    /// The defaults with the entries of a JSON object `{"model": permille}` applied.
    pub fn from_json(text: &str) -> anyhow::Result<Self> {
        let map: BTreeMap<String, u64> = serde_json::from_str(text)
            .context("weights file must be a JSON object of model → integer weight per mille")?;
        let mut weights = ClassWeights::default();
        for (key, permille) in map {
            if key.eq_ignore_ascii_case("default") {
                weights.fallback = permille;
            } else {
                ensure!(!key.trim().is_empty(), "weights file: empty model key");
                weights.entries.insert(key.trim().to_uppercase(), permille);
            }
        }
        Ok(weights)
    }

    pub fn permille(&self, model: &str) -> u64 {
        let model = model.to_uppercase();
        self.entries
            .iter()
            .filter(|(key, _)| model.contains(key.as_str()))
            .max_by_key(|(key, _)| key.len())
            .map_or(self.fallback, |(_, w)| *w)
    }
}

/// One node's line of the epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeReward {
    pub node: Pubkey,
    pub owner: Pubkey,
    pub gpu_model: String,
    pub gpu_count: u64,
    pub gpu_seconds: u128,
    pub uptime_seconds: u64,
    pub weight_permille: u64,
    pub score: u128,
    pub amount: u64,
    /// Why the node gets no leaf.
    pub excluded: Option<String>,
}

/// The computed epoch: every node considered, and the tree of the paid ones.
pub struct EpochRewards {
    pub nodes: Vec<NodeReward>,
    pub tree: RewardTree,
}

fn pubkey(column: &'static str, bytes: &[u8]) -> anyhow::Result<Pubkey> {
    Pubkey::try_from(bytes)
        .map_err(|_| anyhow!("Postgres holds a {}-byte pubkey in {column}", bytes.len()))
}

fn numeric(column: &str, text: Option<String>) -> anyhow::Result<Option<u128>> {
    text.map(|t| {
        t.parse::<u128>()
            .map_err(|_| anyhow!("{column} holds {t:?}, not an unsigned integer"))
    })
    .transpose()
}

/// Computes the allocation of `amount` over `[from, to)`; see the module doc.
pub async fn compute(
    pool: &PgPool,
    epoch: u64,
    from: i64,
    to: i64,
    amount: u64,
    weights: &ClassWeights,
) -> anyhow::Result<EpochRewards> {
    ensure!(
        from < to,
        "the window is empty: --from ({from}) must be before --to ({to})"
    );
    ensure!(from >= 0, "--from ({from}) must be a unix time (≥ 0)");
    ensure!(amount > 0, "--amount must be more than 0 IO base units");

    let market =
        sqlx::query("SELECT stake_per_gpu::text AS stake_per_gpu FROM markets WHERE pubkey = $1")
            .bind(iomesh_client::pda::market().to_bytes().as_slice())
            .fetch_optional(pool)
            .await?
            .ok_or_else(|| {
                anyhow!("the market is not indexed in Postgres (is the indexer running?)")
            })?;
    let stake_per_gpu = numeric("markets.stake_per_gpu", market.try_get("stake_per_gpu")?)?
        .ok_or_else(|| {
            anyhow!("markets.stake_per_gpu is NULL: the market row predates migration 0002; restart the indexer to reconcile it")
        })?;

    // Every node with its delivered GPU-seconds and uptime minutes in the window.
    let rows = sqlx::query(concat!(
        "SELECT n.pubkey, n.owner, n.gpu_model, n.gpu_count, n.staked::text AS staked, \
                n.closed_slot IS NOT NULL AS closed, \
                COALESCE((SELECT sum(l.gpus::numeric * greatest(0, \
                            least(", served_until!(), ", $2) - greatest(l.activated_at, $1))) \
                          FROM leases l \
                          LEFT JOIN LATERAL (SELECT max(a.failed_at) AS failed_at, \
                                   floor(extract(epoch from max(a.last_seen_at)))::int8 AS last_seen \
                                 FROM assignments a WHERE a.lease = l.pubkey) f ON true \
                          LEFT JOIN lease_endings e \
                                 ON e.lease = l.pubkey AND e.slot = l.closed_slot \
                          WHERE l.node = n.pubkey AND l.activated_at > 0), 0)::text \
                  AS gpu_seconds, \
                (SELECT count(*) FROM node_uptime_minutes u \
                  WHERE u.node = n.pubkey AND u.minute >= $1 AND u.minute < $2) AS uptime_minutes \
         FROM nodes n ORDER BY n.pubkey",
    ))
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;

    let mut nodes = Vec::with_capacity(rows.len());
    for row in rows {
        let node = pubkey("nodes.pubkey", row.try_get("pubkey")?)?;
        let owner = pubkey("nodes.owner", row.try_get("owner")?)?;
        let gpu_model: String = row.try_get("gpu_model")?;
        let gpu_count = u64::try_from(row.try_get::<i32, _>("gpu_count")?)
            .context("nodes.gpu_count is negative")?;
        let staked = numeric("nodes.staked", row.try_get("staked")?)?.unwrap_or(0);
        let closed: bool = row.try_get("closed")?;
        let gpu_seconds = numeric("gpu_seconds", row.try_get("gpu_seconds")?)?.unwrap_or(0);
        let uptime_minutes = u64::try_from(row.try_get::<i64, _>("uptime_minutes")?)?;
        let uptime_seconds = uptime_minutes
            .checked_mul(60)
            .ok_or_else(|| anyhow!("uptime overflow"))?;
        if closed && gpu_seconds == 0 && uptime_seconds == 0 {
            continue; // a node closed before the window: nothing to report.
        }
        let weight_permille = weights.permille(&gpu_model);
        let required = stake_per_gpu
            .checked_mul(u128::from(gpu_count))
            .ok_or_else(|| anyhow!("stake_per_gpu × gpu_count overflows"))?;
        let score = WORK_OVER_UPTIME
            .checked_mul(gpu_seconds)
            .and_then(|work| {
                u128::from(gpu_count)
                    .checked_mul(u128::from(uptime_seconds))
                    .and_then(|up| work.checked_add(up))
            })
            .and_then(|s| s.checked_mul(u128::from(weight_permille)))
            .ok_or_else(|| anyhow!("score of node {node} overflows u128"))?;
        let excluded = if closed {
            Some("closed".to_string())
        } else if staked < required {
            Some(format!(
                "stake below minimum ({staked} < {stake_per_gpu} × {gpu_count} GPUs)"
            ))
        } else if score == 0 {
            Some("no delivered GPU-seconds and no uptime in the window".to_string())
        } else {
            None
        };
        nodes.push(NodeReward {
            node,
            owner,
            gpu_model,
            gpu_count,
            gpu_seconds,
            uptime_seconds,
            weight_permille,
            score,
            amount: 0,
            excluded,
        });
    }

    let total_score = nodes
        .iter()
        .filter(|n| n.excluded.is_none())
        .try_fold(0u128, |sum, n| sum.checked_add(n.score))
        .ok_or_else(|| anyhow!("sum of scores overflows u128"))?;
    ensure!(
        total_score > 0,
        "no eligible node: none of the {} nodes considered delivered work or was up in [{from}, {to}) with enough stake",
        nodes.len()
    );
    let mut allocations = Vec::new();
    for n in nodes.iter_mut().filter(|n| n.excluded.is_none()) {
        let share = u128::from(amount)
            .checked_mul(n.score)
            .ok_or_else(|| anyhow!("amount × score of node {} overflows u128", n.node))?
            / total_score;
        // share ≤ amount, so it fits in u64.
        n.amount = u64::try_from(share).expect("a share is at most the amount");
        if n.amount == 0 {
            n.excluded = Some("share rounds down to 0".to_string());
        } else {
            allocations.push(Allocation {
                node: n.node,
                owner: n.owner,
                amount: n.amount,
            });
        }
    }
    ensure!(
        !allocations.is_empty(),
        "no eligible node: every share of {amount} rounds down to 0"
    );
    let tree = RewardTree::build(epoch, allocations)?;
    Ok(EpochRewards { nodes, tree })
}

/// The table printed by the command.
pub fn table(rewards: &EpochRewards) -> String {
    let mut out = format!(
        "{:<44} {:<44} {:<16} {:>14} {:>10} {:>24} {:>20}  excluded\n",
        "node", "owner", "model", "gpu-seconds", "uptime-s", "score", "amount"
    );
    for n in &rewards.nodes {
        out.push_str(&format!(
            "{:<44} {:<44} {:<16} {:>14} {:>10} {:>24} {:>20}  {}\n",
            n.node.to_string(),
            n.owner.to_string(),
            n.gpu_model,
            n.gpu_seconds,
            n.uptime_seconds,
            n.score,
            n.amount,
            n.excluded.as_deref().unwrap_or("")
        ));
    }
    out.push_str(&format!(
        "epoch {}: {} leaves, total {} (root {})\n",
        rewards.tree.epoch(),
        rewards.tree.num_leaves(),
        rewards.tree.total(),
        iomesh_rewards::to_hex(&rewards.tree.root())
    ));
    out
}

/// Runs the command: compute, write the file, print, publish if asked.
pub async fn run(args: RewardArgs) -> anyhow::Result<()> {
    let weights = match &args.weights {
        Some(path) => ClassWeights::from_json(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading weights file {}", path.display()))?,
        )?,
        None => ClassWeights::default(),
    };
    if args.publish {
        ensure!(
            args.claim_window_secs > 0,
            "--claim-window-secs must be positive"
        );
    }
    let pool = crate::db::connect(&args.database_url, 2)
        .await
        .context("connecting to Postgres and applying migrations")?;
    check_history(&pool, args.from, args.to, args.allow_history_gaps).await?;
    let rewards = compute(&pool, args.epoch, args.from, args.to, args.amount, &weights).await?;
    let file: EpochFile = rewards.tree.to_file();
    file.write_json(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    print!("{}", table(&rewards));
    println!("wrote {}", args.out.display());
    if args.publish {
        let keypair = args.keypair.as_ref().expect("clap requires --keypair");
        let signatures = publish(
            &args.rpc_url,
            keypair,
            &rewards.tree,
            args.claim_window_secs,
        )
        .await?;
        if signatures.is_empty() {
            println!(
                "epoch {} was already published with this allocation",
                args.epoch
            );
        }
        for s in signatures {
            println!("signature {s}");
        }
    }
    Ok(())
}

/// Sends publish_epoch signed by the reward authority, then grow_epoch until
/// the epoch account holds its whole claim bitmap. An epoch already published
/// with the same root, total and leaf count is only grown (a resumed run).
pub async fn publish(
    rpc_url: &str,
    keypair: &std::path::Path,
    tree: &RewardTree,
    claim_window_secs: i64,
) -> anyhow::Result<Vec<solana_signature::Signature>> {
    use iomesh::state::{RewardEpoch, MAX_ACCOUNT_GROWTH};
    use iomesh_client::{client::Client, instructions};
    let authority = solana_keypair::read_keypair_file(keypair)
        .map_err(|err| anyhow!("reading keypair {}: {err}", keypair.display()))?;
    let client = Client::new(
        rpc_url,
        solana_commitment_config::CommitmentConfig::confirmed(),
    );
    let io = client.io_mint().await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let claim_deadline = now
        .checked_add(claim_window_secs)
        .ok_or_else(|| anyhow!("--claim-window-secs overflows"))?;
    use solana_signer::Signer;
    let publish = instructions::publish_epoch(
        &authority.pubkey(),
        &io,
        iomesh::PublishEpochArgs {
            epoch: tree.epoch(),
            merkle_root: tree.root(),
            total_amount: tree.total(),
            num_leaves: tree.num_leaves(),
            claim_deadline,
        },
    );
    let full = RewardEpoch::account_len(tree.num_leaves());
    let address = iomesh_client::pda::epoch(tree.epoch());
    let mut signatures = Vec::new();
    // Re-running after a failed grow resumes it; another allocation is refused.
    let mut len = match client.account(&address).await? {
        Some(account) => {
            let published: RewardEpoch =
                iomesh_client::accounts::decode(&address, &account.owner, &account.data)?;
            ensure!(
                published.merkle_root == tree.root()
                    && published.total_amount == tree.total()
                    && published.num_leaves == tree.num_leaves(),
                "epoch {} is already published on-chain with another allocation (root {}, total {}, {} leaves)",
                tree.epoch(),
                iomesh_rewards::to_hex(&published.merkle_root),
                published.total_amount,
                published.num_leaves
            );
            account.data.len()
        }
        None => {
            signatures.push(client.send(&[publish], &authority, &[]).await?);
            full.min(MAX_ACCOUNT_GROWTH)
        }
    };
    while len < full {
        let grow = grow_epoch(tree.epoch(), &authority.pubkey());
        signatures.push(client.send(&[grow], &authority, &[]).await?);
        len = full.min(len + MAX_ACCOUNT_GROWTH);
    }
    Ok(signatures)
}

fn grow_epoch(epoch: u64, payer: &Pubkey) -> iomesh_client::instructions::Instruction {
    use anchor_lang::{InstructionData, ToAccountMetas};
    iomesh_client::instructions::Instruction {
        program_id: iomesh::ID,
        accounts: iomesh::accounts::GrowEpoch {
            epoch: iomesh_client::pda::epoch(epoch),
            payer: *payer,
            system_program: anchor_lang::system_program::ID,
        }
        .to_account_metas(None),
        data: iomesh::instruction::GrowEpoch {}.data(),
    }
}
