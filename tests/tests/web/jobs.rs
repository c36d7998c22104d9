//! The renter's job through iomesh-web: the renter page's job column from
//! the scheduler's public lease view, and the relay of the two requests a
//! wallet signs (the job spec, the logs) to a real scheduler replica, whose
//! refusals arrive as this service's `{message}`. The whole path with a
//! running job is the browser test's.

use iomesh_tests::{
    scheduler::{replica, Chain, SPEC},
    stack::{free_port, token},
};
use iomesh_web::{Options, Server};
use reqwest::StatusCode;
use serde_json::Value;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use sqlx::PgPool;
use std::time::Duration;

async fn web(pool: &PgPool, scheduler: Option<String>) -> Server {
    Server::start(
        pool.clone(),
        Options {
            scheduler_url: scheduler,
            ..Options::local("http://127.0.0.1:9", Duration::from_secs(3_600))
        },
    )
    .await
    .unwrap()
}

/// The renter's page, which renders whatever the scheduler answers.
async fn renter_page(base: &str, renter: &Pubkey) -> String {
    let response = reqwest::get(format!("{base}/renters/{renter}"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

async fn message(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[sqlx::test(migrator = "iomesh_db::MIGRATOR")]
async fn the_renter_page_shows_job_states_and_the_relay_passes_on_refusals(pool: PgPool) {
    let chain = Chain::new(&pool).await;
    let renter = Keypair::new();
    let node = chain.node(&Keypair::new().pubkey(), 4).await;
    let leases = chain.leases(&renter.pubkey(), &node, 0..2, SPEC).await;
    let scheduler = replica(&pool, "replica-web").await;
    let server = web(&pool, Some(scheduler.http_url())).await;
    let http = reqwest::Client::new();
    let base = server.url();

    // Neither lease has its spec yet: the page says so, with the scheduler's reason.
    let page = renter_page(&base, &renter.pubkey()).await;
    assert_eq!(
        page.matches(r#"data-job-state="awaiting_job_spec" title="the renter has not submitted the job spec">waiting for your job spec"#)
            .count(),
        2,
        "{page}"
    );
    assert_eq!(page.matches("data-logs=").count(), 2);

    // The spec, signed by the renter, handed over through the relay: the
    // scheduler accepts it (201), and the page shows the lease queued for its agent.
    let signature = renter.sign_message(&iomesh_agent_proto::spec_submission_message(
        &leases[0].to_bytes(),
        &iomesh_agent_proto::job_spec_hash(SPEC),
    ));
    let submit = |lease: Pubkey, signature: Option<String>, spec: &'static [u8]| {
        let mut request = http
            .post(format!("{base}/api/jobs/{lease}/spec"))
            .body(spec);
        if let Some(signature) = signature {
            request = request.header("x-iomesh-signature", signature);
        }
        request.send()
    };
    let response = submit(leases[0], Some(signature.to_string()), SPEC)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let page = renter_page(&base, &renter.pubkey()).await;
    assert!(
        page.contains(r#"data-job-state="awaiting_agent""#),
        "{page}"
    );

    // Refusals, the scheduler's own, as {message} with its status.
    let (status, text) = message(submit(leases[1], None, SPEC).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        text.starts_with("missing header x-iomesh-signature"),
        "{text}"
    );
    let (status, text) = message(
        submit(leases[1], Some(signature.to_string()), SPEC)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(
        text.starts_with("the signature is not the renter's"),
        "{text}"
    );
    let (status, text) = message(
        http.get(format!("{base}/api/jobs/{}/logs", leases[0]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(text.contains("access token"), "{text}");
    let stranger = Keypair::new();
    let (status, text) = message(
        http.get(format!("{base}/api/jobs/{}/logs?tail=5", leases[0]))
            .bearer_auth(token(&stranger, &leases[0], 60))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        text,
        format!(
            "{} is not the renter of lease {} (its renter is {})",
            stranger.pubkey(),
            leases[0],
            renter.pubkey()
        )
    );
    let (status, text) = message(
        http.get(format!("{base}/api/jobs/not-a-lease/logs"))
            .bearer_auth("x")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        text,
        "not-a-lease is not a lease address (base58, 32 bytes)"
    );
    server.stop().await.unwrap();

    // The scheduler gone: the page still renders and says the state is unknown.
    scheduler.stop().await.unwrap();
    let server = web(&pool, Some(format!("http://127.0.0.1:{}", free_port()))).await;
    let page = renter_page(&server.url(), &renter.pubkey()).await;
    assert_eq!(
        page.matches("unknown: the scheduler does not answer")
            .count(),
        2
    );
    let (status, text) = message(
        http.get(format!("{}/api/jobs/{}/logs", server.url(), leases[0]))
            .bearer_auth(token(&renter, &leases[0], 60))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(text.starts_with("cannot reach the scheduler at"), "{text}");
    server.stop().await.unwrap();

    // No scheduler configured: no job column content, and the relay says why.
    let server = web(&pool, None).await;
    let page = renter_page(&server.url(), &renter.pubkey()).await;
    assert_eq!(page.matches("data-logs=").count(), 0);
    let (status, text) = message(submit_to(&http, &server.url(), leases[1]).await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(text.contains("--scheduler URL"), "{text}");
    server.stop().await.unwrap();
}

async fn submit_to(http: &reqwest::Client, base: &str, lease: Pubkey) -> reqwest::Response {
    http.post(format!("{base}/api/jobs/{lease}/spec"))
        .header("x-iomesh-signature", "1111")
        .body(SPEC)
        .send()
        .await
        .unwrap()
}
