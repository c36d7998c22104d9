//! The search API and the reliability scores over HTTP.

use crate::fixtures::*;
#[sqlx::test(migrator = "iomesh_db::MIGRATOR")]
async fn scores_are_exact_new_nodes_are_marked_and_failures_rank_lower(pool: PgPool) {
    let (_chain, m) = market(&pool).await;

    let steady = scores::of_node(&pool, m.steady.as_ref(), T)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        steady,
        scores::NodeScore {
            age_secs: 40 * DAY,
            uptime_minutes: 32_400,
            window_minutes: 43_200,
            uptime_bps: 7_500,
            completed_gpu_secs: 2 * 10 * HOUR,
            failed_gpu_secs: 2 * HOUR,
            cancelled_gpu_secs: 4 * HOUR,
            expired_leases: 1,
            // 72,000 / 79,200 of the paid GPU-seconds ran to the end.
            success_bps: Some(9_090),
            // Activation waits 30, 60, 90 s.
            median_activation_secs: Some(60),
            slash_count: Some(0),
            is_new: false,
            // 7,500 × 9,090 / 10,000.
            score_bps: Some(6_817),
        }
    );
    let flawless = scores::of_node(&pool, m.flawless.as_ref(), T)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(flawless.success_bps, Some(10_000));
    assert_eq!(flawless.score_bps, Some(7_500));
    assert_eq!(flawless.median_activation_secs, Some(30));

    // Three days old: its hour of heartbeats over a 3-day window, and no score.
    let fresh = scores::of_node(&pool, m.fresh.as_ref(), T)
        .await
        .unwrap()
        .unwrap();
    assert!(fresh.is_new);
    assert_eq!(
        (fresh.uptime_minutes, fresh.window_minutes),
        (60, 3 * 24 * 60)
    );
    assert_eq!(fresh.uptime_bps, 138);
    assert_eq!((fresh.success_bps, fresh.score_bps), (None, None));

    assert_eq!(
        scores::of_node(&pool, Pubkey::new_unique().as_ref(), T)
            .await
            .unwrap(),
        None
    );
}

#[sqlx::test(migrator = "iomesh_db::MIGRATOR")]
async fn search_filters_sorts_pages_and_hides_stale_nodes(pool: PgPool) {
    let (chain, m) = market(&pool).await;
    // A node with no agent connected, and a paused one: stale.
    let (offline, paused) = (Pubkey::new_unique(), Pubkey::new_unique());
    let mut pause = listed("RTX 4090", 8, 1_000_000, 40 * DAY);
    pause.status = NodeStatus::Paused;
    chain
        .write(vec![
            (offline, encode(&listed("RTX 4090", 8, 1_000_000, 40 * DAY))),
            (paused, encode(&pause)),
        ])
        .await;
    for node in [&m.steady, &m.flawless, &m.fresh, &paused] {
        connected(&pool, node).await;
    }
    let api = serve(&pool).await;

    // Cheapest first; stale nodes only when asked.
    assert_eq!(nodes(&api, "").await, [m.fresh, m.steady, m.flawless]);
    let all = nodes(&api, "include_stale=true").await;
    assert_eq!(all.len(), 5);
    assert!(all.contains(&offline) && all.contains(&paused));
    // Reliability: the flawless node above the one with a reported
    // failure; the new node, unscored, after both.
    assert_eq!(
        nodes(&api, "sort=reliability").await,
        [m.flawless, m.steady, m.fresh]
    );
    // All-in for one hour: the new node's two-hour minimum makes it dearer
    // than the steady one.
    let (status, body) = get(&format!(
        "{api}/api/v1/nodes?sort=total_cost&hours=1&gpus=2"
    ))
    .await;
    assert_eq!(status, 200);
    let page: Page = serde_json::from_value(body).unwrap();
    let order: Vec<_> = page
        .nodes
        .iter()
        .map(|o| (o.node.0, o.total_cost_usd_micros))
        .collect();
    assert_eq!(
        order,
        [
            (m.steady, 4_000_000),
            (m.fresh, 6_000_000),
            (m.flawless, 7_000_000)
        ]
    );
    let steady = &page.nodes[0];
    assert_eq!(
        (steady.score_bps, steady.is_new),
        (Some(6_817), Some(false))
    );
    assert!(steady.connected);

    // Filters.
    assert_eq!(nodes(&api, "gpu_model=h100").await, [m.flawless]);
    assert_eq!(
        nodes(&api, "max_price_usd_micros=2000000").await,
        [m.fresh, m.steady]
    );
    assert_eq!(nodes(&api, "min_score_bps=7000").await, [m.flawless]);
    assert_eq!(nodes(&api, "gpus=9").await, Vec::<Pubkey>::new());
    assert_eq!(
        nodes(&api, "region=EU-WEST&min_vram_mib=24576").await.len(),
        3
    );

    // Pages of one: no row twice, the last page says so.
    let mut seen = Vec::new();
    for page in 0..3 {
        let (_, body) = get(&format!("{api}/api/v1/nodes?per_page=1&page={page}")).await;
        let page_of: Page = serde_json::from_value(body).unwrap();
        assert_eq!(page_of.next_page, (page < 2).then_some(page + 1));
        seen.extend(page_of.nodes.iter().map(|o| o.node.0));
    }
    assert_eq!(seen, [m.fresh, m.steady, m.flawless]);

    // Bad input: 400 and what was wrong.
    for (query, message) in [
        ("gpus=0", "gpus must be at least 1"),
        ("per_page=500", "per_page must be between 1 and 200"),
        ("sort=cheapest", "unknown variant `cheapest`"),
        ("colour=red", "unknown field `colour`"),
        ("min_vram_mib=lots", "invalid digit"),
    ] {
        let (status, body) = get(&format!("{api}/api/v1/nodes?{query}")).await;
        assert_eq!(status, 400, "{query}");
        let text = body["message"].as_str().unwrap();
        assert!(text.contains(message), "{query}: {text}");
    }
    let (status, body) = get(&format!("{api}/api/v1/nodes/not-a-key/scores")).await;
    assert_eq!(status, 400);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("not a node address"));
    let (status, _) = get(&format!(
        "{api}/api/v1/nodes/{}/scores",
        Pubkey::new_unique()
    ))
    .await;
    assert_eq!(status, 404);
    let (status, body) = get(&format!("{api}/api/v1/nodes/{}/scores", m.steady)).await;
    assert_eq!(status, 200);
    assert_eq!(body["completed_gpu_secs"], 72_000);
}

