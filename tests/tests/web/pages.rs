//! The pages as a browser without JavaScript gets them: the search form and
//! its results, a node's page with its uptime chart and lease outcomes, a
//! GPU model's page with its price and utilisation charts, and bad input
//! answered with a page that says what was wrong.

use crate::fixtures::*;
use iomesh::state::{PaymentMint, PriceSource};
use iomesh_tests::scheduler::now;

async fn page(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/html"),
        "{url}: {content_type}"
    );
    (status, response.text().await.unwrap())
}

/// Every form control sits inside a label, so that it has an accessible name.
fn assert_labelled(html: &str) {
    for control in ["<input", "<select"] {
        for (at, _) in html.match_indices(control) {
            let before = &html[..at];
            let opened = before.rfind("<label").expect("a label before the control");
            assert!(
                before
                    .rfind("</label>")
                    .is_none_or(|closed| closed < opened),
                "a {control} outside any label: {}",
                &html[at..(at + 80).min(html.len())]
            );
        }
    }
}

#[sqlx::test(migrator = "iomesh_db::MIGRATOR")]
async fn the_search_page_lists_filters_and_names_bad_input(pool: PgPool) {
    let (_chain, m) = market(&pool).await;
    for node in [&m.steady, &m.flawless, &m.fresh] {
        connected(&pool, node).await;
    }
    let web = serve(&pool).await;

    let (status, html) = page(&format!("{web}/")).await;
    assert_eq!(status, 200);
    assert_labelled(&html);
    for name in [
        "gpu_model",
        "region",
        "min_vram_gib",
        "gpus",
        "hours",
        "max_price",
        "min_score",
        "free_now",
        "sort",
    ] {
        assert!(
            html.contains(&format!(r#"name="{name}""#)),
            "{name} missing"
        );
    }
    for node in [&m.steady, &m.flawless, &m.fresh] {
        assert!(
            html.contains(&format!(r#"href="/nodes/{node}""#)),
            "{node} not listed"
        );
    }
    // Cheapest first: the fresh node's $1.50, then $2.00, then $3.50.
    let at = |node: &Pubkey| html.find(&format!("/nodes/{node}")).unwrap();
    assert!(at(&m.fresh) < at(&m.steady) && at(&m.steady) < at(&m.flawless));
    assert!(html.contains("<td>$1.50</td>"));
    // The fresh node is marked new rather than scored.
    assert!(html.contains("<td>new</td>"));
    // Its model links to the model's page.
    assert!(html.contains(r#"href="/models/RTX%204090""#), "{html}");
    let (status, model) = page(&format!("{web}/models/RTX%204090")).await;
    assert_eq!(status, 200);
    assert!(
        model.contains("<title>RTX 4090 market · iomesh</title>"),
        "{model}"
    );

    // The same filters as the API: one model, most reliable first.
    let (status, html) = page(&format!("{web}/?gpu_model=h100&sort=reliability")).await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("/nodes/{}", m.flawless)));
    assert!(!html.contains(&format!("/nodes/{}", m.steady)));
    assert!(
        html.contains(r#"<option value="reliability" selected>"#),
        "{html}"
    );

    // All-in cost for 3 GPUs over 2 hours: the steady node's $2 × 3 × 2 = $12.00.
    let (_, html) = page(&format!("{web}/?gpus=3&hours=2&sort=total_cost")).await;
    assert!(html.contains("All-in, 3 GPU × 2 h"));
    assert!(html.contains("<td>$12.00</td>"), "{html}");

    // A price cap in dollars.
    let (_, html) = page(&format!("{web}/?max_price=1.75")).await;
    assert!(html.contains(&format!("/nodes/{}", m.fresh)));
    assert!(!html.contains(&format!("/nodes/{}", m.steady)));

    for (query, message) in [
        ("max_price=cheap", "Max price per GPU-hour"),
        ("gpus=two", "GPUs: `two` is not a whole number"),
        ("min_score=150", "Minimum score: a percentage, 0 to 100"),
        (
            "sort=random",
            "sort: `random` is not one of the orders offered",
        ),
        ("gpus=0", "gpus must be at least 1"),
    ] {
        let (status, html) = page(&format!("{web}/?{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert!(html.contains(message), "{query}: {html}");
        // The form stays, to correct the input.
        assert!(html.contains(r#"<form class="search""#));
    }
}

#[sqlx::test(migrator = "iomesh_db::MIGRATOR")]
async fn a_node_page_shows_its_listing_scores_uptime_chart_and_outcomes(pool: PgPool) {
    let (chain, m) = market(&pool).await;
    connected(&pool, &m.steady).await;
    chain
        .write(vec![(Pubkey::new_unique(), encode(&iosd()))])
        .await;
    // Yesterday (UTC), every minute: a full bar in the chart.
    let today = now() - now().rem_euclid(DAY);
    heartbeats(&pool, &m.steady, today - DAY, today).await;
    let web = serve(&pool).await;

    let (status, html) = page(&format!("{web}/nodes/{}", m.steady)).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<title>8 × RTX 4090 in eu-west · iomesh</title>"),
        "{html}"
    );
    assert!(html.contains("<strong>available</strong>"));
    // $2 per GPU-hour, and in IOSD (6 decimals, $1): 2 IOSD.
    assert!(html.contains("<td>$2.00</td>"));
    assert!(html.contains("<td>2 IOSD</td>"), "{html}");
    // The scores of the snapshot (taken at T): its uptime figures, 90.90 % success.
    let score = scores::latest(&pool, m.steady.as_ref())
        .await
        .unwrap()
        .unwrap();
    assert!(
        html.contains(&format!(
            "({} of {} minutes)",
            score.uptime_minutes, score.window_minutes
        )),
        "{html}"
    );
    assert!(html.contains("<dd>90.90%</dd>"), "{html}");
    // The chart: yesterday's bar at full height, with its figure.
    assert!(
        html.contains(r#"role="img" aria-label="Heartbeat minutes per day over the last 30 days""#)
    );
    assert!(html.contains(r#"height="140.0""#), "{html}");
    assert!(html.contains("100.0% (1440 of 1440 minutes)</title>"));
    // Its four lease outcomes.
    for reason in ["completed", "failed", "cancelled", "expired"] {
        assert!(html.contains(&format!("<td>{reason}</td>")), "{reason}");
    }
    // How to rent it: the Action and the CLI.
    assert!(html.contains(&format!(r#"href="/api/actions/rent/{}""#, m.steady)));

    let (status, html) = page(&format!("{web}/nodes/{}", Pubkey::new_unique())).await;
    assert_eq!(status, 404);
    assert!(html.contains("is listed"));
    let (status, html) = page(&format!("{web}/nodes/not-a-key")).await;
    assert_eq!(status, 400);
    assert!(html.contains("not-a-key is not a node address"));

    // A Blink's page URL leads a person to the rent section.
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{web}/nodes/{}/rent", m.steady))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        response.headers()["location"],
        format!("/nodes/{}#rent", m.steady).as_str()
    );
}

/// IOSD as the indexer records its payment mint: 6 decimals, $1.
fn iosd() -> PaymentMint {
    PaymentMint {
        version: 1,
        bump: 255,
        vault_bump: 255,
        enabled: true,
        decimals: 6,
        price_source: PriceSource::Stable,
        fee_bps: 200,
        max_price_age_secs: 3_600,
        mint: Pubkey::new_unique(),
        token_program: Pubkey::new_unique(),
        vault: Pubkey::new_unique(),
        usd_price_micros: 1_000_000,
        price_updated_at: 0,
        symbol: encode_text::<8>("IOSD").unwrap(),
        price_feed_id: [0; 32],
        max_confidence_bps: 0,
        unswept_fees: 0,
        reserved: [0; 54],
    }
}

#[sqlx::test(migrator = "iomesh_db::MIGRATOR")]
async fn a_model_page_charts_prices_paid_and_utilisation(pool: PgPool) {
    let chain = Chain::new(&pool).await;
    let mint = iosd();
    chain
        .write(vec![(Pubkey::new_unique(), encode(&mint))])
        .await;
    let today = now() - now().rem_euclid(DAY);
    let a100 = Pubkey::new_unique();
    let mut listing = listed("A100", 4, 1_000_000, 0);
    listing.registered_at = today - 10 * DAY;
    chain.write(vec![(a100, encode(&listing))]).await;
    // Yesterday: three leases at 1, 2 and 4 IOSD per GPU-hour, each on one
    // GPU for 6 hours of the day: 3 × 6 GPU-hours of the node's 4 × 24.
    for (i, rate) in [1_000_000u64, 2_000_000, 4_000_000].into_iter().enumerate() {
        let mut l = lease(&Pubkey::new_unique(), &a100, i as u64, [0; 32]);
        l.mint = mint.mint;
        l.rate_per_gpu_hour = rate;
        l.created_at = today - DAY + 3_600;
        l.activated_at = today - DAY + 3_600;
        l.status = LeaseStatus::Active;
        let address = Pubkey::new_unique();
        chain.write(vec![(address, encode(&l))]).await;
        chain.close(&address).await;
        sqlx::query(
            "INSERT INTO lease_endings (lease, slot, signature, node, reason, paid_out, refunded, billed_until) \
             VALUES ($1, 1, 'sig', $2, 'completed', 0, 0, $3)",
        )
        .bind(address.as_ref())
        .bind(a100.as_ref())
        .bind(today - DAY + 3_600 + 6 * HOUR)
        .execute(&pool)
        .await
        .unwrap();
    }
    let web = serve(&pool).await;

    let (status, html) = page(&format!("{web}/models/a100")).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("3 leases of a100 created in the last 30 days"),
        "{html}"
    );
    // Yesterday's range: $1.00 to $4.00, median $2.00.
    assert!(
        html.contains(": $1.00 to $4.00, median $2.00, 3 leases</title>"),
        "{html}"
    );
    // Utilisation yesterday: 18 of 96 GPU-hours, 18.75 %; before the node
    // was listed, no GPUs offered: 0 %.
    assert!(html.contains(": 18.75%</title>"), "{html}");
    assert!(
        html.contains(&format!(
            "{}: 0.00%</title>",
            iomesh_web::charts::date(today - 20 * DAY)
        )),
        "{html}"
    );
    assert!(html.contains(r#"aria-label="Share of the model's GPU time leased, per day""#));

    let (status, _) = page(&format!("{web}/models/{}", "x".repeat(65))).await;
    assert_eq!(status, 400);
}

#[sqlx::test(migrator = "iomesh_db::MIGRATOR")]
async fn a_supplier_page_says_why_each_node_gets_work_or_not(pool: PgPool) {
    let chain = Chain::new(&pool).await;
    let mint = iosd();
    chain
        .write(vec![(Pubkey::new_unique(), encode(&mint))])
        .await;
    let owner = Pubkey::new_unique();
    let mine = |model: &str, price: u64| {
        let mut n = listed(model, 4, price, 0);
        n.owner = owner;
        n.registered_at = now() - DAY;
        n
    };
    let (serving, idle, offline, paused) = (
        Pubkey::new_unique(),
        Pubkey::new_unique(),
        Pubkey::new_unique(),
        Pubkey::new_unique(),
    );
    let mut busy = mine("H100", 3_000_000);
    busy.open_leases = 1;
    busy.gpus_in_use = 2;
    let mut stopped = mine("H100", 3_000_000);
    stopped.status = NodeStatus::Paused;
    // Someone else's cheaper RTX 4090 on offer.
    let rival = Pubkey::new_unique();
    chain
        .write(vec![
            (serving, encode(&busy)),
            (idle, encode(&mine("RTX 4090", 2_500_000))),
            (offline, encode(&mine("RTX 4090", 2_000_000))),
            (paused, encode(&stopped)),
            (rival, encode(&listed("RTX 4090", 8, 1_500_000, 0))),
        ])
        .await;
    for node in [&serving, &idle, &rival, &paused] {
        connected(&pool, node).await;
    }
    // Two leases of the serving node ended, paid 3 and 1.5 IOSD.
    for (i, paid) in [3_000_000i64, 1_500_000].into_iter().enumerate() {
        let mut l = lease(&Pubkey::new_unique(), &serving, i as u64, [0; 32]);
        l.mint = mint.mint;
        let address = Pubkey::new_unique();
        chain.write(vec![(address, encode(&l))]).await;
        chain.close(&address).await;
        sqlx::query(
            "INSERT INTO lease_endings (lease, slot, signature, node, reason, paid_out, refunded, billed_until) \
             VALUES ($1, 1, 'sig', $2, 'completed', $3, 0, 0)",
        )
        .bind(address.as_ref())
        .bind(serving.as_ref())
        .bind(paid)
        .execute(&pool)
        .await
        .unwrap();
    }
    // Its open lease: 2 of its 4 GPUs for the last 6 of the 24 hours it has
    // been listed, so 12.5 % of its GPU time leased.
    let mut running = lease(&Pubkey::new_unique(), &serving, 7, [0; 32]);
    running.status = LeaseStatus::Active;
    running.gpus = 2;
    running.activated_at = now() - 6 * 3_600;
    running.duration_secs = 86_400;
    chain
        .write(vec![(Pubkey::new_unique(), encode(&running))])
        .await;
    let web = serve(&pool).await;

    let (status, html) = page(&format!("{web}/suppliers/{owner}")).await;
    assert_eq!(status, 200, "{html}");
    let row = |node: &Pubkey| {
        let at = html
            .find(&format!(r#"href="/nodes/{node}""#))
            .expect("the node is listed");
        let end = html[at..].find("</tr>").unwrap();
        html[at..at + end].to_string()
    };
    assert!(
        row(&serving).contains("<td>2 / 4</td>") && row(&serving).contains("serving 1 lease(s)"),
        "{html}"
    );
    assert!(row(&serving).contains("<td>12.50%</td>"), "{html}");
    assert!(row(&idle).contains("<td>0.00%</td>"), "{html}");
    assert!(
        row(&idle).contains(
            "online, no lease yet: the cheapest RTX 4090 on offer asks $1.50 per GPU-hour"
        ),
        "{html}"
    );
    assert!(
        row(&offline).contains("offline: no agent connected"),
        "{html}"
    );
    assert!(row(&paused).contains("paused by you"), "{html}");
    assert!(
        !html.contains(&rival.to_string()),
        "another owner's node is not listed"
    );
    // Earnings: two leases, 4.5 IOSD.
    assert!(
        html.contains("<td>IOSD</td><td>2</td><td>4.5 IOSD</td>"),
        "{html}"
    );

    let (status, html) = page(&format!("{web}/suppliers/{}", Pubkey::new_unique())).await;
    assert_eq!(status, 200);
    assert!(html.contains("No node is registered with this wallet"));
    let (status, html) = page(&format!("{web}/suppliers/nope")).await;
    assert_eq!(status, 400);
    assert!(html.contains("nope is not a wallet address"));
}
