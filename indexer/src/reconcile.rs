//! Reconciliation over JSON-RPC: on start, and whenever the stream cannot
//! replay from the resume cursor, Postgres is brought to the chain's state at
//! one slot. `getProgramAccounts` (withContext) gives every program account at
//! the context slot; the vaults named by the payment mints and the market's IO
//! token accounts come from
//! `getMultipleAccounts`. Rows are stamped (context slot, SNAPSHOT_WRITE_VERSION),
//! so the guard orders them after every streamed write of that slot; rows
//! Postgres holds alive that the chain no longer has become tombstones, once
//! the history since the cursor has been backfilled (`history`).

use crate::{
    decode::{decode, Decoded},
    error::{Error, Result},
    history::History,
    metrics::Metrics,
    update::{AccountUpdate, SNAPSHOT_WRITE_VERSION},
    writer::{Batch, Writer},
};
use solana_account_decoder_client_types::{UiAccount, UiAccountEncoding};
use solana_commitment_config::CommitmentConfig;
use solana_pubkey::Pubkey;
use solana_rpc_client_api::{
    config::{RpcAccountInfoConfig, RpcProgramAccountsConfig},
    request::RpcRequest,
    response::{OptionalContext, RpcKeyedAccount},
};
use std::{collections::HashSet, str::FromStr};

/// The chain's accounts at one slot.
#[derive(Debug)]
pub struct Snapshot {
    /// Context slot of getProgramAccounts: the stream resumes here.
    pub slot: u64,
    /// Live accounts (program accounts and vaults), each at its context slot.
    pub accounts: Vec<AccountUpdate>,
    /// Vaults named by a payment mint that the chain does not have.
    pub missing_vaults: Vec<(Pubkey, u64)>,
}

/// Reads the chain through the history's RPC client: one connection pool.
pub struct Reconciler {
    history: History,
    program_id: Pubkey,
    commitment: CommitmentConfig,
}

/// Largest getMultipleAccounts request an RPC node accepts.
const MULTIPLE_ACCOUNTS_LIMIT: usize = 100;

impl Reconciler {
    pub fn new(rpc_url: String, program_id: Pubkey, commitment: CommitmentConfig) -> Self {
        Self {
            history: History::new(rpc_url, program_id, commitment),
            program_id,
            commitment,
        }
    }

    fn account_config(&self) -> RpcAccountInfoConfig {
        RpcAccountInfoConfig {
            encoding: Some(UiAccountEncoding::Base64Zstd),
            commitment: Some(self.commitment),
            ..RpcAccountInfoConfig::default()
        }
    }

    /// Reads every program account and vault from the chain.
    pub async fn snapshot(&self) -> Result<Snapshot> {
        let config = RpcProgramAccountsConfig {
            filters: None,
            account_config: self.account_config(),
            with_context: Some(true),
            sort_results: Some(false),
        };
        let response: OptionalContext<Vec<RpcKeyedAccount>> = self
            .history
            .rpc()
            .send(
                RpcRequest::GetProgramAccounts,
                serde_json::json!([self.program_id.to_string(), config]),
            )
            .await
            .map_err(|source| Error::Rpc {
                method: "getProgramAccounts",
                source: Box::new(source),
            })?;
        let OptionalContext::Context(response) = response else {
            return Err(Error::NoContext {
                method: "getProgramAccounts",
            });
        };
        let slot = response.context.slot;
        let mut accounts = Vec::with_capacity(response.value.len());
        let mut vaults = Vec::new();
        for keyed in response.value {
            let pubkey = parse_pubkey("getProgramAccounts", &keyed.pubkey)?;
            let update = to_update("getProgramAccounts", pubkey, &keyed.account, slot)?;
            match decode(&self.program_id, &update.owner, &update.data) {
                Decoded::PaymentMint(mint) => vaults.push(mint.vault),
                // The IO token accounts exist once the market names its IO mint.
                Decoded::Market(market) if market.io_mint != Pubkey::default() => {
                    vaults.extend(io_vaults(&self.program_id));
                }
                _ => {}
            }
            accounts.push(update);
        }

        let mut missing_vaults = Vec::new();
        for chunk in vaults.chunks(MULTIPLE_ACCOUNTS_LIMIT) {
            let response = self
                .history
                .rpc()
                .get_multiple_ui_accounts_with_config(chunk, self.account_config())
                .await
                .map_err(|source| Error::Rpc {
                    method: "getMultipleAccounts",
                    source: Box::new(source),
                })?;
            let vault_slot = response.context.slot;
            for (pubkey, account) in chunk.iter().zip(response.value) {
                match account {
                    Some(account) => accounts.push(to_update(
                        "getMultipleAccounts",
                        *pubkey,
                        &account,
                        vault_slot,
                    )?),
                    None => missing_vaults.push((*pubkey, vault_slot)),
                }
            }
        }
        Ok(Snapshot {
            slot,
            accounts,
            missing_vaults,
        })
    }

