//! The supply and the validator set, as a one-validator cluster has them:
//! supply, vote accounts, the leader schedule and slot leaders, the
//! identity, the cluster's nodes and inflation rewards, read from the bank.

use super::{params, RpcResult, RpcState};
use crate::bank::Chain;
use jsonrpc_core::Error;
use serde_json::Value;
use solana_clock::Slot;
use solana_rpc_client_api::{
    config::{
        RpcContextConfig, RpcEpochConfig, RpcGetVoteAccountsConfig, RpcLeaderScheduleConfig,
        RpcSupplyConfig,
    },
    custom_error::RpcCustomError,
    request::MAX_GET_SLOT_LEADERS,
    response::{
        RpcContactInfo, RpcIdentity, RpcInflationReward, RpcSupply, RpcVoteAccountInfo,
        RpcVoteAccountStatus,
    },
};
use std::collections::HashMap;

/// A vote account is delinquent when its last vote is this many slots back
/// (agave's default).
const DELINQUENT_SLOT_DISTANCE: u64 = 128;
/// Epoch credit history returned per vote account (agave's).
const EPOCH_CREDITS_HISTORY: usize = 5;

pub fn get_supply(chain: &Chain, p: Value) -> RpcResult {
    let (config,): (Option<RpcSupplyConfig>,) = params::parse(p, 1)?;
    let config = config.unwrap_or_default();
    let bank = params::bank(chain, config.commitment, None)?;
    let non_circulating =
        solana_runtime::non_circulating_supply::calculate_non_circulating_supply(&bank)
            .map_err(|err| Error::invalid_params(format!("supply scan failed: {err}")))?;
    let total = bank.capitalization();
    params::with_context(
        &bank,
        RpcSupply {
            total,
            circulating: total.saturating_sub(non_circulating.lamports),
            non_circulating: non_circulating.lamports,
            non_circulating_accounts: if config.exclude_non_circulating_accounts_list {
                Vec::new()
            } else {
                non_circulating
                    .accounts
                    .iter()
                    .map(ToString::to_string)
                    .collect()
            },
        },
    )
}

/// The bank's vote accounts; the localnet's validator does not vote, so
/// it is listed delinquent, as a validator that stopped voting would be.
pub fn get_vote_accounts(chain: &Chain, p: Value) -> RpcResult {
    let (config,): (Option<RpcGetVoteAccountsConfig>,) = params::parse(p, 1)?;
    let config = config.unwrap_or_default();
    let only = config
        .vote_pubkey
        .as_deref()
        .map(params::pubkey)
        .transpose()?;
    let bank = params::bank(chain, config.commitment, None)?;
    let distance = config
        .delinquent_slot_distance
        .unwrap_or(DELINQUENT_SLOT_DISTANCE);
    let mut status = RpcVoteAccountStatus {
        current: Vec::new(),
        delinquent: Vec::new(),
    };
    for (address, (stake, account)) in bank.vote_accounts().iter() {
        if only.is_some_and(|only| only != *address) {
            continue;
        }
        let view = account.vote_state_view();
        let mut credits: Vec<(u64, u64, u64)> = view
            .epoch_credits_iter()
            .map(|c| (c.epoch(), c.credits(), c.prev_credits()))
            .collect();
        credits = credits.split_off(credits.len().saturating_sub(EPOCH_CREDITS_HISTORY));
        let last_vote = view.last_voted_slot().unwrap_or(0);
        let info = RpcVoteAccountInfo {
            vote_pubkey: address.to_string(),
            node_pubkey: account.node_pubkey().to_string(),
            activated_stake: *stake,
            commission: view.commission(),
            epoch_vote_account: *stake > 0,
            epoch_credits: credits,
            last_vote,
            root_slot: view.root_slot().unwrap_or(0),
        };
        if last_vote + distance < bank.slot() {
            status.delinquent.push(info);
        } else {
            status.current.push(info);
        }
    }
    params::value(status)
}

/// Every slot of the epoch is led by the localnet's one validator.
pub fn get_leader_schedule(chain: &Chain, p: Value) -> RpcResult {
    let (slot, config): (Option<Value>, Option<RpcLeaderScheduleConfig>) = params::parse(p, 2)?;
    let (slot, config) = params::slot_or_config(slot, config)?;
    let config = config.unwrap_or_default();
    let bank = params::bank(chain, config.commitment, None)?;
    let slot: Slot = slot.unwrap_or_else(|| bank.slot());
    let schedule = bank.epoch_schedule();
    let epoch = schedule.get_epoch(slot);
    // A validator knows the schedule of the current and the next epoch.
    if epoch > bank.epoch() + 1 {
        return params::value(Value::Null);
    }
    let leader = bank.collector_id().to_string();
    if config.identity.as_deref().is_some_and(|id| id != leader) {
        return params::value(HashMap::<String, Vec<usize>>::new());
    }
    let slots = schedule.get_slots_in_epoch(epoch) as usize;
    params::value(HashMap::from([(
        leader,
        (0..slots).collect::<Vec<usize>>(),
    )]))
}

