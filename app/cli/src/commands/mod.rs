//! One module per command family; each returns an `Output` to print.

pub mod cluster;
pub mod credit;
pub mod gpus;
pub mod iosd;
pub mod lease;
pub mod market;
pub mod node;
pub mod renter;
pub mod rewards;
pub mod wallet;

use crate::output::{fields, Output};
use anchor_lang::prelude::Pubkey;
use iomesh_client::{client::Signature, offline::SignedOnly};
use serde_json::{json, Value};

/// What `--sign-only` signed, as the Solana CLI prints it: the blockhash,
/// the signatures to pass to the sending side with --signer, and the
/// signers still absent.
pub fn signed_only(signed: &SignedOnly) -> Output {
    let signers: Vec<String> = signed
        .signers
        .iter()
        .map(|s| format!("{}={}", s.pubkey, s.signature))
        .collect();
    let absent: Vec<String> = signed.absent.iter().map(ToString::to_string).collect();
    let mut rows = vec![("Blockhash", signed.blockhash.to_string())];
    rows.extend(signers.iter().map(|s| ("Signer", s.clone())));
    rows.extend(absent.iter().map(|a| ("Absent signer", a.clone())));
    Output {
        json: json!({
            "blockhash": signed.blockhash.to_string(),
            "signers": signers,
            "absent": absent,
        }),
        human: fields(&rows),
    }
}

/// Why a pubkey cannot stand for a signer when sending straight away.
pub fn absent_signer(pubkey: &Pubkey, flag: &str) -> String {
    format!(
        "{flag} {pubkey} is a pubkey, not a keypair file: sign offline, with --sign-only where \
         its key is and --signer {pubkey}=SIGNATURE --blockhash BLOCKHASH here"
    )
}

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