/// `iomesh gpus search --market` runs the same search: the same rows in the
/// same order as the API, and the page's columns.
#[sqlx::test(migrator = "iomesh_db::MIGRATOR")]
async fn the_cli_searches_through_the_market_api(pool: PgPool) {
    let (_chain, m) = market(&pool).await;
    for node in [&m.steady, &m.flawless, &m.fresh] {
        connected(&pool, node).await;
    }
    let api = serve(&pool).await;
    let (ok, json, err) = cli(&api, &["--sort", "reliability", "--output", "json"]).await;
    assert!(ok, "{err}");
    let page: Page = serde_json::from_str(&json).unwrap();
    let order: Vec<Pubkey> = page.nodes.iter().map(|o| o.node.0).collect();
    assert_eq!(order, nodes(&api, "sort=reliability").await);

    let (ok, table, err) = cli(
        &api,
        &["--gpus", "2", "--hours", "1", "--sort", "total-cost"],
    )
    .await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = table.lines().collect();
    for column in ["ALL-IN", "SCORE", "UPTIME", "SUCCESS", "ACTIVATION"] {
        assert!(lines[0].contains(column), "{table}");
    }
    // The steady node first at $4.00 for 2 GPUs × 1 h, scored 68.17 %.
    assert!(lines[1].starts_with(&m.steady.to_string()), "{table}");
    assert!(
        lines[1].contains("$4.00 (2 GPU × 1 h)") && lines[1].contains("68.17%"),
        "{table}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&m.fresh.to_string()) && l.contains(" new ")),
        "{table}"
    );

    // The API's refusal, named.
    let (ok, _, err) = cli(&api, &["--min-score", "101"]).await;
    assert!(!ok);
    assert!(err.contains("--min-score is a percentage"), "{err}");
    let (ok, _, err) = cli(&api, &["--hours", "9000"]).await;
    assert!(!ok);
    assert!(err.contains("hours must be between 1 and 8784"), "{err}");
}

/// `iomesh --market API gpus search ARGS`, run asynchronously: the API serves
/// on the test's own (single) thread. Success, stdout, stderr.
async fn cli(api: &str, args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(iomesh_tests::workspace_binary("iomesh"))
        .args([
            "--market",
            api,
            "--url",
            "http://127.0.0.1:9",
            "gpus",
            "search",
        ])
        .args(args)
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}
