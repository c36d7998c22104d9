//! Instructions of the program with arbitrary accounts, flags and data shaped
//! by the IDL, sent as transactions to a localnet bank (the program natively
//! hosted with the runtime's account rules). Refusals are expected; a program
//! panic, a hang, or books that no longer balance are findings.
//!
//! The books, checked every few cases: per payment mint, the vault holds at
//! least the escrow open leases still hold plus every credit and unswept fee
//! kept in it; every node's GPUs in use are the GPUs of its open leases.

use super::world::World;
use crate::{gen::Gen, Fuzz, Outcome, Problem};
use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::{AccountMeta, Instruction};
use iomesh::state::{Credit, Lease, Node, PaymentMint};
use iomesh_client::pda;
use serde_json::Value;
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction::Transaction;
use std::collections::BTreeMap;

const IDL: &str = include_str!("../../../idl/iomesh.json");

/// One instruction's shape, read from the IDL.
struct Shape {
    name: String,
    discriminator: Vec<u8>,
    /// (name, fixed address, writable, signer) per named account.
    accounts: Vec<(String, Option<Pubkey>, bool, bool)>,
    args: Vec<Value>,
}

pub struct ProgramFuzz {
    world: World,
    shapes: Vec<Shape>,
    types: BTreeMap<String, Value>,
    /// The next nonce for a lease the fuzzer creates.
    nonce: u64,
}

