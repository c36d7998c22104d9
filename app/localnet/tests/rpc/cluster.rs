use crate::common::{client, localnet, poll};
use solana_commitment_config::CommitmentConfig;

#[tokio::test(flavor = "multi_thread")]
async fn version_health_and_slots_advance_by_commitment() {
    let localnet = localnet().await;
    let rpc = client(&localnet, CommitmentConfig::processed());

    let version = rpc.get_version().await.expect("getVersion");
    assert_eq!(
        version.solana_core,
        solana_version::Version::default().to_string()
    );
    assert!(version.feature_set.is_some());
    rpc.get_health().await.expect("getHealth");
    // What load balancers and stock tooling probe: plain GET /health.
    let health = reqwest::get(format!("{}/health", localnet.rpc_url()))
        .await
        .expect("GET /health");
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    let schedule = rpc.get_epoch_schedule().await.expect("getEpochSchedule");
    assert!(schedule.slots_per_epoch > 0);

    let start = rpc.get_slot().await.expect("getSlot");
    let processed = poll("slot to advance", || async {
        let slot = rpc.get_slot().await.ok()?;
        (slot >= start + 3).then_some(slot)
    })
    .await;
    // Read in this order so each value is at least the previous one even
    // if a slot passes between the calls.
    let finalized = rpc
        .get_slot_with_commitment(CommitmentConfig::finalized())
        .await
        .unwrap();
    let confirmed = rpc
        .get_slot_with_commitment(CommitmentConfig::confirmed())
        .await
        .unwrap();
    let latest = rpc.get_slot().await.unwrap();
    assert!(finalized <= confirmed && confirmed <= latest && processed <= latest);
    // One consistent snapshot: confirmed is one slot behind, finalized two
    // (the default depth).
    let slots = localnet.slots();
    assert_eq!(slots.confirmed, slots.processed - 1);
    assert_eq!(slots.finalized, slots.processed - 2);

    let epoch = rpc.get_epoch_info().await.expect("getEpochInfo");
    let height = rpc.get_block_height().await.expect("getBlockHeight");
    assert!(height >= epoch.block_height);
    let genesis = rpc.get_genesis_hash().await.expect("getGenesisHash");
    assert_eq!(genesis, rpc.get_genesis_hash().await.unwrap());
    assert!(epoch.absolute_slot >= start);
    let (blockhash, last_valid) = rpc
        .get_latest_blockhash_with_commitment(CommitmentConfig::finalized())
        .await
        .expect("getLatestBlockhash");
    assert!(last_valid > epoch.block_height);
    assert!(rpc
        .is_blockhash_valid(&blockhash, CommitmentConfig::processed())
        .await
        .expect("isBlockhashValid"));
    assert!(!rpc
        .is_blockhash_valid(
            &solana_hash::Hash::new_unique(),
            CommitmentConfig::processed()
        )
        .await
        .unwrap());
    let rent = rpc
        .get_minimum_balance_for_rent_exemption(165)
        .await
        .expect("getMinimumBalanceForRentExemption");
    assert_eq!(rent, solana_rent::Rent::default().minimum_balance(165));

    // Blocks: one sealed every slot, none skipped, each with its time.
    let finalized = rpc
        .get_slot_with_commitment(CommitmentConfig::finalized())
        .await
        .unwrap();
    let blocks = rpc.get_blocks(1, None).await.expect("getBlocks");
    assert_eq!(blocks.first(), Some(&1));
    assert!(blocks.windows(2).all(|w| w[1] == w[0] + 1), "{blocks:?}");
    let newest = *blocks.last().unwrap();
    assert!(newest >= finalized, "{newest} < {finalized}");
    assert_eq!(
        rpc.get_blocks(newest, Some(newest)).await.unwrap(),
        vec![newest]
    );
    // An end past the finalized slot is cut there.
    let clipped = rpc.get_blocks(newest, Some(newest + 1_000)).await.unwrap();
    assert!(clipped.len() < 1_000 && clipped[0] == newest, "{clipped:?}");
    let time = rpc.get_block_time(newest).await.expect("getBlockTime");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - time).abs() < 60, "block time {time}, now {now}");
    assert!(rpc.get_block_time(1).await.unwrap() <= time);
    let future = rpc.get_block_time(newest + 1_000).await.unwrap_err();
    assert!(
        future.to_string().contains("Block not available for slot"),
        "{future}"
    );
    // The supply and the one-validator set.
    let supply = rpc.supply().await.expect("getSupply").value;
    assert!(supply.total > 0);
    assert_eq!(supply.circulating + supply.non_circulating, supply.total);
    let votes = rpc.get_vote_accounts().await.expect("getVoteAccounts");
    let all: Vec<_> = votes.current.iter().chain(&votes.delinquent).collect();
    assert_eq!(all.len(), 1, "{votes:?}");
    assert!(all[0].activated_stake > 0, "{votes:?}");
    // Asked for a slot of a known epoch, so an epoch passing meanwhile
    // changes nothing.
    let epochs = rpc.get_epoch_schedule().await.unwrap();
    let epoch = rpc.get_epoch_info().await.unwrap().epoch;
    let schedule = rpc
        .get_leader_schedule(Some(epochs.get_first_slot_in_epoch(epoch)))
        .await
        .expect("getLeaderSchedule")
        .expect("this epoch's schedule");
    assert_eq!(schedule.len(), 1, "one leader");
    let led: &Vec<usize> = schedule.values().next().unwrap();
    assert_eq!(led.len() as u64, epochs.get_slots_in_epoch(epoch));
    assert!(led.iter().enumerate().all(|(i, s)| i == *s));

    // The one node, serving JSON-RPC and PubSub, led by the leader above.
    let nodes = rpc.get_cluster_nodes().await.expect("getClusterNodes");
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    assert_eq!(&nodes[0].pubkey, schedule.keys().next().unwrap());
    assert_eq!(nodes[0].rpc, Some(localnet.rpc_addr()));
    assert_eq!(nodes[0].pubsub, Some(localnet.pubsub_addr()));
    assert_eq!(nodes[0].version, Some(version.solana_core.clone()));

    // Inflation rewards: an epoch's are read from the first block of the
    // next, so the current epoch's are not available; an ended epoch paid
    // nothing to an address (the localnet has no stake earning inflation).
    let who = solana_pubkey::Pubkey::new_unique();
    let current = rpc.get_epoch_info().await.unwrap().epoch;
    let unfinished = rpc
        .get_inflation_reward(&[who], Some(current))
        .await
        .unwrap_err();
    assert!(
        unfinished.to_string().contains("Block not available"),
        "{unfinished}"
    );
    // The warmup's first epoch is 32 slots: wait for it to end.
    poll("epoch 0 to end", || async {
        (rpc.get_epoch_info().await.ok()?.epoch >= 1).then_some(())
    })
    .await;
    let ended = rpc
        .get_inflation_reward(&[who], Some(0))
        .await
        .expect("getInflationReward of an ended epoch");
    assert_eq!(ended, vec![None]);
    let bad = rpc
        .send::<serde_json::Value>(
            solana_rpc_client_api::request::RpcRequest::GetInflationReward,
            serde_json::json!([["not a pubkey"], {"epoch": 0}]),
        )
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("Invalid"), "{bad}");

    let snapshot = rpc.get_highest_snapshot_slot().await.unwrap_err();
    assert!(snapshot.to_string().contains("No snapshot"), "{snapshot}");

    // The identity leads every slot; explorers' methods agree with the above.
    let identity = rpc.get_identity().await.expect("getIdentity");
    assert_eq!(identity.to_string(), nodes[0].pubkey);
    let leader: String = rpc
        .send(
            solana_rpc_client_api::request::RpcRequest::GetSlotLeader,
            serde_json::json!([]),
        )
        .await
        .expect("getSlotLeader");
    assert_eq!(leader, identity.to_string());
    let slot = rpc.get_slot().await.unwrap();
    assert_eq!(
        rpc.get_slot_leaders(slot, 3).await.expect("getSlotLeaders"),
        vec![identity; 3]
    );
    let too_many = rpc.get_slot_leaders(slot, 5_001).await.unwrap_err();
    assert!(
        too_many.to_string().contains("Invalid limit; max 5000"),
        "{too_many}"
    );
    // (getBlocksWithLimit reads finalized blocks unless told otherwise.)
    let finalized = rpc
        .get_slot_with_commitment(CommitmentConfig::finalized())
        .await
        .unwrap();
    let blocks = rpc
        .get_blocks_with_limit(finalized - 2, 2)
        .await
        .expect("getBlocksWithLimit");
    assert_eq!(blocks, vec![finalized - 2, finalized - 1]);
    let count = || async {
        rpc.get_transaction_count_with_commitment(CommitmentConfig::confirmed())
            .await
            .expect("getTransactionCount")
    };
    let before = count().await;
    crate::common::funded(&rpc, 1_000_000_000).await;
    let after = count().await;
    assert!(after > before, "{before} then {after}: the airdrop counts");
    localnet.shutdown().await;
}
