//! A renter whose token account was handed to someone else cancels anyway:
//! `credit show` lists the refund the program kept, and `credit withdraw`
//! takes it to an account the renter chooses, never to the given-away one.

use crate::common::*;
use iomesh_client::instructions::Instruction;
use solana_signer::Signer;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refund_the_payer_cannot_take_is_kept_and_withdrawn_to_an_account_it_chooses() {
    let env = Env::start().await;
    let supplier = env.wallet("supplier");
    let renter = env.wallet("renter");
    let stranger = env.wallet("stranger");
    for wallet in [&supplier, &renter, &stranger] {
        env.iomesh(wallet, &["airdrop", "5"]).await.json();
    }
    let node = s(&env
        .iomesh(
            &supplier,
            &argv!(
                "node register --gpu-model {} --gpus 2 --vram-mib 24564 --region eu-west --price 1",
                "RTX 4090"
            ),
        )
        .await
        .json()["node"]);
    env.iomesh(&renter, &["faucet", "USDC", "50"]).await.json();
    let spec = env.dir.path().join("job.json");
    std::fs::write(&spec, b"{\"image\":\"vllm\"}").unwrap();
    let lease = env
        .iomesh(
            &renter,
            &argv!(
                "lease create --node {} --gpus 2 --hours 1 --mint USDC --job-spec {}",
                &node,
                &spec.display().to_string()
            ),
        )
        .await
        .json();
    let deposit = u(&lease["deposit"]);
    let lease = s(&lease["lease"]);

    // The renter hands its USDC account to a stranger (SPL SetAuthority).
    let usdc = env.bootstrap.mint("USDC").unwrap().token_mint();
    let ata = usdc.ata(&renter.keypair.pubkey());
    let give_away: Instruction =
        anchor_spl::token_2022::spl_token_2022::instruction::set_authority(
            &usdc.token_program,
            &ata,
            Some(&stranger.keypair.pubkey()),
            anchor_spl::token_2022::spl_token_2022::instruction::AuthorityType::AccountOwner,
            &renter.keypair.pubkey(),
            &[],
        )
        .unwrap();
    env.client
        .send(&[give_away], &renter.keypair, &[])
        .await
        .expect("set authority");

    env.iomesh(&renter, &["lease", "cancel", &lease])
        .await
        .json();
    let shown = env.iomesh(&renter, &["credit", "show"]).await.json();
    let credits = shown["credits"].as_array().unwrap();
    assert_eq!(credits.len(), 1, "{shown}");
    assert_eq!(s(&credits[0]["symbol"]), "USDC");
    assert_eq!(s(&credits[0]["held_in"]), "escrow vault");
    assert_eq!(u(&credits[0]["amount"]), deposit);
    // The stranger sees nothing of it.
    let theirs = env.iomesh(&stranger, &["credit", "show"]).await.json();
    assert!(theirs["credits"].as_array().unwrap().is_empty());

    // The default destination is the given-away account: refused, by name.
    env.iomesh(&renter, &["credit", "withdraw", "USDC"])
        .await
        .fails_with("now belongs to");
    let home = env.wallet("home");
    env.iomesh(&home, &["airdrop", "1"]).await.json();
    env.iomesh(&renter, &["faucet", "USDC", "1", "--to", &home.pubkey()])
        .await
        .json();
    let before = env.balance(&home.pubkey(), "USDC").await;
    let home_ata = usdc.ata(&home.keypair.pubkey()).to_string();
    let withdrawn = env
        .iomesh(&renter, &["credit", "withdraw", "USDC", "--to", &home_ata])
        .await
        .json();
    assert_eq!(u(&withdrawn["amount"]), deposit);
    assert_eq!(env.balance(&home.pubkey(), "USDC").await, before + deposit);
    let shown = env.iomesh(&renter, &["credit", "show"]).await.json();
    assert_eq!(u(&shown["credits"][0]["amount"]), 0);
    env.iomesh(&renter, &["credit", "withdraw", "USDC", "--to", &home_ata])
        .await
        .fails_with("CreditEmpty");
    env.iomesh(&stranger, &["credit", "withdraw", "IO"])
        .await
        .fails_with("nothing is kept");
}
