//! Offline signing of `node register`: the operator's key stays on the GPU
//! machine, which signs with `--sign-only`; the owner's machine sends the
//! transaction with that signature (`--signer`) and the same `--blockhash`.

use crate::common::*;
use solana_signer::Signer;

const SPEC: [&str; 10] = [
    "--gpu-model",
    "RTX 4090",
    "--gpus",
    "2",
    "--vram-gib",
    "24",
    "--region",
    "eu-west",
    "--price",
    "2.00",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_operator_signs_apart_and_the_owner_sends() {
    let env = Env::start().await;
    let owner = env.wallet("owner");
    let operator = env.wallet("operator");
    env.iomesh(&owner, &["airdrop", "10"]).await.json();
    let (owner_key, operator_key) = (owner.pubkey(), operator.pubkey());
    let operator_file = operator.path.display().to_string();

    // The GPU machine: the owner is only a pubkey there.
    let mut args = vec![
        "node",
        "register",
        "--operator",
        &operator_file,
        "--sign-only",
    ];
    args.extend(SPEC);
    let signed = env.iomesh_as(&owner_key, &args, Vec::new()).await.json();
    let blockhash = s(&signed["blockhash"]);
    let signers = signed["signers"].as_array().unwrap();
    assert_eq!(signers.len(), 1, "{signed}");
    let presigned = s(&signers[0]);
    assert!(
        presigned.starts_with(&format!("{operator_key}=")),
        "{presigned}"
    );
    assert_eq!(signed["absent"], serde_json::json!([owner_key]));
    // Nothing was sent.
    let listed = env.iomesh(&owner, &["node", "list"]).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 0);

    // The owner's machine, with the operator's pubkey only.
    let register = |extra: &[&str], spec: &[&str]| {
        let mut args = vec!["node", "register", "--operator", operator_key.as_str()]
            .into_iter()
            .map(String::from)
            .collect::<Vec<String>>();
        args.extend(extra.iter().chain(spec).map(|a| a.to_string()));
        args
    };
    let (env_ref, owner_ref) = (&env, &owner);
    let run = move |args: Vec<String>| async move {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        env_ref.iomesh(owner_ref, &refs).await
    };
    // Without the signature: a pubkey cannot sign.
    run(register(&[], &SPEC))
        .await
        .fails_with(&format!("--operator {operator_key} is a pubkey"));
    run(register(&["--blockhash", &blockhash], &SPEC))
        .await
        .fails_with(&format!("lacks the signature of {operator_key}"));
    // Another price is another transaction: the signature does not fit it.
    let mut other_price = SPEC;
    other_price[9] = "2.50";
    let with_signature = [
        "--signer",
        presigned.as_str(),
        "--blockhash",
        blockhash.as_str(),
    ];
    run(register(&with_signature, &other_price))
        .await
        .fails_with("does not sign this transaction");
    // The same command with the operator's signature lands.
    let registered = run(register(&with_signature, &SPEC)).await.json();
    assert_eq!(s(&registered["operator"]), operator_key);
    assert_eq!(s(&registered["owner"]), owner_key);
    let listed = env.iomesh(&owner, &["node", "list"]).await.json();
    assert_eq!(s(&listed[0]["address"]), s(&registered["node"]));
    assert_eq!(
        s(&listed[0]["operator"]),
        operator.keypair.pubkey().to_string()
    );
}
