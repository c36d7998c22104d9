use crate::common::{localnet, Ws};
use serde_json::json;

/// slotSubscribe: one notification per new bank, consecutive slots with
/// their parent and a root `finalization_depth` behind; rootSubscribe:
/// consecutive roots. Unsubscribing answers true and stops them.
#[tokio::test(flavor = "multi_thread")]
async fn slots_and_roots_advance_one_by_one() {
    let localnet = localnet().await;
    let mut ws = Ws::connect(&localnet).await;
    let slot_id = ws.subscribe("slotSubscribe", json!([])).await;
    let root_id = ws.subscribe("rootSubscribe", json!(null)).await;
    let mut slots = Vec::new();
    let mut roots = Vec::new();
    while slots.len() < 4 || roots.len() < 4 {
        let n = ws.notification().await;
        let sub = n["params"]["subscription"].as_u64().unwrap();
        let result = n["params"]["result"].clone();
        if sub == slot_id {
            assert_eq!(n["method"], "slotNotification");
            slots.push(result);
        } else {
            assert_eq!(sub, root_id);
            assert_eq!(n["method"], "rootNotification");
            roots.push(result.as_u64().expect("a root is a number"));
        }
    }
    for pair in slots.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let slot = b["slot"].as_u64().unwrap();
        assert_eq!(slot, a["slot"].as_u64().unwrap() + 1, "{slots:?}");
        assert_eq!(b["parent"].as_u64().unwrap(), slot - 1);
        // Finalization depth 2: the root is set after the bank is created.
        assert_eq!(b["root"].as_u64().unwrap(), slot - 3, "{b}");
    }
    for pair in roots.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "{roots:?}");
    }
    for (method, id) in [("slotUnsubscribe", slot_id), ("rootUnsubscribe", root_id)] {
        assert_eq!(ws.reply(method, json!([id])).await["result"], true);
    }
    // Nothing more for them after the replies: a new slot subscription's
    // first notification is the next message.
    ws.forget_pending();
    let fresh = ws.subscribe("slotSubscribe", json!([])).await;
    let seen = ws.until(fresh).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    localnet.shutdown().await;
}
