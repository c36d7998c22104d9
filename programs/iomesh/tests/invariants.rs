//! Property test: random sequences of create / activate / settle / extend /
//! cancel / report_failure / expire / close across several renters, nodes and
//! mints, with clock jumps. A reference model predicts, independently of the
//! program, whether each step succeeds and where every base unit goes. After
//! every step the chain must agree with the model to the base unit, and the
//! invariants of the design notes must hold:
//! - per mint, the vault holds exactly the escrow still owed by open leases,
//!   and the sum of all token accounts equals the mint's supply (conservation);
//! - a node's GPUs in use equal the GPUs of its open leases, within capacity;
//! - no second is paid twice: each lease's payout equals the floor of its rate
//!   over the seconds it was actually billed, never more.
//!
//! `PROPTEST_CASES` sets the number of sequences (CI default below; see the
//! README for the longer run); `IOMESH_PROPTEST_STATS=1` prints each step's
//! outcome, to check that every operation both succeeds and is refused often.

mod common;

use anchor_lang::prelude::Pubkey;
use common::*;
use iomesh::state::{Lease, LeaseStatus};
use proptest::prelude::*;
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::collections::BTreeMap;

const RENTERS: usize = 3;
const NODE_GPUS: [u16; 3] = [1, 4, 8];
/// Deliberately not round, so rounding is exercised on every payment.
const NODE_PRICES: [u64; 3] = [1_234_567, 2_000_001, 777_777];
const FUNDING: u64 = 1_000_000 * TOKEN;

#[derive(Clone, Debug)]
enum Op {
    Create {
        renter: usize,
        sponsored: bool,
        node: usize,
        mint: usize,
        gpus: u16,
        secs: u32,
    },
    Activate {
        lease: usize,
    },
    Settle {
        lease: usize,
    },
    Extend {
        lease: usize,
        by_payer: bool,
        secs: u32,
    },
    Cancel {
        lease: usize,
    },
    ReportFailure {
        lease: usize,
        back_secs: i64,
    },
    Expire {
        lease: usize,
    },
    Close {
        lease: usize,
    },
    Warp {
        secs: i64,
    },
    /// The price authority refreshes the IO price (it goes stale after an hour).
    RefreshIoPrice,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..RENTERS, any::<bool>(), 0..NODE_GPUS.len(), 0..3usize, 1u16..4, prop_oneof![3 => 60u32..3_600, 1 => 3_600u32..20_000])
            .prop_map(|(renter, sponsored, node, mint, gpus, secs)| Op::Create { renter, sponsored, node, mint, gpus, secs }),
        4 => (0..16usize).prop_map(|lease| Op::Activate { lease }),
        2 => (0..16usize).prop_map(|lease| Op::Settle { lease }),
        1 => (0..16usize, any::<bool>(), 1u32..10_000).prop_map(|(lease, by_payer, secs)| Op::Extend { lease, by_payer, secs }),
        1 => (0..16usize).prop_map(|lease| Op::Cancel { lease }),
        1 => (0..16usize, 0i64..600).prop_map(|(lease, back_secs)| Op::ReportFailure { lease, back_secs }),
        1 => (0..16usize).prop_map(|lease| Op::Expire { lease }),
        2 => (0..16usize).prop_map(|lease| Op::Close { lease }),
        4 => prop_oneof![6 => 1i64..300, 3 => 300i64..3_000, 1 => 3_000i64..30_000].prop_map(|secs| Op::Warp { secs }),
        1 => Just(Op::RefreshIoPrice),
    ]
}

/// The model's view of one lease (independent of the program's code).
#[derive(Clone, Debug)]
struct ModelLease {
    address: Pubkey,
    renter: usize,
    /// `None`: the renter pays; `Some`: the sponsor pays.
    sponsored: bool,
    node: usize,
    mint: usize,
    gpus: u16,
    rate: u64,
    fee_bps: u16,
    duration: u32,
    deposited: u64,
    paid_out: u64,
    created_at: i64,
    activated_at: Option<i64>,
    settled_until: i64,
    open: bool,
}

fn ceil_cost(rate: u64, gpus: u16, secs: u64) -> u64 {
    let n = rate as u128 * gpus as u128 * secs as u128;
    n.div_ceil(3_600) as u64
}
fn floor_accrued(rate: u64, gpus: u16, secs: u64) -> u64 {
    (rate as u128 * gpus as u128 * secs as u128 / 3_600) as u64
}

