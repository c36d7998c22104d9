//! Pubkeys as base58 strings in JSON (the form every Solana tool prints).

use anchor_lang::prelude::Pubkey;
use serde::{de::Error, Deserialize, Deserializer, Serializer};
use std::str::FromStr;

pub fn serialize<S: Serializer>(key: &Pubkey, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(key)
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Pubkey, D::Error> {
    let text = String::deserialize(deserializer)?;
    Pubkey::from_str(&text).map_err(|err| D::Error::custom(format!("`{text}`: {err}")))
}
