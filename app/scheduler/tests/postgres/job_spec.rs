use crate::common::*;
use iomesh_agent_proto::{job_spec_hash, MAX_JOB_SPEC_BYTES};
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use sqlx::PgPool;

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn job_spec_submission_checks_lease_hash_signature_size_and_shape(pool: PgPool) {
    let chain = Chain::new(&pool).await;
    let operator = Keypair::new();
    let node = chain.node(&operator.pubkey(), 2).await;
    let renter = Keypair::new();
    let lease = chain.leases(&renter.pubkey(), &node, 1..2, SPEC).await[0];
    let replica = replica(&pool, "replica-a").await;
    let http = replica.http_url();

    // Unknown lease.
    let (status, body) = submit_spec(&http, &Pubkey::new_unique(), SPEC, &renter).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not known"),
        "{body}"
    );

    // Not a pubkey.
    let response = reqwest::Client::new()
        .post(format!("{http}/v1/leases/not-a-key/job-spec"))
        .body(SPEC.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);

    // A different spec: its hash is not the lease's.
    let other = br#"{"command":["rm","-rf","/"]}"#;
    let (status, body) = submit_spec(&http, &lease, other, &renter).await;
    assert_eq!(status, 422, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains(&hex::encode(job_spec_hash(other)))
            && error.contains(&hex::encode(job_spec_hash(SPEC))),
        "{error}"
    );

    // Signed by someone who is not the renter.
    let (status, body) = submit_spec(&http, &lease, SPEC, &Keypair::new()).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains(&renter.pubkey().to_string()),
        "{body}"
    );

    // No signature, and a signature that is not one.
    let response = reqwest::Client::new()
        .post(format!("{http}/v1/leases/{lease}/job-spec"))
        .body(SPEC.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let response = reqwest::Client::new()
        .post(format!("{http}/v1/leases/{lease}/job-spec"))
        .header("x-iomesh-signature", "0OIl")
        .body(SPEC.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);

    // Too large, whatever it is, and far too large for the body limit.
    let (status, body) =
        submit_spec(&http, &lease, &vec![b' '; MAX_JOB_SPEC_BYTES + 1], &renter).await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains(&MAX_JOB_SPEC_BYTES.to_string()),
        "{body}"
    );
    let (status, _) = submit_spec(&http, &lease, &vec![b' '; 2 * 1024 * 1024], &renter).await;
    assert_eq!(status, 413);

    // A lease committed to bytes that are not a job spec: hash and signature
    // match, the shape does not.
    for (i, malformed) in [&b"{\"command\": "[..], br#"{"image":"x","gpus":2}"#, b"{}"]
        .into_iter()
        .enumerate()
    {
        let bad_lease = chain
            .leases(
                &renter.pubkey(),
                &node,
                10 + i as u64..11 + i as u64,
                malformed,
            )
            .await[0];
        let (status, body) = submit_spec(&http, &bad_lease, malformed, &renter).await;
        assert_eq!(status, 422, "{body}");
    }

    // Nothing was stored so far.
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM job_specs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);

    // The right spec, signed by the renter: stored once; a resubmission is harmless.
    let (status, body) = submit_spec(&http, &lease, SPEC, &renter).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["sha256"], hex::encode(job_spec_hash(SPEC)));
    let (status, _) = submit_spec(&http, &lease, SPEC, &renter).await;
    assert_eq!(status, 200);
    let (spec, sha): (Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT spec, sha256 FROM job_specs WHERE lease = $1")
            .bind(lease.as_ref())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (spec.as_slice(), sha.as_slice()),
        (SPEC, job_spec_hash(SPEC).as_slice())
    );

    // The lease shows the spec, and waits for its node's agent.
    let (status, view) = get_json(&format!("{http}/v1/leases/{lease}")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["job_spec"]["submitted"], true);
    assert_eq!(view["dispatch"]["state"], "awaiting_agent");
    let (status, list) = get_json(&format!("{http}/v1/leases?node={node}&limit=500")).await;
    assert_eq!(status, 200);
    assert_eq!(list["leases"].as_array().unwrap().len(), 4);
    let (status, _) = get_json(&format!("{http}/v1/leases?limit=0")).await;
    assert_eq!(status, 400);

    // The node says why it gets no work.
    let (status, view) = get_json(&format!("{http}/v1/nodes/{node}")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["online"], false);
    assert!(
        view["no_work_reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().starts_with("offline")),
        "{view}"
    );
    // By operator key too.
    let (status, by_operator) = get_json(&format!("{http}/v1/nodes/{}", operator.pubkey())).await;
    assert_eq!(status, 200);
    assert_eq!(by_operator["node"], node.to_string());
    let (status, _) = get_json(&format!("{http}/v1/nodes/{}", Pubkey::new_unique())).await;
    assert_eq!(status, 404);
    replica.stop().await.unwrap();
}