struct World {
    env: TestEnv,
    mints: [TestMint; 3],
    fee_bps: [u16; 3],
    usd_price: [u64; 3],
    renters: Vec<Keypair>,
    sponsor: Keypair,
    nodes: Vec<TestNode>,
    leases: Vec<ModelLease>,
    /// Expected token balance of every token account the test knows, per mint.
    balances: BTreeMap<Pubkey, u64>,
    nonce: u64,
    /// When the IO price was last set (IO leases need it at most an hour old).
    io_price_at: i64,
}

impl World {
    async fn new() -> Self {
        let mut env = TestEnv::new().await;
        let mints = [env.io, env.usdc, env.iosd];
        let mut nodes = Vec::new();
        for (gpus, price) in NODE_GPUS.into_iter().zip(NODE_PRICES) {
            nodes.push(
                env.register_node_with(TestEnv::node_spec(gpus, price))
                    .await
                    .unwrap(),
            );
        }
        let mut renters = Vec::new();
        for _ in 0..RENTERS {
            renters.push(env.wallet().await);
        }
        let sponsor = env.wallet().await;
        let mut balances = BTreeMap::new();
        for mint in mints {
            for wallet in renters.iter().chain([&sponsor]) {
                let ata = env.fund(&wallet.pubkey(), mint, FUNDING).await;
                balances.insert(ata, FUNDING);
            }
            for node in &nodes {
                balances.insert(mint.ata(&node.owner.pubkey()), 0);
            }
            balances.insert(mint.ata(&env.keys.treasury.pubkey()), 0);
            balances.insert(mint.vault(), 0);
        }
        let io_price_at = env.payment_mint(&mints[0]).await.price_updated_at;
        World {
            io_price_at,
            env,
            mints,
            fee_bps: [IO_FEE_BPS, USDC_FEE_BPS, IOSD_FEE_BPS],
            usd_price: [IO_PRICE_MICROS, 1_000_000, 1_000_000],
            renters,
            sponsor,
            nodes,
            leases: Vec::new(),
            balances,
            nonce: 0,
        }
    }

    fn payer_of(&self, lease: &ModelLease) -> Pubkey {
        if lease.sponsored {
            self.sponsor.pubkey()
        } else {
            self.renters[lease.renter].pubkey()
        }
    }

    fn move_tokens(&mut self, mint: usize, from: Pubkey, to: Pubkey, amount: u64) {
        let _ = mint;
        *self.balances.get_mut(&from).expect("known account") -= amount;
        *self.balances.get_mut(&to).expect("known account") += amount;
    }

    /// Pays a lease up to `until` in the model, as the rules say it must be paid.
    fn model_settle(&mut self, index: usize, until: i64) -> u64 {
        let lease = self.leases[index].clone();
        let activated = lease.activated_at.expect("active");
        let end = activated + i64::from(lease.duration);
        let until = until.min(end).max(lease.settled_until);
        let total = floor_accrued(lease.rate, lease.gpus, (until - activated) as u64);
        let payout = total - lease.paid_out;
        let fee = (payout as u128 * lease.fee_bps as u128 / 10_000) as u64;
        let mint = self.mints[lease.mint];
        let owner = self.nodes[lease.node].owner.pubkey();
        let treasury = self.env.keys.treasury.pubkey();
        self.move_tokens(lease.mint, mint.vault(), mint.ata(&owner), payout - fee);
        self.move_tokens(lease.mint, mint.vault(), mint.ata(&treasury), fee);
        let l = &mut self.leases[index];
        l.paid_out = total;
        l.settled_until = until;
        payout
    }

    fn model_finish(&mut self, index: usize) {
        let lease = self.leases[index].clone();
        let mint = self.mints[lease.mint];
        let payer = self.payer_of(&lease);
        self.move_tokens(
            lease.mint,
            mint.vault(),
            mint.ata(&payer),
            lease.deposited - lease.paid_out,
        );
        self.leases[index].open = false;
    }

    /// An active lease if there is one (so paying operations are exercised often), else any open one.
    fn active_index(&self, pick: usize) -> Option<usize> {
        let active: Vec<usize> = (0..self.leases.len())
            .filter(|i| self.leases[*i].open && self.leases[*i].activated_at.is_some())
            .collect();
        if active.is_empty() {
            self.open_index(pick)
        } else {
            Some(active[pick % active.len()])
        }
    }

