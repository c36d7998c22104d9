use crate::common::{localnet, Ws};
use serde_json::{json, Value};

/// Unknown methods, bad params, unknown ids and malformed frames get
/// agave's JSON-RPC errors, and the connection keeps serving.
#[tokio::test(flavor = "multi_thread")]
async fn bad_calls_get_the_validators_errors() {
    let localnet = localnet().await;
    let mut ws = Ws::connect(&localnet).await;
    let error = |reply: Value| reply["error"].clone();
    let cases = [
        (
            "blockSubscribe",
            json!(["all"]),
            json!({"code": -32601, "message": "Method not found"}),
        ),
        (
            "getAccountInfo",
            json!([]),
            json!({"code": -32601, "message": "Method not found"}),
        ),
        (
            "accountSubscribe",
            json!(["not-a-key"]),
            json!({"code": -32602, "message": "Invalid Request: Invalid pubkey provided"}),
        ),
        (
            "signatureSubscribe",
            json!(["1111"]),
            json!({"code": -32602, "message": "Invalid Request: Invalid signature provided"}),
        ),
        (
            "logsSubscribe",
            json!([{"mentions": ["11111111111111111111111111111111", "Vote111111111111111111111111111111111111111"]}]),
            json!({"code": -32602, "message": "Invalid Request: Only 1 address supported"}),
        ),
        (
            "programSubscribe",
            json!(["11111111111111111111111111111111", {"filters": [{"memcmp": {"offset": 0, "bytes": "0OIl"}}]}]),
            json!({"code": -32602, "message": "base58 decode error"}),
        ),
        (
            "accountUnsubscribe",
            json!([987654321]),
            json!({"code": -32602, "message": "Invalid subscription id."}),
        ),
    ];
    for (method, params, expected) in cases {
        let reply = ws.reply(method, params).await;
        assert_eq!(reply["jsonrpc"], "2.0");
        assert_eq!(error(reply), expected, "{method}");
    }
    // Wrong param types: -32602 with serde's reason.
    let reply = ws.reply("accountSubscribe", json!([42])).await;
    assert_eq!(reply["error"]["code"], -32602);
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid params: "),
        "{reply}"
    );
    // A frame that is not JSON: parse error with a null id.
    ws.send_text("{not json".into()).await;
    assert_eq!(
        ws.next().await,
        json!({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null})
    );
    // Still serving.
    let id = ws.subscribe("slotSubscribe", json!([])).await;
    assert_eq!(
        ws.reply("slotUnsubscribe", json!([id])).await["result"],
        true
    );
    localnet.shutdown().await;
}
