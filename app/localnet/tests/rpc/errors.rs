use crate::common::localnet;
use serde_json::{json, Value};

async fn post(url: &str, body: impl Into<reqwest::Body>) -> (reqwest::StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("HTTP request");
    let status = response.status();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

fn code(reply: &Value) -> i64 {
    reply["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("no error code: {reply}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_json_rpc_errors_and_the_server_keeps_serving() {
    let localnet = localnet().await;
    let url = localnet.rpc_url();

    let (_, reply) = post(&url, r#"{"jsonrpc":"2.0","id":1,"method":"getSlot""#).await;
    assert_eq!(code(&reply), -32700, "{reply}");

    let (_, reply) = post(
        &url,
        json!({"jsonrpc":"2.0","id":7,"method":"getNothing"}).to_string(),
    )
    .await;
    assert_eq!(code(&reply), -32601, "{reply}");
    assert_eq!(reply["id"], json!(7));

    let wrong = [
        json!({"jsonrpc":"2.0","id":2,"method":"getBalance","params":[123]}),
        json!({"jsonrpc":"2.0","id":3,"method":"getBalance","params":["not-a-pubkey"]}),
        json!({"jsonrpc":"2.0","id":4,"method":"getBalance"}),
        json!({"jsonrpc":"2.0","id":5,"method":"getSlot","params":[{}, {}]}),
        json!({"jsonrpc":"2.0","id":6,"method":"getSlot","params":{"a":1}}),
        json!({"jsonrpc":"2.0","id":8,"method":"sendTransaction","params":["!!!"]}),
    ];
    for request in wrong {
        let (_, reply) = post(&url, request.to_string()).await;
        assert_eq!(code(&reply), -32602, "{request} -> {reply}");
    }

    let (_, reply) = post(&url, "[]").await;
    assert_eq!(code(&reply), -32600, "{reply}");
    let (_, reply) = post(&url, json!({"jsonrpc":"2.0","id":9}).to_string()).await;
    assert_eq!(code(&reply), -32600, "{reply}");

    // Over the 50 KiB default limit.
    let padding = "x".repeat(60 * 1024);
    let big = json!({"jsonrpc":"2.0","id":10,"method":"getHealth","params":[padding]}).to_string();
    let (status, reply) = post(&url, big).await;
    assert_eq!(status, reqwest::StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&reply), -32600, "{reply}");
    assert!(reply["error"]["message"]
        .as_str()
        .unwrap()
        .contains("limit"));

    // A batch answers each call in order.
    let batch = json!([
        {"jsonrpc":"2.0","id":1,"method":"getHealth"},
        {"jsonrpc":"2.0","id":2,"method":"nope"},
        {"jsonrpc":"2.0","id":3,"method":"getSlot","params":[{"commitment":"processed"}]},
    ]);
    let (status, reply) = post(&url, batch.to_string()).await;
    assert!(status.is_success());
    let replies = reply.as_array().expect("batch reply");
    assert_eq!(replies.len(), 3);
    assert_eq!(replies[0]["result"], json!("ok"));
    assert_eq!(code(&replies[1]), -32601);
    assert!(replies[2]["result"].as_u64().is_some());

    // Still serving.
    let (status, reply) = post(
        &url,
        json!({"jsonrpc":"2.0","id":11,"method":"getHealth"}).to_string(),
    )
    .await;
    assert!(status.is_success());
    assert_eq!(reply, json!({"jsonrpc":"2.0","result":"ok","id":11}));
    localnet.shutdown().await;
}
