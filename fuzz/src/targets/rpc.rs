//! Solana JSON-RPC requests to the localnet over HTTP: the methods it serves
//! (and some it does not) with arbitrary parameters built from real
//! addresses, configs and garbage; batches; bodies that are not JSON at all.
//! Every request must get a JSON-RPC answer, never a server error or a hang,
//! and the server must keep answering.

use super::world::World;
use crate::{gen::Gen, Fuzz, Outcome, Problem};
use base64::Engine;
use serde_json::{json, Value};

const METHODS: &[&str] = &[
    "getVersion",
    "getHealth",
    "getSlot",
    "getBlockHeight",
    "getEpochInfo",
    "getGenesisHash",
    "getLatestBlockhash",
    "isBlockhashValid",
    "getFeeForMessage",
    "getMinimumBalanceForRentExemption",
    "getBalance",
    "getAccountInfo",
    "getMultipleAccounts",
    "getProgramAccounts",
    "getTokenAccountBalance",
    "getTokenAccountsByOwner",
    "sendTransaction",
    "simulateTransaction",
    "getSignatureStatuses",
    "getTransaction",
    "requestAirdrop",
    "getBlock",
    "getSignaturesForAddress",
    "noSuchMethod",
];

pub struct RpcFuzz {
    world: World,
    http: reqwest::Client,
}

impl RpcFuzz {
    pub async fn setup() -> anyhow::Result<Self> {
        Ok(Self {
            world: World::start().await?,
            http: reqwest::Client::new(),
        })
    }

    /// One parameter: a real address, an encoded blob, a config object or anything.
    fn param(&self, gen: &mut Gen) -> Value {
        match gen.below(7) {
            0 | 1 => json!(gen.pick(&self.world.pool).to_string()),
            2 => json!(bs58::encode(gen.bytes(300)).into_string()),
            3 => json!(base64::engine::general_purpose::STANDARD.encode(gen.bytes(300))),
            4 => {
                let encodings = [
                    "base64",
                    "base58",
                    "jsonParsed",
                    "base64+zstd",
                    "binary",
                    "json",
                ];
                let commitments = ["processed", "confirmed", "finalized", "max", "bogus"];
                let mut config = json!({
                    "encoding": gen.pick(&encodings),
                    "commitment": gen.pick(&commitments),
                });
                if gen.chance(0.5) {
                    config["filters"] = json!([
                        {"dataSize": gen.unsigned(64) as u64},
                        {"memcmp": {"offset": gen.unsigned(32) as u64, "bytes": bs58::encode(gen.bytes(40)).into_string()}}
                    ]);
                }
                if gen.chance(0.3) {
                    config["dataSlice"] = json!({"offset": gen.unsigned(64) as u64, "length": gen.unsigned(64) as u64});
                }
                if gen.chance(0.3) {
                    config["mint"] = json!(gen.pick(&self.world.pool).to_string());
                }
                config
            }
            5 => json!(gen.unsigned(64) as u64),
            _ => gen.json(3),
        }
    }

    fn call(&self, gen: &mut Gen, id: usize) -> Value {
        let mut call = json!({"jsonrpc": "2.0", "id": id, "method": gen.pick(METHODS)});
        if gen.chance(0.9) {
            let params: Vec<Value> = (0..gen.below(4)).map(|_| self.param(gen)).collect();
            call["params"] = json!(params);
        } else {
            call["params"] = gen.json(2);
        }
        if gen.chance(0.05) {
            call["jsonrpc"] = gen.json(1);
        }
        call
    }

    fn body(&self, gen: &mut Gen) -> Vec<u8> {
        match gen.below(10) {
            0 => gen.bytes(200),
            1 => {
                let calls: Vec<Value> = (0..gen.below(6)).map(|id| self.call(gen, id)).collect();
                serde_json::to_vec(&calls).expect("JSON")
            }
            2 => serde_json::to_vec(&gen.json(3)).expect("JSON"),
            _ => serde_json::to_vec(&self.call(gen, 1)).expect("JSON"),
        }
    }
}

impl Fuzz for RpcFuzz {
    async fn case(&mut self, gen: &mut Gen) -> Result<Outcome, Problem> {
        let body = self.body(gen);
        let input = String::from_utf8_lossy(&body).into_owned();
        let method = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["method"].as_str().map(str::to_string))
            .unwrap_or_else(|| "(batch or garbage)".into());
        let response = self
            .http
            .post(self.world.localnet.rpc_url())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| Problem::new(&input, format!("no HTTP answer: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| Problem::new(&input, format!("unreadable answer: {e}")))?;
        if status.is_server_error() {
            return Err(Problem::new(
                input,
                format!("server error {status}: {text}"),
            ));
        }
        let answer: Value = serde_json::from_str(&text)
            .map_err(|_| Problem::new(&input, format!("answer is not JSON ({status}): {text}")))?;
        let kind = if answer.is_array() || answer.get("result").is_some() {
            "answered"
        } else {
            "refused"
        };
        Ok(format!("{method} {kind}"))
    }

    async fn check(&mut self) -> Result<(), Problem> {
        self.world.still_answers("the server").await
    }

    async fn shutdown(self) {
        self.world.shutdown().await;
    }
}