/// The one node of the localnet: its identity (the block producer) and the
/// addresses it serves. It has no gossip, TPU or repair ports: clients send
/// transactions over JSON-RPC.
pub fn get_cluster_nodes(state: &RpcState, p: Value) -> RpcResult {
    params::none(p)?;
    let bank = state
        .chain
        .bank(solana_commitment_config::CommitmentLevel::Processed);
    let version = solana_version::Version::default();
    params::value(vec![RpcContactInfo {
        pubkey: bank.collector_id().to_string(),
        gossip: None,
        tvu: None,
        tpu: None,
        tpu_quic: None,
        tpu_forwards: None,
        tpu_forwards_quic: None,
        tpu_vote: None,
        serve_repair: None,
        rpc: Some(state.rpc_addr),
        pubsub: Some(state.pubsub_addr),
        version: Some(version.to_string()),
        feature_set: Some(version.feature_set),
        shred_version: None,
    }])
}

/// Staking rewards of `addresses` for an epoch (the previous one by
/// default), as a validator reads them from the first block of the next
/// epoch: an error while that block does not exist yet or is no longer
/// kept; otherwise `null` for each address, since the localnet has no stake
/// accounts earning inflation.
pub fn get_inflation_reward(chain: &Chain, p: Value) -> RpcResult {
    let (addresses, config): (Option<Vec<String>>, Option<RpcEpochConfig>) = params::parse(p, 2)?;
    let addresses = addresses.unwrap_or_default();
    for address in &addresses {
        params::pubkey(address)?;
    }
    let config = config.unwrap_or_default();
    let bank = params::bank(chain, config.commitment, config.min_context_slot)?;
    let epoch = config
        .epoch
        .unwrap_or_else(|| bank.epoch().saturating_sub(1));
    let rewards_slot = bank
        .epoch_schedule()
        .get_first_slot_in_epoch(epoch.saturating_add(1));
    if rewards_slot > bank.slot() {
        return Err(RpcCustomError::BlockNotAvailable { slot: rewards_slot }.into());
    }
    let first_available_block = chain.ledger().first_complete_slot();
    if rewards_slot < first_available_block {
        return Err(RpcCustomError::BlockCleanedUp {
            slot: rewards_slot,
            first_available_block,
        }
        .into());
    }
    params::value(vec![None::<RpcInflationReward>; addresses.len()])
}

/// The localnet's validator identity (the bank's collector).
pub fn get_identity(chain: &Chain, p: Value) -> RpcResult {
    params::none(p)?;
    let bank = params::bank(chain, None, None)?;
    params::value(RpcIdentity {
        identity: bank.collector_id().to_string(),
    })
}

/// The leader of the slot at the commitment: always the one validator.
pub fn get_slot_leader(chain: &Chain, p: Value) -> RpcResult {
    let (config,): (Option<RpcContextConfig>,) = params::parse(p, 1)?;
    let config = config.unwrap_or_default();
    let bank = params::bank(chain, config.commitment, config.min_context_slot)?;
    params::value(bank.collector_id().to_string())
}

/// The leaders of `limit` slots from `start`, within the epochs whose
/// schedule a validator knows (the current and the next).
pub fn get_slot_leaders(chain: &Chain, p: Value) -> RpcResult {
    let (start, limit): (Slot, u64) = params::parse(p, 2)?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if limit > MAX_GET_SLOT_LEADERS {
        return Err(Error::invalid_params(format!(
            "Invalid limit; max {MAX_GET_SLOT_LEADERS}"
        )));
    }
    let bank = params::bank(chain, None, None)?;
    let schedule = bank.epoch_schedule();
    let known_until = schedule.get_last_slot_in_epoch(bank.epoch() + 1);
    if start > known_until {
        return Err(Error::invalid_params(format!(
            "Invalid slot range: leader schedule for epoch {} is unavailable",
            schedule.get_epoch(start)
        )));
    }
    let leader = bank.collector_id().to_string();
    let known = usize::try_from(known_until - start + 1).unwrap_or(usize::MAX);
    params::value(vec![leader; limit.min(known)])
}
