use crate::common::{
    confirmed_slot, create_mint, funded, grpc, is_slot_status, localnet_and_wallet,
    mint_with_holder, read_until, send, subscribed, watching, SOL,
};
use anchor_spl::{
    associated_token::{
        get_associated_token_address_with_program_id, spl_associated_token_account,
    },
    token::spl_token,
};
use base64::Engine;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use yellowstone_grpc_proto::prelude::{
    subscribe_request_filter_accounts_filter::Filter as AccountsFilterKind,
    subscribe_request_filter_accounts_filter_memcmp::Data as MemcmpData,
    subscribe_update::UpdateOneof, SlotStatus, SubscribeRequest, SubscribeRequestAccountsDataSlice,
    SubscribeRequestFilterAccounts, SubscribeRequestFilterAccountsFilter,
    SubscribeRequestFilterAccountsFilterMemcmp, SubscribeRequestFilterSlots,
    SubscribeUpdateAccountInfo,
};

const MINT_LEN: u64 = 82;
const TOKEN_ACCOUNT_LEN: u64 = 165;

fn memcmp(offset: u64, data: MemcmpData) -> SubscribeRequestFilterAccountsFilter {
    SubscribeRequestFilterAccountsFilter {
        filter: Some(AccountsFilterKind::Memcmp(
            SubscribeRequestFilterAccountsFilterMemcmp {
                offset,
                data: Some(data),
            },
        )),
    }
}

fn datasize(size: u64) -> SubscribeRequestFilterAccountsFilter {
    SubscribeRequestFilterAccountsFilter {
        filter: Some(AccountsFilterKind::Datasize(size)),
    }
}

fn slots() -> HashMap<String, SubscribeRequestFilterSlots> {
    [("slots".to_owned(), SubscribeRequestFilterSlots::default())].into()
}

fn token_amount(data: &[u8]) -> u64 {
    u64::from_le_bytes(data[64..72].try_into().unwrap())
}

/// One account update, flattened for assertions.
#[derive(Debug)]
struct Seen {
    filters: Vec<String>,
    slot: u64,
    account: SubscribeUpdateAccountInfo,
}