impl ProgramFuzz {
    pub async fn setup() -> anyhow::Result<Self> {
        let idl: Value = serde_json::from_str(IDL)?;
        let shapes = idl["instructions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|ix| Shape {
                name: ix["name"].as_str().unwrap_or_default().to_string(),
                discriminator: ix["discriminator"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|b| b.as_u64().map(|b| b as u8))
                    .collect(),
                accounts: ix["accounts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        (
                            a["name"].as_str().unwrap_or_default().to_string(),
                            a["address"].as_str().and_then(|s| s.parse().ok()),
                            a["writable"].as_bool().unwrap_or(false),
                            a["signer"].as_bool().unwrap_or(false),
                        )
                    })
                    .collect(),
                args: ix["args"].as_array().cloned().unwrap_or_default(),
            })
            .collect();
        let types = idl["types"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                (
                    t["name"].as_str().unwrap_or_default().to_string(),
                    t["type"].clone(),
                )
            })
            .collect();
        Ok(Self {
            world: World::start().await?,
            shapes,
            types,
            nonce: 100,
        })
    }

    /// Borsh bytes of a value of IDL type `ty`, edge values favoured.
    fn arg(&self, gen: &mut Gen, ty: &Value, depth: u32, out: &mut Vec<u8>) {
        if let Some(name) = ty.as_str() {
            match name {
                "bool" => {
                    let values = if gen.chance(0.9) { 2 } else { 256 };
                    out.push(gen.below(values) as u8)
                }
                "u8" | "i8" => out.push(gen.unsigned(8) as u8),
                "u16" | "i16" => out.extend((gen.unsigned(16) as u16).to_le_bytes()),
                "u32" => out.extend((gen.unsigned(32) as u32).to_le_bytes()),
                "i32" => out.extend((gen.signed(32) as i32).to_le_bytes()),
                "u64" => out.extend((gen.unsigned(64) as u64).to_le_bytes()),
                "i64" => out.extend((gen.signed(64) as i64).to_le_bytes()),
                "u128" | "i128" => out.extend(gen.unsigned(128).to_le_bytes()),
                "pubkey" => out.extend(gen.pick(&self.world.pool).to_bytes()),
                "string" | "bytes" => {
                    let bytes = if name == "string" {
                        gen.text(48).into_bytes()
                    } else {
                        gen.bytes(64)
                    };
                    out.extend((bytes.len() as u32).to_le_bytes());
                    out.extend(bytes);
                }
                _ => out.extend(gen.bytes(8)),
            }
            return;
        }
        if let Some([inner, len]) = ty["array"].as_array().map(Vec::as_slice) {
            for _ in 0..len.as_u64().unwrap_or(0) {
                self.arg(gen, inner, depth, out);
            }
        } else if let Some(inner) = ty.get("vec") {
            let len = if depth > 2 { 0 } else { gen.below(20) };
            out.extend((len as u32).to_le_bytes());
            for _ in 0..len {
                self.arg(gen, inner, depth + 1, out);
            }
        } else if let Some(inner) = ty.get("option") {
            let some = gen.chance(0.5);
            out.push(some as u8);
            if some {
                self.arg(gen, inner, depth + 1, out);
            }
        } else if let Some(name) = ty["defined"]["name"].as_str() {
            let Some(def) = self.types.get(name) else {
                return;
            };
            match def["kind"].as_str() {
                Some("struct") => {
                    for field in def["fields"].as_array().into_iter().flatten() {
                        self.arg(gen, &field["type"], depth + 1, out);
                    }
                }
                Some("enum") => {
                    let variants = def["variants"].as_array().map_or(1, Vec::len);
                    // Mostly a real variant, sometimes one past the end.
                    let past_the_end = usize::from(gen.chance(0.1));
                    out.push(gen.below(variants + past_the_end) as u8);
                }
                _ => {}
            }
        }
    }

    /// An account for a slot: its fixed address mostly, else an address of
    /// the kind its name asks for, else anything from the pool.
    fn account(&self, gen: &mut Gen, name: &str, fixed: Option<Pubkey>) -> Pubkey {
        if let Some(address) = fixed.filter(|_| gen.chance(0.9)) {
            return address;
        }
        match self.world.by_name.get(name) {
            Some(candidates) if gen.chance(0.85) => *gen.pick(candidates),
            _ => *gen.pick(&self.world.pool),
        }
    }

    fn instruction(&self, gen: &mut Gen) -> (String, Instruction) {
        let shape = gen.pick(&self.shapes);
        let mut accounts: Vec<AccountMeta> = shape
            .accounts
            .iter()
            .map(|(name, fixed, writable, signer)| {
                let (writable, signer) = (*writable, *signer);
                let pubkey = self.account(gen, name, *fixed);
                let writable = if gen.chance(0.9) { writable } else { !writable };
                let signable = self.world.signers.iter().any(|s| s.pubkey() == pubkey);
                let signer = signable && (if gen.chance(0.9) { signer } else { !signer });
                AccountMeta {
                    pubkey,
                    is_signer: signer,
                    is_writable: writable,
                }
            })
            .collect();
        if gen.chance(0.2) {
            for _ in 0..1 + gen.below(6) {
                accounts.push(AccountMeta::new(*gen.pick(&self.world.pool), false));
            }
        }
        let mut data = if gen.chance(0.95) {
            shape.discriminator.clone()
        } else {
            gen.bytes(8)
        };
        if gen.chance(0.9) {
            for arg in &shape.args {
                self.arg(gen, &arg["type"], 0, &mut data);
            }
        } else {
            data.extend(gen.bytes(200));
        }
        (
            shape.name.clone(),
            Instruction {
                program_id: iomesh::ID,
                accounts,
                data,
            },
        )
    }
}

/// The fuzzer's wallets, as `World::start` orders them.
const AUTHORITY: usize = 0;
const RENTER: usize = 1;
const OWNER: usize = 2;
const OPERATOR: usize = 3;

