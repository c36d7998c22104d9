//! "Rent this node" as a Solana Action, against a localnet with the real
//! program and SPL Token: the spec's CORS preflight and headers, the GET
//! shape, bad accounts and parameters answered 400 with `{message}`, and a
//! returned transaction whose only signer is the posted account, which
//! lands and escrows exactly the quote.

use base64::Engine;
use iomesh::state::Lease;
use iomesh_agent_proto::job_spec_hash;
use iomesh_tests::chain::{token_balance, vault_pda, Chain, TOKEN};
use iomesh_web::{
    actions::{ActionGetResponse, ActionPostResponse},
    Options, Server,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use solana_transaction::Transaction;
use sqlx::PgPool;
use std::time::Duration;

const SPEC: &str = r#"{"command":["python","train.py"]}"#;

fn cors_ok(response: &reqwest::Response) {
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(headers["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert_eq!(headers["x-action-version"], "2.4");
}

/// What a wallet does with an Action's answer, after checking that `signer`
/// is the transaction's only signer and its fee payer and that nothing is
/// signed yet: sign it and send it.
async fn sign_and_send(chain: &Chain, answer: &ActionPostResponse, signer: &Keypair) {
    assert_eq!(answer.kind, "transaction");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&answer.transaction)
        .unwrap();
    let mut tx: Transaction = bincode::deserialize(&bytes).unwrap();
    assert_eq!(tx.message.header.num_required_signatures, 1);
    assert_eq!(tx.message.account_keys[0], signer.pubkey());
    assert!(tx.signatures.iter().all(|s| *s == Default::default()));
    let blockhash = tx.message.recent_blockhash;
    tx.try_sign(&[signer], blockhash).unwrap();
    chain.rpc.send_and_confirm_transaction(&tx).await.unwrap();
}

#[sqlx::test(migrator = "iomesh_db::MIGRATOR")]
async fn a_wallet_rents_a_node_through_the_action(pool: PgPool) {
    let chain = Chain::start().await;
    let node = chain.register_node(4).await;
    let server = Server::start(
        pool,
        Options::local(chain.localnet.rpc_url(), Duration::from_secs(3_600)),
    )
    .await
    .unwrap();
    let web = server.url();
    let http = reqwest::Client::new();
    let action = format!("{web}/api/actions/rent/{}", node.address);

    // actions.json maps the node pages to the Action API.
    let response = http
        .get(format!("{web}/actions.json"))
        .send()
        .await
        .unwrap();
    cors_ok(&response);
    let rules: Value = response.json().await.unwrap();
    assert_eq!(rules["rules"][0]["pathPattern"], "/nodes/*/rent");
    assert_eq!(rules["rules"][0]["apiPath"], "/api/actions/rent/*");

    // The preflight a browser sends before the POST.
    let response = http
        .request(Method::OPTIONS, &action)
        .header("origin", "https://dial.to")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    cors_ok(&response);

    // GET: the Action as a Blink renders it.
    let response = http.get(&action).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    cors_ok(&response);
    let chain_id = response.headers()["x-blockchain-ids"]
        .to_str()
        .unwrap()
        .to_string();
    let genesis = chain.rpc.get_genesis_hash().await.unwrap().to_string();
    assert_eq!(chain_id, format!("solana:{}", &genesis[..32]));
    let got: ActionGetResponse = response.json().await.unwrap();
    assert_eq!(got.kind, "action");
    assert_eq!(got.icon, format!("{web}/static/icon.svg"));
    assert_eq!(got.title, "4 × RTX 4090 (24 GiB) in eu-west");
    assert!(!got.disabled);
    let linked = &got.links.actions[0];
    assert_eq!(linked.kind, "transaction");
    let names: Vec<&str> = linked.parameters.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["hours", "gpus", "mint", "job_spec"]);
    for name in &names {
        assert!(
            linked.href.contains(&format!("{{{name}}}")),
            "{}",
            linked.href
        );
    }
    assert_eq!(linked.parameters[1].max, Some(4));
    assert_eq!(
        linked.parameters[2].options[0].value,
        chain.mint.to_string()
    );
    assert_eq!(linked.parameters[2].options[0].label, "USDC");
    // The icon it names is served.
    let icon = http.get(&got.icon).send().await.unwrap();
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");

    let renter = chain.renter(10).await;
    let post = |account: String, hours: &str, gpus: &str, mint: String, spec: &str| {
        let href = format!(
            "{web}/api/actions/rent/{}?hours={hours}&gpus={gpus}&mint={mint}&job_spec={}",
            node.address,
            spec.replace('"', "%22").replace(' ', "%20")
        );
        let http = http.clone();
        async move {
            let response = http
                .post(href)
                .json(&json!({ "account": account }))
                .send()
                .await
                .unwrap();
            cors_ok(&response);
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let usdc = chain.mint.to_string();
    let me = renter.pubkey().to_string();

    // Bad input: 400 with a message naming what was wrong.
    for (account, hours, gpus, mint, spec, message) in [
        (
            "nope",
            "1",
            "1",
            usdc.as_str(),
            SPEC,
            "account `nope` is not a Solana address",
        ),
        (
            me.as_str(),
            "0",
            "1",
            usdc.as_str(),
            SPEC,
            "hours: `0` must be greater than zero",
        ),
        (
            me.as_str(),
            "1.234",
            "1",
            usdc.as_str(),
            SPEC,
            "hours `1.234` has more than 2 decimals",
        ),
        (
            me.as_str(),
            "200",
            "1",
            usdc.as_str(),
            SPEC,
            "hours: this node leases from 1m to 7d",
        ),
        (
            me.as_str(),
            "1",
            "5",
            usdc.as_str(),
            SPEC,
            "gpus: 5 asked, 4 of the node's 4 free",
        ),
        (
            me.as_str(),
            "1",
            "zero",
            usdc.as_str(),
            SPEC,
            "gpus `zero` is not a whole number from 1",
        ),
        (
            me.as_str(),
            "1",
            "1",
            "So11111111111111111111111111111111111111112",
            SPEC,
            "is not one this Action accepts: USDC",
        ),
        (
            me.as_str(),
            "1",
            "1",
            usdc.as_str(),
            "{}",
            "job_spec: job spec names neither an image nor a command",
        ),
        // 4 GPUs for 2 hours at $2: 16 USDC, and the renter holds 10.
        (
            me.as_str(),
            "2",
            "4",
            usdc.as_str(),
            SPEC,
            "insufficient USDC balance",
        ),
    ] {
        let (status, body) = post(account.into(), hours, gpus, mint.into(), spec).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{message}: {body}");
        let got = body["message"].as_str().unwrap();
        assert!(got.contains(message), "expected `{message}` in `{got}`");
    }
    let response = http
        .post(format!("{action}?hours=1&gpus=1&mint={usdc}&job_spec=x"))
        .body("account=me")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("the body must be JSON"),
        "{body}"
    );

    let stranger_of_lease = || Pubkey::new_unique().to_string();
    // A good request: 2 GPUs for 1.5 hours at $2 = 6 USDC in escrow.
    let (status, body) = post(me.clone(), "1.5", "2", usdc.clone(), SPEC).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: ActionPostResponse = serde_json::from_value(body).unwrap();
    let before = token_balance(&chain, &renter.pubkey()).await;
    sign_and_send(&chain, &answer, &renter).await;
    assert_eq!(
        before - token_balance(&chain, &renter.pubkey()).await,
        6 * TOKEN
    );
    let lease_address: Pubkey = answer
        .message
        .strip_prefix("Lease ")
        .and_then(|rest| rest.split(':').next())
        .unwrap()
        .parse()
        .unwrap();
    let data = chain.rpc.get_account_data(&lease_address).await.unwrap();
    let lease: Lease =
        anchor_lang::AccountDeserialize::try_deserialize(&mut data.as_slice()).unwrap();
    assert_eq!(lease.renter, renter.pubkey());
    assert_eq!(lease.payer, renter.pubkey());
    assert_eq!(lease.node, node.address);
    assert_eq!(lease.gpus, 2);
    assert_eq!(lease.duration_secs, 5_400);
    assert_eq!(lease.deposited, 6 * TOKEN);
    assert_eq!(lease.rate_per_gpu_hour, 2 * TOKEN);
    assert_eq!(lease.job_spec_hash, job_spec_hash(SPEC.as_bytes()));
    let vault = chain
        .rpc
        .get_token_account_balance(&vault_pda(&chain.mint))
        .await
        .unwrap();
    assert_eq!(vault.amount, (6 * TOKEN).to_string());

    // Two of four GPUs are now reserved: the Action offers at most the other two.
    let got: ActionGetResponse = http
        .get(&action)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got.links.actions[0].parameters[1].max, Some(2));
    let (status, body) = post(me, "1", "3", usdc, SPEC).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("3 asked, 2 of the node's 4 free"));

    // Extend it through the lease's Action: at most what keeps the time
    // still to run within the node's 7 days; only its renter or payer.
    let extend = format!("{web}/api/actions/extend/{lease_address}");
    let response = http.get(&extend).send().await.unwrap();
    cors_ok(&response);
    let got: ActionGetResponse = response.json().await.unwrap();
    assert_eq!(got.title, format!("Extend lease {lease_address}"));
    assert!(!got.disabled);
    let hours = &got.links.actions[0].parameters[0];
    assert_eq!(
        (hours.name.as_str(), hours.min, hours.max),
        ("hours", Some(1), Some(166))
    );
    let extend_by = |account: String, hours: &str| {
        http.post(format!("{extend}?hours={hours}"))
            .json(&json!({ "account": account }))
            .send()
    };
    for (account, hours, expected) in [
        (
            stranger_of_lease(),
            "1",
            "is neither the renter nor the payer of lease".to_string(),
        ),
        (renter.pubkey().to_string(), "x", "hours: ".to_string()),
        (
            renter.pubkey().to_string(),
            "1.234",
            "hours `1.234` has more than 2 decimals".to_string(),
        ),
        (
            renter.pubkey().to_string(),
            "200",
            "hours: at most 6d 22h 30m more now (8d 8h asked)".to_string(),
        ),
    ] {
        let response = extend_by(account, hours).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{hours}");
        cors_ok(&response);
        let body: Value = response.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains(&expected),
            "{hours}: {body}"
        );
    }
    // Half an hour more: 2 GPUs × 2 h at 2 USDC = 8 USDC deposited, 2 added.
    let response = extend_by(renter.pubkey().to_string(), "0.5").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: ActionPostResponse = response.json().await.unwrap();
    assert_eq!(
        answer.message,
        format!("Lease {lease_address} extended by 30m: 2 USDC more in escrow.")
    );
    let before_extension = token_balance(&chain, &renter.pubkey()).await;
    sign_and_send(&chain, &answer, &renter).await;
    assert_eq!(
        before_extension - token_balance(&chain, &renter.pubkey()).await,
        2 * TOKEN
    );
    let data = chain.rpc.get_account_data(&lease_address).await.unwrap();
    let lease: Lease =
        anchor_lang::AccountDeserialize::try_deserialize(&mut data.as_slice()).unwrap();
    assert_eq!((lease.duration_secs, lease.deposited), (7_200, 8 * TOKEN));

    // Cancel it through the lease's Action: only its renter may, and as the
    // lease never started, the whole deposit comes back.
    let cancel = format!("{web}/api/actions/cancel/{lease_address}");
    let response = http.get(&cancel).send().await.unwrap();
    cors_ok(&response);
    let got: ActionGetResponse = response.json().await.unwrap();
    assert_eq!(got.title, format!("Cancel lease {lease_address}"));
    assert!(
        got.description.contains("the whole deposit comes back"),
        "{}",
        got.description
    );
    assert!(got.links.actions[0].parameters.is_empty());
    let stranger = Pubkey::new_unique();
    let response = http
        .post(&cancel)
        .json(&json!({ "account": stranger.to_string() }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["message"],
        format!("account {stranger} is not the renter of lease {lease_address}: only its renter may cancel it")
    );
    let response = http
        .post(&cancel)
        .json(&json!({ "account": renter.pubkey().to_string() }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: ActionPostResponse = response.json().await.unwrap();
    sign_and_send(&chain, &answer, &renter).await;
    assert_eq!(token_balance(&chain, &renter.pubkey()).await, before);
    assert!(
        chain.rpc.get_account(&lease_address).await.is_err(),
        "the lease is closed"
    );
    let response = http.get(&cancel).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    server.stop().await.unwrap();
}

#[sqlx::test(migrator = "iomesh_db::MIGRATOR")]
async fn an_unknown_node_or_unreachable_chain_is_named(pool: PgPool) {
    let chain = Chain::start().await;
    let server = Server::start(
        pool.clone(),
        Options::local(chain.localnet.rpc_url(), Duration::from_secs(3_600)),
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let unknown = Pubkey::new_unique();
    let response = http
        .get(format!("{}/api/actions/rent/{unknown}", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    cors_ok(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], format!("no node {unknown} is listed"));
    let response = http
        .get(format!("{}/api/actions/rent/xyz", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // No reward epoch files are published here: the claim Action says how to claim.
    let response = http
        .get(format!("{}/api/actions/claim/2/{unknown}", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    cors_ok(&response);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("iomesh rewards claim --epoch-file FILE"),
        "{body}"
    );
    server.stop().await.unwrap();

    // A chain that does not answer: 503, and a message, not a hang or a 500.
    let offline = Server::start(
        pool,
        Options::local("http://127.0.0.1:9", Duration::from_secs(3_600)),
    )
    .await
    .unwrap();
    let response = http
        .get(format!("{}/api/actions/rent/{unknown}", offline.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("unavailable"),
        "{body}"
    );
    offline.stop().await.unwrap();
}

/// The Actions through a stock Blink client (Dialect's blinks-core, what
/// Blink renderers build on): tests/ts/blink.test.ts unfurls the pages'
/// URLs, checks support, fills the forms, and executes rent, extend and
/// cancel with exact balances.
#[sqlx::test(migrator = "iomesh_db::MIGRATOR")]
async fn a_blink_client_renders_and_executes_the_actions(pool: PgPool) {
    let chain = Chain::start().await;
    let node = chain.register_node(4).await;
    let renter = chain.renter(50).await;
    let server = Server::start(
        pool,
        Options::local(chain.localnet.rpc_url(), Duration::from_secs(3_600)),
    )
    .await
    .unwrap();
    let keys = tempfile::tempdir().unwrap();
    let renter_file = crate::fixtures::keypair_file(keys.path(), "renter", &renter);
    crate::typescript::run_node_test(
        "tests/ts/blink.test.ts",
        &[
            ("WEB_URL", server.url()),
            ("RPC_URL", chain.localnet.rpc_url()),
            ("RENTER_KEYPAIR", renter_file.display().to_string()),
            ("NODE", node.address.to_string()),
            ("MINT", chain.mint.to_string()),
        ],
    )
    .await;
    server.stop().await.unwrap();
}