    /// A pending lease if there is one, else any open one.
    fn pending_index(&self, pick: usize) -> Option<usize> {
        let pending: Vec<usize> = (0..self.leases.len())
            .filter(|i| self.leases[*i].open && self.leases[*i].activated_at.is_none())
            .collect();
        if pending.is_empty() {
            self.open_index(pick)
        } else {
            Some(pending[pick % pending.len()])
        }
    }

    fn open_index(&self, pick: usize) -> Option<usize> {
        let open: Vec<usize> = (0..self.leases.len())
            .filter(|i| self.leases[*i].open)
            .collect();
        (!open.is_empty()).then(|| open[pick % open.len()])
    }

    /// Applies one operation to the chain and the model; the two must agree on
    /// whether it succeeds.
    /// Returns `None` when there was no lease to apply the operation to.
    async fn apply(&mut self, op: &Op) -> Option<bool> {
        let now = self.env.now().await;
        match *op {
            Op::Warp { secs } => {
                self.env.warp(secs).await;
                Some(true)
            }
            Op::RefreshIoPrice => {
                self.env
                    .set_io_price(IO_PRICE_MICROS)
                    .await
                    .expect("refresh IO price");
                self.io_price_at = now;
                Some(true)
            }
            Op::Create {
                renter,
                sponsored,
                node,
                mint,
                gpus,
                secs,
            } => {
                self.nonce += 1;
                let rate = (NODE_PRICES[node] as u128 * 1_000_000u128)
                    .div_ceil(self.usd_price[mint] as u128) as u64;
                let in_use: u16 = self
                    .leases
                    .iter()
                    .filter(|l| l.open && l.node == node)
                    .map(|l| l.gpus)
                    .sum();
                let price_fresh = mint != 0 || now - self.io_price_at <= 3_600;
                let expect_ok =
                    in_use + gpus <= NODE_GPUS[node] && secs >= MARKET_MIN_LEASE && price_fresh;
                let renter_key = self.renters[renter].insecure_clone();
                let sponsor = self.sponsor.insecure_clone();
                let result = self
                    .env
                    .create_lease(LeaseRequest {
                        renter: &renter_key,
                        payer: sponsored.then_some(&sponsor),
                        node: self.nodes[node].address,
                        mint: self.mints[mint],
                        nonce: self.nonce,
                        gpus,
                        duration_secs: secs,
                        max_price_per_gpu_hour: rate,
                    })
                    .await;
                let ok = result.is_ok();
                assert_eq!(result.is_ok(), expect_ok, "create {op:?}: {result:?}");
                if let Ok(address) = result {
                    let deposited = ceil_cost(rate, gpus, u64::from(secs));
                    let model = ModelLease {
                        address,
                        renter,
                        sponsored,
                        node,
                        mint,
                        gpus,
                        rate,
                        fee_bps: self.fee_bps[mint],
                        duration: secs,
                        deposited,
                        paid_out: 0,
                        created_at: now,
                        activated_at: None,
                        settled_until: 0,
                        open: true,
                    };
                    let payer = self.payer_of(&model);
                    let m = self.mints[mint];
                    self.move_tokens(mint, m.ata(&payer), m.vault(), deposited);
                    self.leases.push(model);
                }
                Some(ok)
            }
            Op::Activate { lease } => {
                let Some(i) = self.pending_index(lease) else {
                    return None;
                };
                let l = self.leases[i].clone();
                let expect_ok =
                    l.activated_at.is_none() && now <= l.created_at + i64::from(ACTIVATION_TIMEOUT);
                let node = self.nodes[l.node].operator.insecure_clone();
                let ix = self
                    .env
                    .activate_ix(l.address, self.nodes[l.node].address, node.pubkey());
                let result = self.env.send(&[ix], &[&node]).await;
                let ok = result.is_ok();
                assert_eq!(result.is_ok(), expect_ok, "activate {op:?}: {result:?}");
                if result.is_ok() {
                    self.leases[i].activated_at = Some(now);
                    self.leases[i].settled_until = now;
                }
                Some(ok)
            }
            Op::Settle { lease } => {
                let Some(i) = self.active_index(lease) else {
                    return None;
                };
                let l = self.leases[i].clone();
                let result = self.env.settle(l.address).await;
                let ok = result.is_ok();
                match l.activated_at {
                    None => assert!(result.is_err(), "settle of a pending lease must fail"),
                    Some(_) => {
                        let mut probe = self.clone_lease_model(i);
                        let payout = probe.model_payout(now);
                        assert_eq!(result.is_ok(), payout > 0, "settle {op:?}: {result:?}");
                        if result.is_ok() {
                            self.model_settle(i, now);
                        }
                    }
                }
                Some(ok)
            }
            Op::Extend {
                lease,
                by_payer,
                secs,
            } => {
                let Some(i) = self.open_index(lease) else {
                    return None;
                };
                let l = self.leases[i].clone();
                let funder = if by_payer && l.sponsored {
                    self.sponsor.insecure_clone()
                } else {
                    self.renters[l.renter].insecure_clone()
                };
                let max = (7 * 24 * HOUR) as i64;
                let remaining = match l.activated_at {
                    None => (now <= l.created_at + i64::from(ACTIVATION_TIMEOUT))
                        .then_some(i64::from(l.duration)),
                    Some(a) => {
                        let end = a + i64::from(l.duration);
                        (now < end).then_some(end - now)
                    }
                };
                let expect_ok = matches!(remaining, Some(r) if r + i64::from(secs) <= max);
                let result = self.env.extend(l.address, &funder, secs).await;
                let ok = result.is_ok();
                assert_eq!(result.is_ok(), expect_ok, "extend {op:?}: {result:?}");
                if result.is_ok() {
                    let deposited = ceil_cost(l.rate, l.gpus, u64::from(l.duration + secs));
                    let m = self.mints[l.mint];
                    self.move_tokens(
                        l.mint,
                        m.ata(&funder.pubkey()),
                        m.vault(),
                        deposited - l.deposited,
                    );
                    self.leases[i].duration += secs;
                    self.leases[i].deposited = deposited;
                }
                Some(ok)
            }
            Op::Cancel { lease } => {
                let Some(i) = self.open_index(lease) else {
                    return None;
                };
                let l = self.leases[i].clone();
                let renter = self.renters[l.renter].insecure_clone();
                let result = self.env.cancel(l.address, &renter).await;
                let ok = result.is_ok();
                assert!(result.is_ok(), "cancel {op:?}: {result:?}");
                if l.activated_at.is_some() {
                    self.model_settle(i, now);
                }
                self.model_finish(i);
                Some(ok)
            }
            Op::ReportFailure { lease, back_secs } => {
                let Some(i) = self.active_index(lease) else {
                    return None;
                };
                let l = self.leases[i].clone();
                let failed_at = now - back_secs;
                let expect_ok = matches!(l.activated_at, Some(a) if failed_at >= a && failed_at < a + i64::from(l.duration));
                let result = self.env.report_failure(l.address, failed_at).await;
                let ok = result.is_ok();
                assert_eq!(
                    result.is_ok(),
                    expect_ok,
                    "report_failure {op:?}: {result:?}"
                );
                if result.is_ok() {
                    self.model_settle(i, failed_at);
                    self.model_finish(i);
                }
                Some(ok)
            }
            Op::Expire { lease } => {
                let Some(i) = self.pending_index(lease) else {
                    return None;
                };
                let l = self.leases[i].clone();
                let expect_ok =
                    l.activated_at.is_none() && now > l.created_at + i64::from(ACTIVATION_TIMEOUT);
                let result = self.env.expire(l.address).await;
                let ok = result.is_ok();
                assert_eq!(result.is_ok(), expect_ok, "expire {op:?}: {result:?}");
                if result.is_ok() {
                    self.model_finish(i);
                }
                Some(ok)
            }
            Op::Close { lease } => {
                let Some(i) = self.active_index(lease) else {
                    return None;
                };
                let l = self.leases[i].clone();
                let expect_ok =
                    matches!(l.activated_at, Some(a) if now >= a + i64::from(l.duration));
                let result = self.env.close(l.address).await;
                let ok = result.is_ok();
                assert_eq!(result.is_ok(), expect_ok, "close {op:?}: {result:?}");
                if result.is_ok() {
                    self.model_settle(i, now);
                    self.model_finish(i);
                }
                Some(ok)
            }
        }
    }

