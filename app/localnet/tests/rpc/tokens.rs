use crate::common::{client, funded, localnet, mint_with_holder, signed};
use anchor_spl::{
    associated_token::{
        get_associated_token_address_with_program_id, spl_associated_token_account,
    },
    token::spl_token,
};
use solana_account_decoder_client_types::UiAccountData;
use solana_client::rpc_request::TokenAccountsFilter;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction_status_client_types::option_serializer::OptionSerializer;

#[tokio::test(flavor = "multi_thread")]
async fn spl_mint_and_token_accounts_are_readable() {
    let localnet = localnet().await;
    let rpc = client(&localnet, CommitmentConfig::confirmed());
    let payer = funded(&rpc, 10_000_000_000).await;
    let owner = Keypair::new();
    let mint = Keypair::new();
    let token_program = spl_token::ID;

    let ata = get_associated_token_address_with_program_id(
        &owner.pubkey(),
        &mint.pubkey(),
        &token_program,
    );
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
    let signature = rpc
        .send_and_confirm_transaction(&tx)
        .await
        .expect("mint, ATA and mint_to land");
    let fetched = crate::common::get_transaction(&rpc, &signature, CommitmentConfig::confirmed())
        .await
        .expect("getTransaction");
    let OptionSerializer::Some(post) = fetched.transaction.meta.expect("meta").post_token_balances
    else {
        panic!("no post token balances")
    };
    assert_eq!(post.len(), 1);
    assert_eq!(post[0].mint, mint.pubkey().to_string());
    assert_eq!(post[0].ui_token_amount.amount, "1500000");

    let balance = rpc.get_token_account_balance(&ata).await.expect("balance");
    assert_eq!(balance.amount, "1500000");
    assert_eq!(balance.decimals, 6);
    assert_eq!(balance.ui_amount_string, "1.5");
    let supply = rpc.get_token_supply(&mint.pubkey()).await.expect("supply");
    assert_eq!(
        (
            supply.amount.as_str(),
            supply.decimals,
            supply.ui_amount_string.as_str()
        ),
        ("1500000", 6, "1.5")
    );
    let not_a_mint = rpc.get_token_supply(&ata).await.unwrap_err();
    assert!(
        not_a_mint.to_string().contains("not a Token mint"),
        "{not_a_mint}"
    );

    let by_mint = rpc
        .get_token_accounts_by_owner(&owner.pubkey(), TokenAccountsFilter::Mint(mint.pubkey()))
        .await
        .expect("by mint");
    assert_eq!(by_mint.len(), 1);
    assert_eq!(by_mint[0].pubkey, ata.to_string());
    let UiAccountData::Json(parsed) = &by_mint[0].account.data else {
        panic!(
            "expected jsonParsed data, got {:?}",
            by_mint[0].account.data
        );
    };
    assert_eq!(parsed.program, "spl-token");
    assert_eq!(
        parsed.parsed["info"]["tokenAmount"]["amount"],
        serde_json::json!("1500000")
    );
    let by_program = rpc
        .get_token_accounts_by_owner(
            &owner.pubkey(),
            TokenAccountsFilter::ProgramId(token_program),
        )
        .await
        .expect("by program");
    assert_eq!(by_program.len(), 1);
    let none = rpc
        .get_token_accounts_by_owner(&payer.pubkey(), TokenAccountsFilter::Mint(mint.pubkey()))
        .await
        .unwrap();
    assert!(none.is_empty());

    // A second holder with less, and a delegate on the first account.
    let other = Keypair::new();
    let other_ata = get_associated_token_address_with_program_id(
        &other.pubkey(),
        &mint.pubkey(),
        &token_program,
    );
    let delegate = Keypair::new();
    let instructions = [
        spl_associated_token_account::instruction::create_associated_token_account(
            &payer.pubkey(),
            &other.pubkey(),
            &mint.pubkey(),
            &token_program,
        ),
        spl_token::instruction::mint_to(
            &token_program,
            &mint.pubkey(),
            &other_ata,
            &payer.pubkey(),
            &[],
            250_000,
        )
        .unwrap(),
        spl_token::instruction::approve(
            &token_program,
            &ata,
            &delegate.pubkey(),
            &owner.pubkey(),
            &[],
            100_000,
        )
        .unwrap(),
    ];
    let tx = signed(&rpc, &instructions, &[&payer, &owner]).await;
    rpc.send_and_confirm_transaction(&tx)
        .await
        .expect("second holder and delegate");
    let largest = rpc
        .get_token_largest_accounts(&mint.pubkey())
        .await
        .expect("getTokenLargestAccounts");
    let largest: Vec<(String, String)> = largest
        .into_iter()
        .map(|b| (b.address, b.amount.amount))
        .collect();
    assert_eq!(
        largest,
        vec![
            (ata.to_string(), "1500000".to_string()),
            (other_ata.to_string(), "250000".to_string())
        ]
    );
    // Raw JSON-RPC, as web3.js sends it: the stock Rust RpcClient 3.1's
    // get_token_accounts_by_delegate sends getTokenAccountsByOwner instead.
    let by_delegate = |delegate: String, filter: serde_json::Value| {
        let url = localnet.rpc_url();
        async move {
            let body = serde_json::json!({
                "jsonrpc": "2.0", "id": 1, "method": "getTokenAccountsByDelegate",
                "params": [delegate, filter, {"encoding": "base64", "commitment": "confirmed"}],
            });
            let reply: serde_json::Value = reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            reply["result"]["value"]
                .as_array()
                .unwrap_or_else(|| panic!("{reply}"))
                .iter()
                .map(|a| a["pubkey"].as_str().unwrap().to_string())
                .collect::<Vec<String>>()
        }
    };
    let delegated = by_delegate(
        delegate.pubkey().to_string(),
        serde_json::json!({"programId": token_program.to_string()}),
    )
    .await;
    assert_eq!(delegated, vec![ata.to_string()]);
    let not_delegated = by_delegate(
        other.pubkey().to_string(),
        serde_json::json!({"mint": mint.pubkey().to_string()}),
    )
    .await;
    assert!(not_delegated.is_empty());
    localnet.shutdown().await;
}
