use crate::common::{localnet_and_wallet, mint_with_holder, send, signed, transfer, Ws, SOL};
use anchor_spl::{
    associated_token::get_associated_token_address_with_program_id, token::spl_token,
};
use serde_json::json;
use solana_account_decoder_client_types::UiAccount;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_signer::Signer;

/// accountSubscribe at each level: the new balance in base64, the system
/// owner, the transfer's slot; processed first, finalized last.
#[tokio::test(flavor = "multi_thread")]
async fn account_changes_arrive_at_each_level_in_commitment_order() {
    let (localnet, rpc, payer) = localnet_and_wallet(SOL, CommitmentConfig::finalized()).await;
    let target = Keypair::new().pubkey();
    let mut ws = Ws::connect(&localnet).await;
    let mut ids = Vec::new();
    for level in ["finalized", "confirmed", "processed"] {
        let id = ws
            .subscribe(
                "accountSubscribe",
                json!([target.to_string(), {"commitment": level, "encoding": "base64"}]),
            )
            .await;
        ids.push(id);
    }
    let tx = signed(&rpc, &[transfer(&payer, &target, 5_000_000)], &[&payer]).await;
    send(&rpc, &tx).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(ws.notification().await);
    }
    let order: Vec<u64> = seen
        .iter()
        .map(|n| n["params"]["subscription"].as_u64().unwrap())
        .collect();
    assert_eq!(
        order,
        vec![ids[2], ids[1], ids[0]],
        "processed, confirmed, finalized"
    );
    let slot = seen[0]["params"]["result"]["context"]["slot"].clone();
    for n in &seen {
        assert_eq!(n["method"], "accountNotification");
        assert_eq!(n["params"]["result"]["context"], json!({"slot": slot}));
        assert_eq!(
            n["params"]["result"]["value"],
            json!({
                "lamports": 5_000_000,
                "data": ["", "base64"],
                "owner": "11111111111111111111111111111111",
                "executable": false,
                "rentEpoch": u64::MAX,
                "space": 0,
            })
        );
    }
    localnet.shutdown().await;
}

/// After accountUnsubscribe (true), a later change is not notified: a
/// signature subscription made afterwards is notified alone.
#[tokio::test(flavor = "multi_thread")]
async fn unsubscribed_accounts_are_not_notified() {
    let (localnet, rpc, payer) = localnet_and_wallet(SOL, CommitmentConfig::finalized()).await;
    let target = Keypair::new().pubkey();
    let mut ws = Ws::connect(&localnet).await;
    let id = ws
        .subscribe(
            "accountSubscribe",
            json!([target.to_string(), {"commitment": "confirmed"}]),
        )
        .await;
    let reply = ws.reply("accountUnsubscribe", json!([id])).await;
    assert_eq!(reply["result"], true);
    let tx = signed(&rpc, &[transfer(&payer, &target, 5_000_000)], &[&payer]).await;
    // Subscribed after the account: would be notified after it in a batch.
    let sentinel = ws
        .subscribe(
            "signatureSubscribe",
            json!([tx.signatures[0].to_string(), {"commitment": "confirmed"}]),
        )
        .await;
    send(&rpc, &tx).await;
    let seen = ws.until(sentinel).await;
    assert_eq!(seen.len(), 1, "only the signature: {seen:?}");
    localnet.shutdown().await;
}

/// programSubscribe on SPL Token with dataSize + memcmp filters: only the
/// owner's token account, in base64+zstd and jsonParsed (with decimals).
#[tokio::test(flavor = "multi_thread")]
async fn program_subscriptions_filter_and_encode_token_accounts() {
    let (localnet, rpc, payer) = localnet_and_wallet(10 * SOL, CommitmentConfig::finalized()).await;
    let owner = Keypair::new();
    let mint = Keypair::new();
    let program = spl_token::ID;
    let ata =
        get_associated_token_address_with_program_id(&owner.pubkey(), &mint.pubkey(), &program);
    let filters = json!([
        {"dataSize": 165},
        {"memcmp": {"offset": 32, "bytes": owner.pubkey().to_string()}},
    ]);
    let mut ws = Ws::connect(&localnet).await;
    let zstd = ws
        .subscribe(
            "programSubscribe",
            json!([program.to_string(), {"commitment": "confirmed", "encoding": "base64+zstd", "filters": filters}]),
        )
        .await;
    let parsed = ws
        .subscribe(
            "programSubscribe",
            json!([program.to_string(), {"commitment": "confirmed", "encoding": "jsonParsed", "filters": filters}]),
        )
        .await;
    let instructions = mint_with_holder(
        &rpc,
        &payer.pubkey(),
        &mint.pubkey(),
        6,
        &owner.pubkey(),
        1_500_000,
    )
    .await;
    let tx = signed(&rpc, &instructions, &[&payer, &mint]).await;
    let sentinel = ws
        .subscribe(
            "signatureSubscribe",
            json!([tx.signatures[0].to_string(), {"commitment": "confirmed"}]),
        )
        .await;
    send(&rpc, &tx).await;
    let seen = ws.until(sentinel).await;
    // The mint (82 bytes) is filtered out: one notification per subscription.
    assert_eq!(seen.len(), 3, "{seen:?}");
    let by_id = |id: u64| {
        seen.iter()
            .find(|n| n["params"]["subscription"] == id)
            .unwrap_or_else(|| panic!("no notification for {id}"))
    };
    let compressed = &by_id(zstd)["params"]["result"]["value"];
    assert_eq!(compressed["pubkey"], ata.to_string());
    assert_eq!(compressed["account"]["owner"], program.to_string());
    assert_eq!(compressed["account"]["data"][1], "base64+zstd");
    let account: UiAccount = serde_json::from_value(compressed["account"].clone()).unwrap();
    let data = account.data.decode().expect("base64+zstd decodes");
    assert_eq!(data.len(), 165);
    assert_eq!(&data[32..64], owner.pubkey().as_ref());
    let info = &by_id(parsed)["params"]["result"]["value"]["account"]["data"]["parsed"]["info"];
    assert_eq!(info["owner"], owner.pubkey().to_string());
    assert_eq!(info["mint"], mint.pubkey().to_string());
    assert_eq!(info["tokenAmount"]["amount"], "1500000");
    assert_eq!(info["tokenAmount"]["decimals"], 6);
    localnet.shutdown().await;
}
