use crate::common::*;
use iomesh_indexer::{
    batcher::{self, BatchConfig, Pending},
    metrics::Metrics,
    update::{AccountUpdate, Event},
};
use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[test]
fn a_batch_keeps_only_the_newest_write_per_pubkey() {
    let mut pending = Pending::default();
    for (slot, wv, paid) in [(5, 2, 20), (5, 1, 10), (6, 0, 60), (4, 9, 40)] {
        assert!(!pending.push(Event::Account(lease_update(key(1), slot, wv, paid)), 2));
    }
    pending.push(Event::SlotComplete(5), 2);
    pending.push(Event::SlotComplete(4), 2);
    assert!(pending.push(Event::Account(lease_update(key(2), 3, 0, 1)), 2));
    let (batch, superseded) = pending.take();
    assert_eq!(superseded, 3);
    assert_eq!(batch.cursor, Some(5));
    assert_eq!(batch.updates.len(), 2);
    assert_eq!(batch.updates[0].version(), (6, 0));
    assert_eq!(batch.updates[1].pubkey, key(2));
    assert!(pending.is_empty());
}

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn an_account_created_and_closed_within_one_batch_leaves_a_tombstone_with_its_values(
    pool: PgPool,
) {
    // As when an outage is replayed: the writes and the closure of a lease
    // (and a closure of another pubkey, re-created later in the batch) in one batch.
    let mut pending = Pending::default();
    pending.push(Event::Account(lease_update(key(1), 3, 0, 10)), 100);
    pending.push(Event::Account(lease_update(key(1), 4, 0, 40)), 100);
    pending.push(
        Event::Account(AccountUpdate::closed(key(1), 5, u64::MAX >> 2)),
        100,
    );
    pending.push(Event::Account(lease_update(key(1), 2, 0, 20)), 100);
    pending.push(Event::Account(AccountUpdate::closed(key(2), 3, 1)), 100);
    pending.push(Event::Account(lease_update(key(2), 6, 0, 60)), 100);
    let (batch, _) = pending.take();
    let live: Vec<(u64, u64)> = batch
        .live_before_closure
        .iter()
        .map(|u| u.version())
        .collect();
    assert_eq!(
        live,
        vec![(4, 0)],
        "only key 1's newest live write before its closure"
    );

    writer(&pool).write(&batch).await.unwrap();
    let rows: Vec<(Vec<u8>, String, Option<i64>)> =
        sqlx::query_as("SELECT pubkey, paid_out::text, closed_slot FROM leases ORDER BY pubkey")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![
            (key(1).to_bytes().to_vec(), "40".to_string(), Some(5)),
            (key(2).to_bytes().to_vec(), "60".to_string(), None),
        ]
    );
}

async fn count_leases(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM leases")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn the_batcher_flushes_on_time_and_on_shutdown(pool: PgPool) {
    let (tx, rx) = mpsc::channel(16);
    let metrics = Metrics::new();
    let config = BatchConfig {
        max_updates: 1_000,
        max_delay: Duration::from_millis(30),
        ..BatchConfig::default()
    };
    let task = tokio::spawn(batcher::run(
        rx,
        writer(&pool),
        config,
        metrics.clone(),
        CancellationToken::new(),
    ));
    tx.send(Event::Account(lease_update(key(1), 3, 1, 1)))
        .await
        .unwrap();
    tx.send(Event::SlotComplete(3)).await.unwrap();
    // Far below the size bound: the time bound commits it.
    tokio::time::timeout(Duration::from_secs(10), async {
        while count_leases(&pool).await < 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("time-bound flush");
    assert_eq!(writer(&pool).cursor().await.unwrap(), Some(3));

    // Shutdown: senders drop, what is pending is flushed before the task ends.
    tx.send(Event::Account(lease_update(key(2), 4, 1, 1)))
        .await
        .unwrap();
    tx.send(Event::SlotComplete(4)).await.unwrap();
    drop(tx);
    task.await.unwrap().unwrap();
    assert_eq!(count_leases(&pool).await, 2);
    assert_eq!(writer(&pool).cursor().await.unwrap(), Some(4));
    assert_eq!(metrics.updates_received.get(), 2);
    assert_eq!(metrics.updates_written.get(), 2);
    assert_eq!(metrics.committed_slot.get(), 4);
}

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn a_lost_postgres_connection_is_retried_without_losing_updates(pool: PgPool) {
    let (tx, rx) = mpsc::channel(64);
    let metrics = Metrics::new();
    let config = BatchConfig {
        max_updates: 8,
        max_delay: Duration::from_millis(5),
        retry_delay: Duration::from_millis(20),
        writers: 2,
    };
    let task = tokio::spawn(batcher::run(
        rx,
        writer(&pool),
        config,
        metrics.clone(),
        CancellationToken::new(),
    ));
    let killer = pool.clone();
    let producer = tokio::spawn(async move {
        for i in 0..400u64 {
            let mut update: AccountUpdate = lease_update(key((i % 50) as u8), 100 + i, i, i);
            update.lamports = 1 + i;
            tx.send(Event::Account(update)).await.unwrap();
            tx.send(Event::SlotComplete(100 + i)).await.unwrap();
            if i % 100 == 50 {
                // Every connection of the test database is killed mid-stream.
                let killed: Vec<bool> = sqlx::query_scalar(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid()",
                )
                .fetch_all(&killer)
                .await
                .unwrap();
                assert!(!killed.is_empty());
            }
        }
    });
    producer.await.unwrap();
    task.await.unwrap().unwrap();
    // Every pubkey holds its newest update, and the cursor is the last slot.
    let rows: Vec<(Vec<u8>, i64)> = sqlx::query_as("SELECT pubkey, slot FROM leases ORDER BY slot")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 50);
    for (n, (pubkey, slot)) in rows.iter().enumerate() {
        let i = 350 + n as u64;
        assert_eq!(pubkey, &key((i % 50) as u8).to_bytes().to_vec());
        assert_eq!(*slot, 100 + i as i64);
    }
    assert_eq!(writer(&pool).cursor().await.unwrap(), Some(499));
}