impl ProgramFuzz {
    /// An instruction the program should accept in the world's current
    /// state, built with the client library: the seed that mutations start
    /// from, so that fuzzed inputs reach past the first checks.
    async fn valid_instruction(&mut self, gen: &mut Gen) -> Option<(&'static str, Instruction)> {
        use iomesh_client::{instructions as ix, LeaseRole};
        let key = |i: usize| self.world.signers[i].pubkey();
        let client = &self.world.client;
        let leases = client
            .leases(LeaseRole::Renter, &key(RENTER))
            .await
            .unwrap_or_default();
        let mint = *gen.pick(&self.world.mints);
        let pick = |gen: &mut Gen, active: bool| {
            let matching: Vec<Pubkey> = leases
                .iter()
                .filter(|(_, l)| (l.status == iomesh::state::LeaseStatus::Active) == active)
                .map(|(address, _)| *address)
                .collect();
            (!matching.is_empty()).then(|| *gen.pick(&matching))
        };
        Some(match gen.below(12) {
            0..=2 => {
                self.nonce += 1;
                let args = iomesh::CreateLeaseArgs {
                    nonce: self.nonce,
                    gpus: 1 + gen.below(2) as u16,
                    duration_secs: 60 + gen.below(600) as u32,
                    max_price_per_gpu_hour: u64::MAX,
                    job_spec_hash: gen.array(),
                };
                let node = self.world.node;
                (
                    "create_lease",
                    ix::create_lease(&key(RENTER), &key(RENTER), &node, &mint, args),
                )
            }
            3 => (
                "activate_lease",
                ix::activate_lease(&key(OPERATOR), &pick(gen, false)?),
            ),
            4 => (
                "settle_lease",
                client.lease_keys(&pick(gen, true)?).await.ok()?.0.settle(),
            ),
            5 => (
                "extend_lease",
                client
                    .lease_keys(&{
                        let active = gen.chance(0.5);
                        pick(gen, active)?
                    })
                    .await
                    .ok()?
                    .0
                    .extend(&key(RENTER), 60),
            ),
            6 => {
                let active = gen.chance(0.5);
                (
                    "cancel_lease",
                    client
                        .lease_keys(&pick(gen, active)?)
                        .await
                        .ok()?
                        .0
                        .cancel(),
                )
            }
            7 => (
                "close_lease",
                client.lease_keys(&pick(gen, true)?).await.ok()?.0.close(),
            ),
            8 => (
                "expire_lease",
                client.lease_keys(&pick(gen, false)?).await.ok()?.0.expire(),
            ),
            9 => {
                let now = client
                    .rpc()
                    .get_block_time(client.rpc().get_slot().await.ok()?)
                    .await
                    .ok()?;
                (
                    "report_failure",
                    client
                        .lease_keys(&pick(gen, true)?)
                        .await
                        .ok()?
                        .0
                        .report_failure(&key(AUTHORITY), now - gen.below(30) as i64),
                )
            }
            10 => {
                let status = if gen.chance(0.7) {
                    iomesh::state::NodeStatus::Available
                } else {
                    iomesh::state::NodeStatus::Paused
                };
                (
                    "set_node_status",
                    ix::set_node_status(&key(OWNER), &self.world.node, status),
                )
            }
            _ => ("sweep_fees", ix::sweep_fees(&key(AUTHORITY), &mint)),
        })
    }

    /// One change to a valid instruction: another account in one slot, a
    /// flag flipped, a byte of data changed, data cut or grown, accounts added.
    fn mutate(&self, gen: &mut Gen, instruction: &mut Instruction) {
        let slots = instruction.accounts.len();
        match gen.below(6) {
            0 if slots > 0 => {
                let slot = gen.below(slots);
                instruction.accounts[slot].pubkey = *gen.pick(&self.world.pool);
            }
            1 if slots > 0 => {
                let slot = gen.below(slots);
                instruction.accounts[slot].is_writable ^= true;
            }
            2 if instruction.data.len() > 8 => {
                let at = 8 + gen.below(instruction.data.len() - 8);
                instruction.data[at] = gen.unsigned(8) as u8;
            }
            3 => {
                let keep = gen.below(instruction.data.len() + 1);
                instruction.data.truncate(keep);
            }
            4 => instruction.data.extend(gen.bytes(16)),
            _ => {
                for _ in 0..1 + gen.below(4) {
                    let extra = *gen.pick(&self.world.pool);
                    instruction.accounts.push(AccountMeta::new(extra, false));
                }
            }
        }
        // A signer the fuzzer cannot sign for would only fail to sign.
        for meta in instruction.accounts.iter_mut() {
            meta.is_signer &= self.world.signers.iter().any(|s| s.pubkey() == meta.pubkey);
        }
    }
}

