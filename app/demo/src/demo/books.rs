//! The demo's books: what each lease should have paid by the program's own
//! rules, checked against the token balances actually moved on-chain.

use anchor_lang::prelude::Pubkey;
use anyhow::{anyhow, Context as _, Result};
use iomesh_client::client::Signature;
use iomesh_client::{iomesh::math, Client, TokenMint};
use serde::Serialize;
use solana_transaction_status_client_types::UiTransactionEncoding;
use std::collections::{BTreeMap, HashMap};

/// How a lease ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    /// Served its whole duration, then closed.
    Ended,
    /// Cancelled by the renter at `at` (unix s).
    Cancelled { at: i64 },
    /// Reported failed by the scheduler: service last seen at `at` (unix s).
    Failed { at: i64 },
}

/// One lease, as the demo ran it.
pub struct LeaseRecord {
    pub label: String,
    pub renter: &'static str,
    pub node: &'static str,
    pub gpus: u16,
    pub symbol: &'static str,
    pub decimals: u8,
    pub rate_per_gpu_hour: u64,
    pub fee_bps: u16,
    pub deposited: u64,
    pub duration_secs: u32,
    pub activated_at: i64,
    pub outcome: Outcome,
    pub dispatch_ms: Option<i64>,
}

/// A lease's money by the program's rules.
#[derive(Clone, Debug, Serialize)]
pub struct LeaseMoney {
    pub served_secs: u64,
    /// Paid out of escrow for the seconds served (supplier + fee).
    pub payout: u64,
    pub fee: u64,
    pub to_supplier: u64,
    pub refund: u64,
}

impl LeaseRecord {
    pub fn served_secs(&self) -> u64 {
        let end = match self.outcome {
            Outcome::Ended => self.activated_at + i64::from(self.duration_secs),
            Outcome::Cancelled { at } | Outcome::Failed { at } => at,
        };
        u64::try_from(end - self.activated_at).unwrap_or(0)
    }

    pub fn money(&self) -> Result<LeaseMoney> {
        let served_secs = self.served_secs();
        let payout = math::accrued_payout(self.rate_per_gpu_hour, self.gpus, served_secs)
            .map_err(|e| anyhow!("payout of {}: {e:?}", self.label))?;
        let fee = math::network_fee(payout, self.fee_bps)
            .map_err(|e| anyhow!("fee of {}: {e:?}", self.label))?;
        Ok(LeaseMoney {
            served_secs,
            payout,
            fee,
            to_supplier: payout - fee,
            refund: self
                .deposited
                .checked_sub(payout)
                .ok_or_else(|| anyhow!("{} paid out more than its deposit", self.label))?,
        })
    }
}

/// Token balances of a set of accounts at one moment.
pub struct Snapshot(HashMap<Pubkey, u64>);

impl Snapshot {
    pub async fn take(client: &Client, accounts: &[Pubkey]) -> Result<Self> {
        let mut balances = HashMap::new();
        for account in accounts {
            balances.insert(*account, client.token_balance(account).await?);
        }
        Ok(Self(balances))
    }

    pub fn get(&self, account: &Pubkey) -> u64 {
        self.0.get(account).copied().unwrap_or(0)
    }
}

/// Whose balances the books compare, per mint symbol.
pub struct Parties {
    pub mints: BTreeMap<&'static str, MintInfo>,
    pub suppliers: Vec<Pubkey>,
    /// Renter wallet and the symbol it pays with.
    pub renters: Vec<(Pubkey, &'static str)>,
    pub treasury: Pubkey,
}

pub struct MintInfo {
    pub mint: TokenMint,
    pub decimals: u8,
    pub usd_price_micros: u64,
    pub vault: Pubkey,
}

impl Parties {
    /// Every token account the books read.
    pub fn accounts(&self) -> Vec<Pubkey> {
        let mut accounts = Vec::new();
        for info in self.mints.values() {
            accounts.push(info.vault);
            accounts.push(info.mint.ata(&self.treasury));
            accounts.extend(self.suppliers.iter().map(|s| info.mint.ata(s)));
        }
        for (renter, symbol) in &self.renters {
            accounts.push(self.mints[symbol].mint.ata(renter));
        }
        accounts
    }
}

/// Totals of one mint, in its base units.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MintTotals {
    pub decimals: u8,
    pub deposited: u64,
    pub paid_to_suppliers: u64,
    pub fees: u64,
    pub refunded: u64,
}

/// One reconciliation: the program's rules against the balances moved.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    pub fn new(name: impl Into<String>, ok: bool, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ok,
            detail: detail.into(),
        }
    }

    fn equal(name: String, expected: u64, measured: u64) -> Self {
        Self::new(
            name,
            expected == measured,
            format!("expected {expected}, moved on-chain {measured}"),
        )
    }
}