    fn clone_lease_model(&self, index: usize) -> ModelLease {
        self.leases[index].clone()
    }

    /// Checks the chain against the model and the design invariants.
    async fn check(&mut self, step: usize) {
        // Every known token account holds exactly what the model says.
        let expected: Vec<(Pubkey, u64)> = self.balances.iter().map(|(k, v)| (*k, *v)).collect();
        for (account, amount) in expected {
            assert_eq!(
                self.env.balance(account).await,
                amount,
                "step {step}: balance of {account}"
            );
        }
        for (m, mint) in self.mints.into_iter().enumerate() {
            // Vault = escrow still owed by open leases of this mint.
            let owed: u64 = self
                .leases
                .iter()
                .filter(|l| l.open && l.mint == m)
                .map(|l| l.deposited - l.paid_out)
                .sum();
            assert_eq!(
                self.env.balance(mint.vault()).await,
                owed,
                "step {step}: vault of mint {m}"
            );
            // Conservation: the mint's supply is all in accounts the test knows.
            let data = self.env.account_data(mint.mint).await.unwrap();
            let supply = u64::from_le_bytes(data[36..44].try_into().unwrap());
            let held: u64 = self
                .balances
                .iter()
                .filter(|(k, _)| self.is_account_of_mint(k, &mint))
                .map(|(_, v)| *v)
                .sum();
            assert_eq!(
                held, supply,
                "step {step}: tokens created or lost in mint {m}"
            );
        }
        for (n, node) in self
            .nodes
            .iter()
            .map(|n| n.address)
            .enumerate()
            .collect::<Vec<_>>()
        {
            let state = self.env.node(node).await;
            let reserved: u16 = self
                .leases
                .iter()
                .filter(|l| l.open && l.node == n)
                .map(|l| l.gpus)
                .sum();
            let open = self.leases.iter().filter(|l| l.open && l.node == n).count() as u32;
            assert_eq!(
                state.gpus_in_use, reserved,
                "step {step}: capacity of node {n}"
            );
            assert_eq!(
                state.open_leases, open,
                "step {step}: open leases of node {n}"
            );
            assert!(state.gpus_in_use <= state.gpu_count);
        }
        for l in self.leases.clone() {
            let chain: Option<Lease> = self.env.lease(l.address).await;
            if !l.open {
                assert!(
                    chain.is_none(),
                    "step {step}: ended lease {} still exists",
                    l.address
                );
                continue;
            }
            let chain = chain.expect("open lease exists");
            assert_eq!(chain.deposited, l.deposited, "step {step}: deposit");
            assert_eq!(chain.paid_out, l.paid_out, "step {step}: paid out");
            assert_eq!(
                chain.settled_until, l.settled_until,
                "step {step}: settled until"
            );
            // No second paid twice: payout is the floor of the rate over billed seconds.
            if let Some(a) = l.activated_at {
                assert_eq!(chain.status, LeaseStatus::Active);
                assert_eq!(
                    chain.paid_out,
                    floor_accrued(l.rate, l.gpus, (l.settled_until - a) as u64)
                );
                assert!(l.settled_until <= a + i64::from(l.duration));
            } else {
                assert_eq!(chain.status, LeaseStatus::Pending);
                assert_eq!(chain.paid_out, 0);
            }
        }
    }