impl Fuzz for ProgramFuzz {
    async fn case(&mut self, gen: &mut Gen) -> Result<Outcome, Problem> {
        let seeded = if gen.chance(0.6) {
            self.valid_instruction(gen).await
        } else {
            None
        };
        let (name, instruction) = match seeded {
            Some((name, mut instruction)) => {
                let mutated = gen.chance(0.5);
                if mutated {
                    self.mutate(gen, &mut instruction);
                }
                (
                    format!("{name}{}", if mutated { " (mutated)" } else { "" }),
                    instruction,
                )
            }
            None => self.instruction(gen),
        };
        let input = format!("{name}: {instruction:?}");
        let signers: Vec<&Keypair> = std::iter::once(&self.world.fee_payer)
            .chain(self.world.signers.iter().filter(|s| {
                instruction
                    .accounts
                    .iter()
                    .any(|m| m.is_signer && m.pubkey == s.pubkey())
            }))
            .collect();
        let rpc = self.world.client.rpc();
        let blockhash = rpc
            .get_latest_blockhash()
            .await
            .map_err(|e| Problem::new(&input, format!("getLatestBlockhash: {e}")))?;
        let tx = Transaction::new_signed_with_payer(
            &[instruction],
            Some(&self.world.fee_payer.pubkey()),
            &signers,
            blockhash,
        );
        match rpc.send_and_confirm_transaction(&tx).await {
            Ok(_) => Ok(format!("{name} ok")),
            Err(err) => {
                let text = format!("{err:?}");
                if text.contains("ProgramFailedToComplete") || text.contains("panicked") {
                    Err(Problem::new(input, format!("the program panicked: {err}")))
                } else {
                    Ok(format!("{name} refused"))
                }
            }
        }
    }

    async fn check(&mut self) -> Result<(), Problem> {
        let client = &self.world.client;
        let fail =
            |what: &str, e: iomesh_client::Error| Problem::new("books", format!("{what}: {e}"));
        let leases: Vec<(Pubkey, Lease)> = client
            .fetch_all(vec![])
            .await
            .map_err(|e| fail("leases", e))?;
        let credits: Vec<(Pubkey, Credit)> = client
            .fetch_all(vec![])
            .await
            .map_err(|e| fail("credits", e))?;
        let mints: Vec<(Pubkey, PaymentMint)> = client
            .fetch_all(vec![])
            .await
            .map_err(|e| fail("payment mints", e))?;
        for (_, mint) in &mints {
            let mut escrow = 0u64;
            for (address, lease) in leases.iter().filter(|(_, l)| l.mint == mint.mint) {
                let unspent = lease.deposited.checked_sub(lease.paid_out).ok_or_else(|| {
                    Problem::new(
                        "books",
                        format!("lease {address} paid out more than it holds"),
                    )
                })?;
                escrow += unspent;
            }
            let credited: u64 = credits
                .iter()
                .filter(|(_, c)| c.vault == mint.vault)
                .map(|(_, c)| c.amount)
                .sum();
            let owed = escrow + credited + mint.unswept_fees;
            let held = client
                .token_balance(&pda::vault(&mint.mint))
                .await
                .map_err(|e| fail("vault", e))?;
            if held < owed {
                return Err(Problem::new(
                    "books",
                    format!(
                        "vault of {} holds {held}, less than the {owed} it owes (escrow {escrow}, credits {credited}, unswept {})",
                        mint.mint, mint.unswept_fees
                    ),
                ));
            }
        }
        let nodes: Vec<(Pubkey, Node)> = client
            .fetch_all(vec![])
            .await
            .map_err(|e| fail("nodes", e))?;
        for (address, node) in nodes {
            let in_use: u64 = leases
                .iter()
                .filter(|(_, l)| l.node == address)
                .map(|(_, l)| u64::from(l.gpus))
                .sum();
            if in_use != u64::from(node.gpus_in_use) || node.gpus_in_use > node.gpu_count {
                return Err(Problem::new(
                    "books",
                    format!(
                        "node {address}: {} GPUs in use, its open leases hold {in_use} (of {})",
                        node.gpus_in_use, node.gpu_count
                    ),
                ));
            }
        }
        Ok(())
    }

    async fn shutdown(self) {
        self.world.shutdown().await;
    }
}
