//! One module per command family; each returns an `Output` to print.

pub mod cluster;
pub mod credit;
pub mod gpus;
pub mod iosd;
pub mod lease;
pub mod localnet;
pub mod market;
pub mod node;
pub mod renter;
pub mod rewards;
pub mod wallet;

use crate::output::{fields, Output};
use iomesh_client::client::Signature;
use serde_json::{json, Value};

/// The output of a command that sent one transaction: its signature plus `extra` fields.
pub fn sent(what: &str, signature: Signature, extra: Value, human: Vec<(&str, String)>) -> Output {
    let mut json = json!({ "signature": signature.to_string() });
    if let (Some(map), Value::Object(extra)) = (json.as_object_mut(), extra) {
        map.extend(extra);
    }
    let mut rows = vec![("Done", what.to_string())];
    rows.extend(human);
    rows.push(("Signature", signature.to_string()));
    Output {
        json,
        human: fields(&rows),
    }
}