    fn is_account_of_mint(&self, account: &Pubkey, mint: &TestMint) -> bool {
        *account == mint.vault()
            || self
                .renters
                .iter()
                .chain([&self.sponsor])
                .map(|w| w.pubkey())
                .chain(self.nodes.iter().map(|n| n.owner.pubkey()))
                .chain([self.env.keys.treasury.pubkey()])
                .any(|owner| mint.ata(&owner) == *account)
    }
}

impl ModelLease {
    fn model_payout(&mut self, now: i64) -> u64 {
        let a = self.activated_at.expect("active");
        let until = now
            .min(a + i64::from(self.duration))
            .max(self.settled_until);
        floor_accrued(self.rate, self.gpus, (until - a) as u64) - self.paid_out
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_lease_sequences_conserve_tokens_capacity_and_seconds(ops in proptest::collection::vec(op(), 10..50)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mut world = World::new().await;
            world.check(0).await;
            let stats = std::env::var_os("IOMESH_PROPTEST_STATS").is_some();
            for (step, op) in ops.iter().enumerate() {
                let succeeded = world.apply(op).await;
                if stats {
                    let kind = format!("{op:?}");
                    eprintln!("op {} {}", kind.split([' ', '{']).next().unwrap_or(""), match succeeded { Some(true) => "ok", Some(false) => "refused", None => "skipped" });
                }
                world.check(step + 1).await;
            }
        });
    }
}