    /// Re-reads some accounts at a slot at least `min_slot`, stamped like a
    /// snapshot; an account the chain does not have comes back as a closure.
    pub async fn accounts(&self, pubkeys: &[Pubkey], min_slot: u64) -> Result<Vec<AccountUpdate>> {
        let mut updates = Vec::with_capacity(pubkeys.len());
        for chunk in pubkeys.chunks(MULTIPLE_ACCOUNTS_LIMIT) {
            let response = self
                .history
                .rpc()
                .get_multiple_ui_accounts_with_config(
                    chunk,
                    RpcAccountInfoConfig {
                        min_context_slot: Some(min_slot),
                        ..self.account_config()
                    },
                )
                .await
                .map_err(|source| Error::Rpc {
                    method: "getMultipleAccounts",
                    source: Box::new(source),
                })?;
            let slot = response.context.slot;
            for (pubkey, account) in chunk.iter().zip(response.value) {
                updates.push(match account {
                    Some(account) => to_update("getMultipleAccounts", *pubkey, &account, slot)?,
                    None => AccountUpdate::closed(*pubkey, slot, SNAPSHOT_WRITE_VERSION),
                });
            }
        }
        Ok(updates)
    }

    /// Brings Postgres to the chain's state and moves the cursor to the
    /// snapshot's slot; returns that slot. With a cursor (an indexer that
    /// streamed before), the slots between it and the snapshot are first
    /// backfilled from transaction history, so accounts created and closed
    /// in between are not lost; rows alive in Postgres that the chain no
    /// longer has and the history did not close are then tombstoned.
    pub async fn reconcile(&self, writer: &Writer, chunk: usize, metrics: &Metrics) -> Result<u64> {
        let snapshot = self.snapshot().await?;
        let slot = snapshot.slot;
        let present: HashSet<Pubkey> = snapshot.accounts.iter().map(|a| a.pubkey).collect();
        let total = snapshot.accounts.len();
        let mut written = write_chunks(writer, snapshot.accounts, chunk, None).await?;
        if let Some(after) = writer.cursor().await?.filter(|cursor| *cursor < slot) {
            self.history.backfill(writer, metrics, after, slot).await?;
        }
        let live = writer.live_pubkeys().await?;
        let mut closures: Vec<AccountUpdate> = live
            .into_iter()
            .filter(|p| !present.contains(p))
            .map(|p| AccountUpdate::closed(p, slot, SNAPSHOT_WRITE_VERSION))
            .collect();
        closures.extend(
            snapshot
                .missing_vaults
                .into_iter()
                .map(|(p, slot)| AccountUpdate::closed(p, slot, SNAPSHOT_WRITE_VERSION)),
        );
        let gone = closures.len();
        written += write_chunks(writer, closures, chunk, Some(slot)).await?;
        tracing::info!(
            slot,
            accounts = total,
            gone,
            written,
            "reconciled with getProgramAccounts"
        );
        Ok(slot)
    }

    /// Writes every live account of a snapshot, leaving the cursor and the
    /// accounts the chain no longer has alone: on a start that resumes
    /// streaming from the cursor, this fills what a new migration added to
    /// the tables, while the replayed stream brings every write and closure
    /// since the cursor. Returns the snapshot's slot.
    pub async fn refresh(&self, writer: &Writer, chunk: usize) -> Result<u64> {
        let snapshot = self.snapshot().await?;
        let total = snapshot.accounts.len();
        let written = write_chunks(writer, snapshot.accounts, chunk, None).await?;
        tracing::info!(
            slot = snapshot.slot,
            accounts = total,
            written,
            "refreshed live accounts with getProgramAccounts"
        );
        Ok(snapshot.slot)
    }
}

/// Writes `updates` in transactions of at most `chunk`; the cursor (if any)
/// moves with the last one only, so a write cut short is simply run again.
async fn write_chunks(
    writer: &Writer,
    updates: Vec<AccountUpdate>,
    chunk: usize,
    cursor: Option<u64>,
) -> Result<usize> {
    let mut written = 0;
    let mut chunks = updates.chunks(chunk.max(1)).peekable();
    loop {
        let updates = chunks
            .next()
            .map(<[AccountUpdate]>::to_vec)
            .unwrap_or_default();
        let last = chunks.peek().is_none();
        if !updates.is_empty() || (last && cursor.is_some()) {
            written += writer
                .write(&Batch {
                    updates,
                    cursor: if last { cursor } else { None },
                    ..Batch::default()
                })
                .await?
                .written;
        }
        if last {
            return Ok(written);
        }
    }
}

fn parse_pubkey(method: &'static str, text: &str) -> Result<Pubkey> {
    Pubkey::from_str(text).map_err(|err| Error::RpcAccountEncoding {
        method,
        pubkey: text.to_owned(),
        reason: format!("invalid pubkey: {err}"),
    })
}

fn to_update(
    method: &'static str,
    pubkey: Pubkey,
    account: &UiAccount,
    slot: u64,
) -> Result<AccountUpdate> {
    let bad = |reason: String| Error::RpcAccountEncoding {
        method,
        pubkey: pubkey.to_string(),
        reason,
    };
    let data = account
        .data
        .decode()
        .ok_or_else(|| bad("data is not base64/base58 binary".into()))?;
    let owner = Pubkey::from_str(&account.owner).map_err(|err| bad(format!("owner: {err}")))?;
    Ok(AccountUpdate {
        pubkey,
        slot,
        write_version: SNAPSHOT_WRITE_VERSION,
        lamports: account.lamports,
        owner,
        data,
        created_at: None,
    })
}

/// The market's IO token accounts (stake vault, rewards reserve and escrow):
/// token accounts whose authority is the market PDA, like the escrow vaults.
pub fn io_vaults(program_id: &Pubkey) -> [Pubkey; 3] {
    [
        iomesh::seeds::STAKE_VAULT,
        iomesh::seeds::REWARDS_RESERVE,
        iomesh::seeds::REWARDS_ESCROW,
    ]
    .map(|seed| Pubkey::find_program_address(&[seed], program_id).0)
}