fn pubkey(bytes: &[u8]) -> Pubkey {
    Pubkey::try_from(bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn account_filters_by_pubkey_owner_memcmp_and_datasize_get_exactly_their_updates() {
    let (localnet, rpc, payer) = localnet_and_wallet(10 * SOL, CommitmentConfig::confirmed()).await;
    let (alice, bob, mint) = (Keypair::new(), Keypair::new(), Keypair::new());
    let token = spl_token::ID;
    let ata = |owner: &Keypair| {
        get_associated_token_address_with_program_id(&owner.pubkey(), &mint.pubkey(), &token)
    };
    let (alice_ata, bob_ata) = (ata(&alice), ata(&bob));

    let account_filter = |filter: SubscribeRequestFilterAccounts| filter;
    let request = SubscribeRequest {
        accounts: [
            (
                "by_pubkey".to_owned(),
                account_filter(SubscribeRequestFilterAccounts {
                    account: vec![alice_ata.to_string()],
                    ..Default::default()
                }),
            ),
            (
                "by_owner".to_owned(),
                SubscribeRequestFilterAccounts {
                    owner: vec![token.to_string()],
                    ..Default::default()
                },
            ),
            (
                // The token account owner field (offset 32) is bob: base58.
                "by_memcmp_base58".to_owned(),
                SubscribeRequestFilterAccounts {
                    owner: vec![token.to_string()],
                    filters: vec![memcmp(32, MemcmpData::Base58(bob.pubkey().to_string()))],
                    ..Default::default()
                },
            ),
            (
                // Token accounts of this mint: base64 memcmp AND datasize.
                "by_memcmp_base64".to_owned(),
                SubscribeRequestFilterAccounts {
                    filters: vec![
                        memcmp(
                            0,
                            MemcmpData::Base64(
                                base64::engine::general_purpose::STANDARD
                                    .encode(mint.pubkey().to_bytes()),
                            ),
                        ),
                        datasize(TOKEN_ACCOUNT_LEN),
                    ],
                    ..Default::default()
                },
            ),
            (
                "by_memcmp_bytes".to_owned(),
                SubscribeRequestFilterAccounts {
                    filters: vec![memcmp(
                        32,
                        MemcmpData::Bytes(alice.pubkey().to_bytes().to_vec()),
                    )],
                    ..Default::default()
                },
            ),
            (
                "by_datasize".to_owned(),
                SubscribeRequestFilterAccounts {
                    owner: vec![token.to_string()],
                    filters: vec![datasize(MINT_LEN)],
                    ..Default::default()
                },
            ),
        ]
        .into(),
        slots: slots(),
        ..Default::default()
    };
    let mut client = grpc(&localnet).await;
    let (_sink, mut stream) = subscribed(&mut client, request).await;
    // A sliced subscription of alice's token account: only the amount.
    let mut client2 = grpc(&localnet).await;
    let (_sink2, mut sliced) = subscribed(
        &mut client2,
        SubscribeRequest {
            accounts: watching("amount", &alice_ata),
            accounts_data_slice: vec![SubscribeRequestAccountsDataSlice {
                offset: 64,
                length: 8,
            }],
            ..Default::default()
        },
    )
    .await;

    let [create, init] = create_mint(&rpc, &payer.pubkey(), &mint.pubkey(), 6).await;
    let setup = [
        create,
        init,
        spl_associated_token_account::instruction::create_associated_token_account(
            &payer.pubkey(),
            &alice.pubkey(),
            &mint.pubkey(),
            &token,
        ),
        spl_associated_token_account::instruction::create_associated_token_account(
            &payer.pubkey(),
            &bob.pubkey(),
            &mint.pubkey(),
            &token,
        ),
        spl_token::instruction::mint_to(
            &token,
            &mint.pubkey(),
            &alice_ata,
            &payer.pubkey(),
            &[],
            1_000,
        )
        .unwrap(),
    ];
    let setup_sig = send(&rpc, &setup, &[&payer, &mint]).await;
    let setup_slot = confirmed_slot(&rpc, &setup_sig).await;
    let transfer =
        spl_token::instruction::transfer(&token, &alice_ata, &bob_ata, &alice.pubkey(), &[], 400)
            .unwrap();
    let transfer_sig = send(&rpc, &[transfer], &[&payer, &alice]).await;
    let transfer_slot = confirmed_slot(&rpc, &transfer_sig).await;

    // Everything of the transfer's slot precedes its processed status.
    let updates = read_until(&mut stream, |u| {
        is_slot_status(u, transfer_slot, SlotStatus::SlotProcessed)
    })
    .await;
    let seen: Vec<Seen> = updates
        .into_iter()
        .filter_map(|u| match u.update_oneof {
            Some(UpdateOneof::Account(a)) => Some(Seen {
                filters: u.filters,
                slot: a.slot,
                account: a.account.unwrap(),
            }),
            _ => None,
        })
        .collect();
    let mut by_filter: BTreeMap<&str, Vec<&Seen>> = BTreeMap::new();
    for s in &seen {
        for name in &s.filters {
            by_filter.entry(name.as_str()).or_default().push(s);
        }
    }
    let pubkeys = |name: &str| -> Vec<Pubkey> {
        by_filter
            .get(name)
            .map(|v| v.iter().map(|s| pubkey(&s.account.pubkey)).collect())
            .unwrap_or_default()
    };
    // One write per account per transaction that touched it.
    assert_eq!(pubkeys("by_pubkey"), vec![alice_ata, alice_ata]);
    assert_eq!(
        pubkeys("by_owner").into_iter().collect::<BTreeSet<_>>(),
        BTreeSet::from([mint.pubkey(), alice_ata, bob_ata])
    );
    assert_eq!(
        pubkeys("by_owner").len(),
        5,
        "mint once, each token account twice"
    );
    assert_eq!(pubkeys("by_memcmp_base58"), vec![bob_ata, bob_ata]);
    assert_eq!(
        pubkeys("by_memcmp_base64")
            .into_iter()
            .collect::<BTreeSet<_>>(),
        BTreeSet::from([alice_ata, bob_ata])
    );
    assert_eq!(pubkeys("by_memcmp_bytes"), vec![alice_ata, alice_ata]);
    assert_eq!(pubkeys("by_datasize"), vec![mint.pubkey()]);

    // Alice's token account: values, slots, signatures, write versions.
    let alice_updates = &by_filter["by_pubkey"];
    let token_rent = rpc
        .get_minimum_balance_for_rent_exemption(TOKEN_ACCOUNT_LEN as usize)
        .await
        .unwrap();
    for (update, (slot, signature, amount)) in alice_updates.iter().zip([
        (setup_slot, setup_sig, 1_000),
        (transfer_slot, transfer_sig, 600),
    ]) {
        assert_eq!(update.slot, slot);
        assert_eq!(update.account.lamports, token_rent);
        assert_eq!(pubkey(&update.account.owner), token);
        assert_eq!(update.account.data.len(), TOKEN_ACCOUNT_LEN as usize);
        assert_eq!(token_amount(&update.account.data), amount);
        assert_eq!(&update.account.data[..32], mint.pubkey().as_ref());
        assert_eq!(&update.account.data[32..64], alice.pubkey().as_ref());
        assert_eq!(
            update.account.txn_signature.as_deref(),
            Some(signature.as_ref())
        );
        assert!(!update.account.executable);
    }
    assert!(alice_updates[0].account.write_version < alice_updates[1].account.write_version);
    // Every update names exactly the filters that match it.
    let alice_filters: BTreeSet<&str> = alice_updates[1]
        .filters
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        alice_filters,
        BTreeSet::from([
            "by_pubkey",
            "by_owner",
            "by_memcmp_base64",
            "by_memcmp_bytes"
        ])
    );
    let on_chain = rpc.get_account(&alice_ata).await.unwrap();
    assert_eq!(on_chain.data, alice_updates[1].account.data);

    // The sliced subscriber got the same two writes, cut to the amount.
    let sliced_updates = read_until(
        &mut sliced,
        |u| matches!(&u.update_oneof, Some(UpdateOneof::Account(a)) if a.slot == transfer_slot),
    )
    .await;
    let amounts: Vec<Vec<u8>> = sliced_updates
        .into_iter()
        .filter_map(|u| match u.update_oneof {
            Some(UpdateOneof::Account(a)) => Some(a.account.unwrap().data),
            _ => None,
        })
        .collect();
    assert_eq!(
        amounts,
        vec![
            1_000u64.to_le_bytes().to_vec(),
            600u64.to_le_bytes().to_vec()
        ]
    );
    localnet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn closed_accounts_reach_pubkey_subscribers_as_empty_system_accounts() {
    let (localnet, rpc, payer) = localnet_and_wallet(10 * SOL, CommitmentConfig::confirmed()).await;
    let owner = funded(&rpc, SOL).await;
    let mint = Keypair::new();
    let token = spl_token::ID;
    let ata = get_associated_token_address_with_program_id(&owner.pubkey(), &mint.pubkey(), &token);
    let drained = funded(&rpc, SOL).await;
    let sink = Pubkey::new_unique();

    let mut client = grpc(&localnet).await;
    let (_sink, mut stream) = subscribed(
        &mut client,
        SubscribeRequest {
            accounts: [
                (
                    "by_pubkey".to_owned(),
                    SubscribeRequestFilterAccounts {
                        account: vec![ata.to_string(), drained.pubkey().to_string()],
                        ..Default::default()
                    },
                ),
                (
                    "by_owner".to_owned(),
                    SubscribeRequestFilterAccounts {
                        owner: vec![token.to_string()],
                        ..Default::default()
                    },
                ),
            ]
            .into(),
            ..Default::default()
        },
    )
    .await;

    let setup =
        mint_with_holder(&rpc, &payer.pubkey(), &mint.pubkey(), 0, &owner.pubkey(), 0).await;
    let setup_sig = send(&rpc, &setup, &[&payer, &mint]).await;
    confirmed_slot(&rpc, &setup_sig).await;
    let close =
        spl_token::instruction::close_account(&token, &ata, &owner.pubkey(), &owner.pubkey(), &[])
            .unwrap();
    let close_sig = send(&rpc, &[close], &[&owner]).await;
    // Drain a system account to zero: all but the fee goes elsewhere.
    let drain =
        solana_system_interface::instruction::transfer(&drained.pubkey(), &sink, SOL - 5_000);
    let drain_sig = send(&rpc, &[drain], &[&drained]).await;
    confirmed_slot(&rpc, &drain_sig).await;

    let closed_updates = |updates: &[yellowstone_grpc_proto::prelude::SubscribeUpdate],
                          key: Pubkey| {
        updates
            .iter()
            .filter_map(|u| match &u.update_oneof {
                Some(UpdateOneof::Account(a))
                    if pubkey(&a.account.as_ref().unwrap().pubkey) == key =>
                {
                    Some((u.filters.clone(), a.account.clone().unwrap()))
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let updates = read_until(&mut stream, |u| {
        matches!(&u.update_oneof, Some(UpdateOneof::Account(a))
            if a.account.as_ref().unwrap().txn_signature.as_deref() == Some(drain_sig.as_ref()))
    })
    .await;
    for (key, signature) in [(ata, close_sig), (drained.pubkey(), drain_sig)] {
        let (filters, last) = closed_updates(&updates, key)
            .pop()
            .expect("an update of the closed account");
        assert_eq!(last.lamports, 0);
        assert!(last.data.is_empty());
        assert_eq!(pubkey(&last.owner), solana_system_interface::program::ID);
        assert_eq!(last.txn_signature.as_deref(), Some(signature.as_ref()));
        // The owner filter no longer matches a closed account; the pubkey filter does.
        assert_eq!(filters, vec!["by_pubkey".to_owned()]);
    }
    assert!(rpc.get_account(&ata).await.is_err());
    localnet.shutdown().await;
}
