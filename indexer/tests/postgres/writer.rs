use crate::common::*;
use iomesh_indexer::{
    update::AccountUpdate,
    writer::{Batch, NOTIFY_CHANNEL},
};
use solana_program_option::COption;
use solana_program_pack::Pack;
use solana_pubkey::Pubkey;
use spl_token_interface::state::{Account as TokenAccount, AccountState};
use sqlx::{postgres::PgListener, PgPool, Row};

fn batch(updates: Vec<AccountUpdate>) -> Batch {
    Batch {
        updates,
        cursor: None,
        ..Batch::default()
    }
}

fn b(key: &Pubkey) -> Vec<u8> {
    key.to_bytes().to_vec()
}

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn every_account_type_lands_field_by_field(pool: PgPool) {
    let writer = writer(&pool);
    let (market_key, mint_key, node_key, lease_key, vault_key) =
        (key(100), key(101), key(102), key(103), key(104));
    let market_data = encode(&market());
    let mint_data = encode(&payment_mint());
    let node_data = encode(&node());
    let lease = lease(u64::MAX);
    let lease_data = encode(&lease);
    let mut vault_data = vec![0; TokenAccount::LEN];
    TokenAccount {
        mint: key(10),
        owner: key(12),
        amount: u64::MAX,
        delegate: COption::None,
        state: AccountState::Initialized,
        is_native: COption::None,
        delegated_amount: 0,
        close_authority: COption::None,
    }
    .pack_into_slice(&mut vault_data);
    let vault = AccountUpdate {
        owner: spl_token_interface::ID,
        ..live(vault_key, 9, 5, vault_data.clone())
    };
    let stats = writer
        .write(&batch(vec![
            live(market_key, 9, 1, market_data.clone()),
            live(mint_key, 9, 2, mint_data.clone()),
            live(node_key, 9, 3, node_data.clone()),
            live(lease_key, 9, 4, lease_data.clone()),
            vault,
        ]))
        .await
        .unwrap();
    assert_eq!((stats.written, stats.skipped), (5, 0));

    let m = sqlx::query(
        "SELECT version, paused, authority, pending_authority, treasury, scheduler_authority, \
         price_authority, reward_authority, activation_timeout_secs, min_lease_secs, \
         max_lease_secs, failure_grace_secs, data, lamports, slot, write_version, closed_slot \
         FROM markets WHERE pubkey = $1",
    )
    .bind(b(&market_key))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(m.get::<i32, _>(0), 1);
    assert!(m.get::<bool, _>(1));
    for (i, k) in [1u8, 2, 3, 4, 5, 6].into_iter().enumerate() {
        assert_eq!(m.get::<Vec<u8>, _>(2 + i), b(&key(k)));
    }
    assert_eq!(m.get::<i64, _>(8), 600);
    assert_eq!(m.get::<i64, _>(9), 60);
    assert_eq!(m.get::<i64, _>(10), i64::from(u32::MAX));
    assert_eq!(m.get::<i64, _>(11), 120);
    assert_eq!(m.get::<Vec<u8>, _>(12), market_data);
    assert_eq!(m.get::<i64, _>(13), 1_000_000 + market_data.len() as i64);
    assert_eq!((m.get::<i64, _>(14), m.get::<i64, _>(15)), (9, 1));
    assert_eq!(m.get::<Option<i64>, _>(16), None);

    let p = sqlx::query(
        "SELECT version, mint, token_program, vault, enabled, decimals, price_source, fee_bps, \
         max_price_age_secs, usd_price_micros::text, price_updated_at, symbol, data \
         FROM payment_mints WHERE pubkey = $1",
    )
    .bind(b(&mint_key))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(p.get::<i32, _>(0), 1);
    assert_eq!(p.get::<Vec<u8>, _>(1), b(&key(10)));
    assert_eq!(p.get::<Vec<u8>, _>(2), b(&spl_token_interface::ID));
    assert_eq!(p.get::<Vec<u8>, _>(3), b(&key(11)));
    assert!(p.get::<bool, _>(4));
    assert_eq!(p.get::<i32, _>(5), 6);
    assert_eq!(p.get::<String, _>(6), "authority");
    assert_eq!(p.get::<i32, _>(7), 250);
    assert_eq!(p.get::<i64, _>(8), 3_600);
    assert_eq!(p.get::<String, _>(9), (u64::MAX - 7).to_string());
    assert_eq!(p.get::<i64, _>(10), 1_700_000_000);
    assert_eq!(p.get::<String, _>(11), "USDC");
    assert_eq!(p.get::<Vec<u8>, _>(12), mint_data);

    let n = sqlx::query(
        "SELECT version, owner, operator, status, gpu_model, region, gpu_count, gpus_in_use, \
         vram_mib, price_usd_micros_per_gpu_hour::text, min_lease_secs, max_lease_secs, \
         open_leases, leases_served::text, failures::text, gpu_seconds_delivered::text, \
         registered_at, data FROM nodes WHERE pubkey = $1",
    )
    .bind(b(&node_key))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(n.get::<i32, _>(0), 1);
    assert_eq!(n.get::<Vec<u8>, _>(1), b(&key(20)));
    assert_eq!(n.get::<Vec<u8>, _>(2), b(&key(21)));
    assert_eq!(n.get::<String, _>(3), "paused");
    assert_eq!(n.get::<String, _>(4), "H100 SXM");
    assert_eq!(n.get::<String, _>(5), "eu-west");
    assert_eq!((n.get::<i32, _>(6), n.get::<i32, _>(7)), (8, 3));
    assert_eq!(n.get::<i64, _>(8), 81_920);
    assert_eq!(n.get::<String, _>(9), "2490000");
    assert_eq!((n.get::<i64, _>(10), n.get::<i64, _>(11)), (300, 604_800));
    assert_eq!(n.get::<i64, _>(12), 2);
    assert_eq!(n.get::<String, _>(13), "17");
    assert_eq!(n.get::<String, _>(14), "1");
    assert_eq!(n.get::<String, _>(15), "9000000000000000000");
    assert_eq!(n.get::<i64, _>(16), 1_700_000_100);
    assert_eq!(n.get::<Vec<u8>, _>(17), node_data);

    let l = sqlx::query(
        "SELECT version, status, renter, payer, node, mint, nonce::text, fee_bps, gpus, \
         rate_per_gpu_hour::text, deposited::text, paid_out::text, created_at, activated_at, \
         settled_until, duration_secs, job_spec_hash, data FROM leases WHERE pubkey = $1",
    )
    .bind(b(&lease_key))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(l.get::<i32, _>(0), 1);
    assert_eq!(l.get::<String, _>(1), "active");
    assert_eq!(l.get::<Vec<u8>, _>(2), b(&lease.renter));
    assert_eq!(l.get::<Vec<u8>, _>(3), b(&lease.payer));
    assert_eq!(l.get::<Vec<u8>, _>(4), b(&lease.node));
    assert_eq!(l.get::<Vec<u8>, _>(5), b(&lease.mint));
    assert_eq!(l.get::<String, _>(6), u64::MAX.to_string());
    assert_eq!((l.get::<i32, _>(7), l.get::<i32, _>(8)), (250, 2));
    assert_eq!(l.get::<String, _>(9), "1250000");
    assert_eq!(l.get::<String, _>(10), "2500000");
    assert_eq!(l.get::<String, _>(11), "1000001");
    assert_eq!(l.get::<i64, _>(12), 1_700_000_200);
    assert_eq!(l.get::<i64, _>(13), 1_700_000_260);
    assert_eq!(l.get::<i64, _>(14), 1_700_001_000);
    assert_eq!(l.get::<i64, _>(15), 3_600);
    assert_eq!(l.get::<Vec<u8>, _>(16), vec![0xab; 32]);
    assert_eq!(l.get::<Vec<u8>, _>(17), lease_data);

    let v = sqlx::query(
        "SELECT mint, owner, amount::text, token_program, data FROM vaults WHERE pubkey = $1",
    )
    .bind(b(&vault_key))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(v.get::<Vec<u8>, _>(0), b(&key(10)));
    assert_eq!(v.get::<Vec<u8>, _>(1), b(&key(12)));
    assert_eq!(v.get::<String, _>(2), u64::MAX.to_string());
    assert_eq!(v.get::<Vec<u8>, _>(3), b(&spl_token_interface::ID));
    assert_eq!(v.get::<Vec<u8>, _>(4), vault_data);

    // The staking, slashing and cluster fields added by 0002.
    let m = sqlx::query(
        "SELECT io_mint, slash_authority, stake_per_gpu::text, unstake_cooldown_secs, \
         slash_appeal_secs FROM markets WHERE pubkey = $1",
    )
    .bind(b(&market_key))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(m.get::<Vec<u8>, _>(0), b(&key(11)));
    assert_eq!(m.get::<Vec<u8>, _>(1), b(&key(12)));
    assert_eq!(m.get::<String, _>(2), "5000000");
    assert_eq!(
        (m.get::<i64, _>(3), m.get::<i64, _>(4)),
        (1_209_600, 604_800)
    );
    let n = sqlx::query(
        "SELECT staked::text, unstaking::text, unstake_ready_at, slashes_pending, slash_count \
         FROM nodes WHERE pubkey = $1",
    )
    .bind(b(&node_key))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(n.get::<String, _>(0), "40000000");
    assert_eq!(n.get::<String, _>(1), "1000000");
    assert_eq!(n.get::<i64, _>(2), 1_701_000_000);
    assert_eq!((n.get::<i32, _>(3), n.get::<i64, _>(4)), (1, 2));
    let l = sqlx::query(
        "SELECT in_cluster, cluster_nonce::text, cluster_funding_deadline \
         FROM leases WHERE pubkey = $1",
    )
    .bind(b(&lease_key))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(!l.get::<bool, _>(0));
    assert_eq!(l.get::<String, _>(1), "0");
    assert_eq!(l.get::<i64, _>(2), 0);

    // The guard table knows every pubkey's kind; typed kinds keep their bytes in their table.
    let kinds: Vec<(String, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT kind, data FROM accounts ORDER BY pubkey")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        kinds,
        [
            ("market".to_string(), None),
            ("payment_mint".to_string(), None),
            ("node".to_string(), None),
            ("lease".to_string(), None),
            ("vault".to_string(), None),
        ]
    );
}

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn economics_accounts_land_field_by_field_and_close_as_tombstones(pool: PgPool) {
    let writer = writer(&pool);
    let (cluster_key, slash_key, epoch_key, iosd_key) = (key(110), key(111), key(112), key(113));
    let cluster_data = encode(&cluster());
    let slash_data = encode(&pending_slash());
    let epoch = reward_epoch();
    // The claim bitmap follows the struct: 20 leaves, 3 bytes, leaves 0, 9 and 19 claimed.
    let bitmap = vec![0b0000_0001, 0b0000_0010, 0b0000_1000];
    let epoch_data = [encode(&epoch), bitmap.clone()].concat();
    let iosd_data = encode(&iosd_config());
    let stats = writer
        .write(&batch(vec![
            live(cluster_key, 9, 1, cluster_data.clone()),
            live(slash_key, 9, 2, slash_data.clone()),
            live(epoch_key, 9, 3, epoch_data.clone()),
            live(iosd_key, 9, 4, iosd_data.clone()),
        ]))
        .await
        .unwrap();
    assert_eq!((stats.written, stats.unknown, stats.undecodable), (4, 0, 0));

    let c = sqlx::query(
        "SELECT version, renter, nonce::text, leases_expected, leases_funded, leases_unwound, \
         funding_deadline, created_at, completed_at, data, slot, write_version, closed_slot \
         FROM clusters WHERE pubkey = $1",
    )
    .bind(b(&cluster_key))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(c.get::<i32, _>(0), 1);
    assert_eq!(c.get::<Vec<u8>, _>(1), b(&key(40)));
    assert_eq!(c.get::<String, _>(2), (u64::MAX - 1).to_string());
    assert_eq!(
        (c.get::<i32, _>(3), c.get::<i32, _>(4), c.get::<i32, _>(5)),
        (4, 4, 1)
    );
    assert_eq!(c.get::<i64, _>(6), 1_700_086_400);
    assert_eq!(c.get::<i64, _>(7), 1_700_000_000);
    assert_eq!(c.get::<i64, _>(8), 1_700_000_500);
    assert_eq!(c.get::<Vec<u8>, _>(9), cluster_data);
    assert_eq!((c.get::<i64, _>(10), c.get::<i64, _>(11)), (9, 1));
    assert_eq!(c.get::<Option<i64>, _>(12), None);

    let s = sqlx::query(
        "SELECT version, reason, slash_index, node, harmed, evidence, rent_payer, amount::text, \
         harmed_amount::text, slashed_at, appeal_ends_at, data FROM pending_slashes WHERE pubkey = $1",
    )
    .bind(b(&slash_key))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((s.get::<i32, _>(0), s.get::<i32, _>(1)), (1, 0xffff));
    assert_eq!(s.get::<i64, _>(2), i64::from(u32::MAX));
    for (i, k) in [41u8, 42, 43, 44].into_iter().enumerate() {
        assert_eq!(s.get::<Vec<u8>, _>(3 + i), b(&key(k)));
    }
    assert_eq!(s.get::<String, _>(7), u64::MAX.to_string());
    assert_eq!(s.get::<String, _>(8), "12345");
    assert_eq!(
        (s.get::<i64, _>(9), s.get::<i64, _>(10)),
        (1_700_000_000, 1_700_604_800)
    );
    assert_eq!(s.get::<Vec<u8>, _>(11), slash_data);

    let e = sqlx::query(
        "SELECT version, clawed_back, epoch::text, merkle_root, total_amount::text, \
         claimed_amount::text, num_leaves, claims, published_at, claim_deadline, claimed_bitmap, \
         data FROM reward_epochs WHERE pubkey = $1",
    )
    .bind(b(&epoch_key))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(e.get::<i32, _>(0), 1);
    assert!(e.get::<bool, _>(1));
    assert_eq!(e.get::<String, _>(2), (u64::MAX - 2).to_string());
    assert_eq!(e.get::<Vec<u8>, _>(3), vec![0xcd; 32]);
    assert_eq!(e.get::<String, _>(4), (u64::MAX - 3).to_string());
    assert_eq!(e.get::<String, _>(5), "777");
    assert_eq!((e.get::<i64, _>(6), e.get::<i64, _>(7)), (20, 3));
    assert_eq!(
        (e.get::<i64, _>(8), e.get::<i64, _>(9)),
        (1_700_000_000, 1_702_592_000)
    );
    assert_eq!(e.get::<Vec<u8>, _>(10), bitmap);
    assert_eq!(e.get::<Vec<u8>, _>(11), epoch_data);

    let i = sqlx::query(
        "SELECT version, max_confidence_bps, max_price_age_secs, window_secs, iosd_mint, \
         price_feed_id, window_cap::text, window_start, window_minted::text, \
         total_io_burned::text, total_iosd_minted::text, data FROM iosd_config WHERE pubkey = $1",
    )
    .bind(b(&iosd_key))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((i.get::<i32, _>(0), i.get::<i32, _>(1)), (1, 150));
    assert_eq!(i.get::<i64, _>(2), i64::from(u32::MAX));
    assert_eq!(i.get::<i64, _>(3), 86_400);
    assert_eq!(i.get::<Vec<u8>, _>(4), b(&key(45)));
    assert_eq!(i.get::<Vec<u8>, _>(5), vec![0xef; 32]);
    assert_eq!(i.get::<String, _>(6), (u64::MAX - 4).to_string());
    assert_eq!(i.get::<i64, _>(7), 1_700_000_000);
    assert_eq!(i.get::<String, _>(8), "1000");
    assert_eq!(i.get::<String, _>(9), (u64::MAX - 5).to_string());
    assert_eq!(i.get::<String, _>(10), "9999");
    assert_eq!(i.get::<Vec<u8>, _>(11), iosd_data);

    // A partially grown epoch (bitmap shorter than its leaves need) is valid: kept as is.
    let partial = [encode(&epoch), vec![0b1]].concat();
    writer
        .write(&batch(vec![live(key(114), 9, 5, partial)]))
        .await
        .unwrap();
    let short: Vec<u8> =
        sqlx::query_scalar("SELECT claimed_bitmap FROM reward_epochs WHERE pubkey = $1")
            .bind(b(&key(114)))
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(short, vec![0b1]);

    // Closures (a finalized slash, a closed cluster) leave tombstones a stale update cannot revive.
    let stats = writer
        .write(&batch(vec![
            AccountUpdate::closed(cluster_key, 11, 1),
            AccountUpdate::closed(slash_key, 11, 2),
        ]))
        .await
        .unwrap();
    assert_eq!((stats.written, stats.closed), (2, 2));
    let stats = writer
        .write(&batch(vec![
            live(cluster_key, 10, 9, cluster_data),
            live(slash_key, 10, 9, slash_data),
        ]))
        .await
        .unwrap();
    assert_eq!((stats.written, stats.skipped), (0, 2));
    for (table, pubkey) in [("clusters", cluster_key), ("pending_slashes", slash_key)] {
        let (closed, data): (Option<i64>, Vec<u8>) = sqlx::query_as(&format!(
            "SELECT closed_slot, data FROM {table} WHERE pubkey = $1"
        ))
        .bind(b(&pubkey))
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!((closed, data), (Some(11), vec![]), "{table}");
    }
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM accounts ORDER BY pubkey")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        kinds,
        [
            "cluster",
            "pending_slash",
            "reward_epoch",
            "iosd_config",
            "reward_epoch"
        ]
    );
}

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn credits_and_unswept_fees_land_field_by_field(pool: PgPool) {
    let writer = writer(&pool);
    let credit = iomesh::state::Credit {
        version: 1,
        bump: 250,
        owner: key(50),
        vault: key(51),
        amount: u64::MAX - 9,
        rent_payer: key(52),
        reserved: [0; 8],
    };
    let mut mint = payment_mint();
    mint.unswept_fees = 4_242;
    let (credit_key, mint_key) = (key(120), key(121));
    let credit_data = encode(&credit);
    let stats = writer
        .write(&batch(vec![
            live(credit_key, 9, 1, credit_data.clone()),
            live(mint_key, 9, 2, encode(&mint)),
        ]))
        .await
        .unwrap();
    assert_eq!((stats.written, stats.unknown, stats.undecodable), (2, 0, 0));
    let c = sqlx::query(
        "SELECT version, owner, vault, amount::text, rent_payer, data FROM credits WHERE pubkey = $1",
    )
    .bind(b(&credit_key))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(c.get::<i32, _>(0), 1);
    assert_eq!(c.get::<Vec<u8>, _>(1), b(&key(50)));
    assert_eq!(c.get::<Vec<u8>, _>(2), b(&key(51)));
    assert_eq!(c.get::<String, _>(3), (u64::MAX - 9).to_string());
    assert_eq!(c.get::<Vec<u8>, _>(4), b(&key(52)));
    assert_eq!(c.get::<Vec<u8>, _>(5), credit_data);
    let unswept: String =
        sqlx::query_scalar("SELECT unswept_fees::text FROM payment_mints WHERE pubkey = $1")
            .bind(b(&mint_key))
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(unswept, "4242");
}

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn replays_and_out_of_order_updates_never_overwrite_newer_rows(pool: PgPool) {
    let writer = writer(&pool);
    let lease = key(50);
    writer
        .write(&batch(vec![lease_update(lease, 20, 7, 300)]))
        .await
        .unwrap();
    // Older slot, older write_version in the same slot, and the same version again.
    for (slot, write_version, paid_out) in [(19, 99, 100), (20, 6, 200), (20, 7, 999)] {
        let stats = writer
            .write(&batch(vec![lease_update(
                lease,
                slot,
                write_version,
                paid_out,
            )]))
            .await
            .unwrap();
        assert_eq!(
            (stats.written, stats.skipped),
            (0, 1),
            "({slot}, {write_version})"
        );
    }
    assert_eq!(
        lease_row(&pool, &lease).await,
        Some((20, 7, None, "300".into()))
    );
    // A newer write in the same slot lands.
    let stats = writer
        .write(&batch(vec![lease_update(lease, 20, 8, 400)]))
        .await
        .unwrap();
    assert_eq!(stats.written, 1);
    assert_eq!(
        lease_row(&pool, &lease).await,
        Some((20, 8, None, "400".into()))
    );
}

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn closed_accounts_become_tombstones_that_stale_updates_cannot_revive(pool: PgPool) {
    let writer = writer(&pool);
    let lease = key(60);
    writer
        .write(&batch(vec![lease_update(lease, 10, 1, 100)]))
        .await
        .unwrap();
    let stats = writer
        .write(&batch(vec![AccountUpdate::closed(lease, 12, 5)]))
        .await
        .unwrap();
    assert_eq!((stats.written, stats.closed), (1, 1));
    // The tombstone keeps the last decoded values, drops the bytes.
    assert_eq!(
        lease_row(&pool, &lease).await,
        Some((12, 5, Some(12), "100".into()))
    );
    let (data, lamports): (Vec<u8>, i64) =
        sqlx::query_as("SELECT data, lamports FROM leases WHERE pubkey = $1")
            .bind(lease.as_ref())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((data, lamports), (vec![], 0));
    let (kind, closed): (String, Option<i64>) =
        sqlx::query_as("SELECT kind, closed_slot FROM accounts WHERE pubkey = $1")
            .bind(lease.as_ref())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((kind.as_str(), closed), ("lease", Some(12)));

    // A stale live update (delivered late) does not revive it.
    let stats = writer
        .write(&batch(vec![lease_update(lease, 11, 9, 200)]))
        .await
        .unwrap();
    assert_eq!((stats.written, stats.skipped), (0, 1));
    assert_eq!(
        lease_row(&pool, &lease).await,
        Some((12, 5, Some(12), "100".into()))
    );

    // Re-created at the same address later: alive again.
    writer
        .write(&batch(vec![lease_update(lease, 13, 1, 0)]))
        .await
        .unwrap();
    assert_eq!(
        lease_row(&pool, &lease).await,
        Some((13, 1, None, "0".into()))
    );
}

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn a_closure_delivered_before_the_account_keeps_it_out(pool: PgPool) {
    let writer = writer(&pool);
    let lease = key(61);
    writer
        .write(&batch(vec![AccountUpdate::closed(lease, 30, 2)]))
        .await
        .unwrap();
    let stats = writer
        .write(&batch(vec![lease_update(lease, 29, 1, 5)]))
        .await
        .unwrap();
    assert_eq!(stats.skipped, 1);
    assert_eq!(lease_row(&pool, &lease).await, None);
    let (kind, closed): (Option<String>, Option<i64>) =
        sqlx::query_as("SELECT kind, closed_slot FROM accounts WHERE pubkey = $1")
            .bind(lease.as_ref())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((kind, closed), (None, Some(30)));
}

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn garbage_is_kept_raw_and_counted_never_fatal(pool: PgPool) {
    let writer = writer(&pool);
    let unknown_discriminator = [vec![9u8; 8], vec![1, 2, 3]].concat();
    let mut truncated_lease = encode(&lease(1));
    truncated_lease.truncate(40);
    let too_short = vec![1, 2, 3];
    let foreign = AccountUpdate {
        owner: key(77),
        ..live(key(73), 5, 4, vec![5; 10])
    };
    let stats = writer
        .write(&batch(vec![
            live(key(70), 5, 1, unknown_discriminator.clone()),
            live(key(71), 5, 2, truncated_lease.clone()),
            live(key(72), 5, 3, too_short.clone()),
            foreign,
            lease_update(key(74), 5, 5, 1),
        ]))
        .await
        .unwrap();
    assert_eq!((stats.written, stats.unknown, stats.undecodable), (5, 2, 2));
    let rows: Vec<(String, Option<Vec<u8>>, Option<String>)> =
        sqlx::query_as("SELECT kind, data, decode_error FROM accounts ORDER BY pubkey")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        rows[0],
        ("unknown".into(), Some(unknown_discriminator), None)
    );
    assert_eq!(rows[1].0, "undecodable");
    assert_eq!(rows[1].1, Some(truncated_lease));
    assert!(
        rows[1].2.as_deref().unwrap().starts_with("Lease: "),
        "{:?}",
        rows[1].2
    );
    assert_eq!(
        rows[2],
        (
            "undecodable".into(),
            Some(too_short),
            Some("3 bytes is shorter than a discriminator".into())
        )
    );
    assert_eq!(rows[3], ("unknown".into(), Some(vec![5; 10]), None));
    assert_eq!(rows[4], ("lease".into(), None, None));
    // The good account in the same batch landed.
    assert!(lease_row(&pool, &key(74)).await.is_some());
}

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn cursor_commits_with_the_batch_never_moves_back_and_one_notify_carries_the_slot(
    pool: PgPool,
) {
    let writer = writer(&pool);
    let mut listener = PgListener::connect_with(&pool).await.unwrap();
    listener.listen(NOTIFY_CHANNEL).await.unwrap();
    assert_eq!(writer.cursor().await.unwrap(), None);

    writer
        .write(&Batch {
            updates: vec![
                lease_update(key(80), 41, 1, 1),
                lease_update(key(81), 43, 1, 1),
            ],
            cursor: Some(42),
            ..Batch::default()
        })
        .await
        .unwrap();
    assert_eq!(writer.cursor().await.unwrap(), Some(42));
    let notification = listener.recv().await.unwrap();
    assert_eq!(notification.payload(), "43");

    // An older cursor (a reconcile racing the stream) never moves it back.
    writer
        .write(&Batch {
            updates: vec![],
            cursor: Some(40),
            ..Batch::default()
        })
        .await
        .unwrap();
    assert_eq!(writer.cursor().await.unwrap(), Some(42));
    assert_eq!(listener.recv().await.unwrap().payload(), "40");

    // A failed batch moves nothing: no rows, no cursor.
    let mut bad = lease_update(key(82), 50, 1, 1);
    bad.write_version = u64::MAX;
    let err = writer
        .write(&Batch {
            updates: vec![lease_update(key(83), 50, 1, 1), bad],
            cursor: Some(50),
            ..Batch::default()
        })
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("write_version 18446744073709551615"),
        "{err}"
    );
    assert_eq!(writer.cursor().await.unwrap(), Some(42));
    assert_eq!(lease_row(&pool, &key(83)).await, None);
}

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn a_sharded_batch_moves_the_cursor_only_once_every_range_committed(pool: PgPool) {
    let writer = writer(&pool);
    let mut listener = PgListener::connect_with(&pool).await.unwrap();
    listener.listen(NOTIFY_CHANNEL).await.unwrap();
    let pubkey = |i: u32| {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&i.to_be_bytes());
        Pubkey::new_from_array(bytes)
    };
    // 2,048 updates sorted by pubkey: four ranges of 512, one transaction each.
    let mut updates: Vec<AccountUpdate> = (0..2_048)
        .map(|i| lease_update(pubkey(i), 70, u64::from(i), u64::from(i)))
        .collect();
    // The last range cannot be written (a write_version beyond BIGINT).
    updates.last_mut().unwrap().write_version = u64::MAX;
    let failing = Batch {
        updates: updates.clone(),
        cursor: Some(70),
        ..Batch::default()
    };
    let err = writer.write_sharded(&failing, 4).await.unwrap_err();
    assert!(err.to_string().contains("write_version"), "{err}");
    // The range carrying the cursor rolled back with it: no cursor, no NOTIFY,
    // and its rows (the first 512) are not there.
    assert_eq!(writer.cursor().await.unwrap(), None);
    assert_eq!(lease_row(&pool, &pubkey(0)).await, None);
    assert_eq!(lease_row(&pool, &pubkey(2_047)).await, None);
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(300), listener.recv())
            .await
            .is_err(),
        "a failed batch sends no NOTIFY"
    );

    // Retried whole once the bad update is fixed: ranges already committed
    // are skipped by the guard, the rest lands, the cursor moves, one NOTIFY.
    updates.last_mut().unwrap().write_version = 2_047;
    let stats = writer
        .write_sharded(
            &Batch {
                updates,
                cursor: Some(70),
                ..Batch::default()
            },
            4,
        )
        .await
        .unwrap();
    assert_eq!(stats.written + stats.skipped, 2_048);
    assert!(stats.written >= 1_024, "{stats:?}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM leases WHERE slot = 70")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 2_048);
    assert_eq!(writer.cursor().await.unwrap(), Some(70));
    assert_eq!(listener.recv().await.unwrap().payload(), "70");
}