/// Per-mint totals from the leases, and the checks against `before`/`after`.
pub fn reconcile(
    leases: &[LeaseRecord],
    parties: &Parties,
    before: &Snapshot,
    after: &Snapshot,
) -> Result<(BTreeMap<&'static str, MintTotals>, Vec<Check>)> {
    let mut totals: BTreeMap<&'static str, MintTotals> = BTreeMap::new();
    for lease in leases {
        let money = lease.money()?;
        let t = totals.entry(lease.symbol).or_default();
        t.decimals = lease.decimals;
        t.deposited += lease.deposited;
        t.paid_to_suppliers += money.to_supplier;
        t.fees += money.fee;
        t.refunded += money.refund;
    }
    let delta = |account: &Pubkey| after.get(account).wrapping_sub(before.get(account));
    let mut checks = Vec::new();
    for (symbol, t) in &totals {
        let info = &parties.mints[symbol];
        let suppliers: u64 = parties
            .suppliers
            .iter()
            .map(|s| delta(&info.mint.ata(s)))
            .sum();
        checks.push(Check::equal(
            format!("{symbol}: suppliers received what the served seconds earned, minus the fee"),
            t.paid_to_suppliers,
            suppliers,
        ));
        checks.push(Check::equal(
            format!("{symbol}: the treasury received the network fees"),
            t.fees,
            delta(&info.mint.ata(&parties.treasury)),
        ));
        // A renter's balance fell by its deposits and rose by its refunds.
        let renters = parties.renters.iter().filter(|(_, s)| s == symbol);
        let (mut spent_before, mut left_after) = (0u64, 0u64);
        for (renter, _) in renters {
            spent_before += before.get(&info.mint.ata(renter));
            left_after += after.get(&info.mint.ata(renter));
        }
        let refunded = (left_after + t.deposited).wrapping_sub(spent_before);
        checks.push(Check::equal(
            format!("{symbol}: renters were refunded every second not served"),
            t.refunded,
            refunded,
        ));
        let (vault_before, vault_after) = (before.get(&info.vault), after.get(&info.vault));
        checks.push(Check::new(
            format!("{symbol}: the escrow vault holds nothing of the demo's leases"),
            vault_before == vault_after,
            format!("{vault_before} before the leases, {vault_after} after"),
        ));
    }
    Ok((totals, checks))
}

/// The block time (unix s) of a confirmed transaction: the second it ran at.
pub async fn block_time(client: &Client, signature: &Signature) -> Result<i64> {
    let transaction = client
        .rpc()
        .get_transaction(signature, UiTransactionEncoding::Json)
        .await
        .with_context(|| format!("reading transaction {signature}"))?;
    transaction
        .block_time
        .ok_or_else(|| anyhow!("transaction {signature} has no block time"))
}

/// Nearest-rank percentile of `samples` (sorted here), `p` in 0..=100.
pub fn percentile(samples: &[i64], p: u32) -> Option<i64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = (u64::from(p) * sorted.len() as u64).div_ceil(100).max(1);
    sorted.get(rank as usize - 1).copied()
}

/// `units` of a mint priced at `usd_price_micros` per whole token, in micro-USD.
pub fn usd_micros(units: u64, decimals: u8, usd_price_micros: u64) -> u64 {
    let value = u128::from(units) * u128::from(usd_price_micros) / 10u128.pow(u32::from(decimals));
    u64::try_from(value).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(outcome: Outcome) -> LeaseRecord {
        LeaseRecord {
            label: "#1".into(),
            renter: "alice",
            node: "n",
            gpus: 2,
            symbol: "USDC",
            decimals: 6,
            rate_per_gpu_hour: 3_600_000,
            fee_bps: 200,
            deposited: 120_000,
            duration_secs: 60,
            activated_at: 1_000,
            outcome,
            dispatch_ms: None,
        }
    }

    #[test]
    fn money_follows_the_outcome() {
        let full = lease(Outcome::Ended).money().unwrap();
        assert_eq!(
            (full.served_secs, full.payout, full.fee),
            (60, 120_000, 2_400)
        );
        assert_eq!((full.to_supplier, full.refund), (117_600, 0));
        let cancelled = lease(Outcome::Cancelled { at: 1_015 }).money().unwrap();
        assert_eq!((cancelled.served_secs, cancelled.payout), (15, 30_000));
        assert_eq!(cancelled.refund, 90_000);
        let failed = lease(Outcome::Failed { at: 1_000 }).money().unwrap();
        assert_eq!((failed.payout, failed.refund), (0, 120_000));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 99), Some(7));
        let samples = [5, 1, 4, 2, 3];
        assert_eq!(percentile(&samples, 50), Some(3));
        assert_eq!(percentile(&samples, 99), Some(5));
    }

    #[test]
    fn usd_value_of_token_units() {
        // 12.5 IO at $0.50.
        assert_eq!(usd_micros(12_500_000, 6, 500_000), 6_250_000);
    }
}
