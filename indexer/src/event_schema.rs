//! Every event of the program as JSON, decoded with the checked-in IDL
//! (`idl/iomesh.json`): one Borsh reader driven by the IDL's type
//! definitions instead of a mapping written per event type, so an event the
//! program gains is indexed as soon as the IDL describes it.
//!
//! JSON shapes: pubkeys in base58; integers up to 64 bits as JSON numbers
//! (Postgres keeps them exact in `jsonb`), 128-bit ones as decimal strings;
//! `[u8; N]` and `bytes` as hex; enums as their variant's name (a variant
//! with fields as `{"Variant": fields}`); options as the value or null.

use serde_json::{Map, Value};
use std::{collections::HashMap, sync::OnceLock};

const IOMESH_IDL: &str = include_str!("../../idl/iomesh.json");

/// The program's events and the types they use, from an IDL.
pub struct EventSchema {
    names: HashMap<[u8; 8], String>,
    types: HashMap<String, Value>,
}

impl EventSchema {
    /// The schema of the iomesh program this indexer was built with.
    pub fn iomesh() -> &'static EventSchema {
        static SCHEMA: OnceLock<EventSchema> = OnceLock::new();
        SCHEMA.get_or_init(|| {
            EventSchema::from_idl(IOMESH_IDL).expect("the checked-in IDL describes its events")
        })
    }

    /// Reads the events and type definitions of an Anchor IDL (0.30+ format).
    pub fn from_idl(idl: &str) -> Result<Self, String> {
        let idl: Value = serde_json::from_str(idl).map_err(|e| format!("the IDL: {e}"))?;
        let mut types = HashMap::new();
        for ty in idl["types"].as_array().into_iter().flatten() {
            let name = ty["name"].as_str().ok_or("an IDL type without a name")?;
            types.insert(name.to_owned(), ty["type"].clone());
        }
        let mut names = HashMap::new();
        for event in idl["events"].as_array().into_iter().flatten() {
            let name = event["name"]
                .as_str()
                .ok_or("an IDL event without a name")?;
            let discriminator: Vec<u8> = event["discriminator"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            let discriminator = <[u8; 8]>::try_from(discriminator)
                .map_err(|_| format!("event {name}: the discriminator is not 8 bytes"))?;
            if !types.contains_key(name) {
                return Err(format!("event {name} has no type definition"));
            }
            names.insert(discriminator, name.to_owned());
        }
        Ok(Self { names, types })
    }

    /// The event's name and fields, or why `payload` (discriminator and
    /// Borsh body, as `Program data:` carries it) is not one of its events.
    pub fn decode(&self, payload: &[u8]) -> Result<(&str, Value), String> {
        let (discriminator, body) = payload
            .split_at_checked(8)
            .ok_or("shorter than an event discriminator")?;
        let name = self
            .names
            .get(discriminator)
            .ok_or_else(|| format!("no event has the discriminator {discriminator:?}"))?;
        let mut reader = Reader(body);
        let fields = self
            .defined(name, &mut reader)
            .map_err(|e| format!("{name}: {e}"))?;
        if !reader.0.is_empty() {
            return Err(format!(
                "{name}: {} bytes left after its fields",
                reader.0.len()
            ));
        }
        Ok((name, fields))
    }

    fn defined(&self, name: &str, r: &mut Reader) -> Result<Value, String> {
        let ty = self
            .types
            .get(name)
            .ok_or_else(|| format!("type {name} is not in the IDL"))?;
        match ty["kind"].as_str() {
            Some("struct") => self.fields(ty.get("fields"), r),
            Some("enum") => {
                let tag = r.take::<1>()?[0];
                let variant = ty["variants"]
                    .get(usize::from(tag))
                    .ok_or_else(|| format!("{name} has no variant {tag}"))?;
                let variant_name = variant["name"].as_str().unwrap_or_default().to_owned();
                match variant.get("fields") {
                    None => Ok(Value::String(variant_name)),
                    Some(fields) => {
                        let fields = self.fields(Some(fields), r)?;
                        Ok(Value::Object(Map::from_iter([(variant_name, fields)])))
                    }
                }
            }
            other => Err(format!(
                "type {name} is of kind {other:?}, which no event uses"
            )),
        }
    }

    /// Named fields as an object, tuple fields as an array.
    fn fields(&self, fields: Option<&Value>, r: &mut Reader) -> Result<Value, String> {
        let list = fields
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        if list.iter().all(|f| f.get("name").is_some()) {
            let mut object = Map::new();
            for field in list {
                let name = field["name"].as_str().unwrap_or_default();
                let value = self
                    .value(&field["type"], r)
                    .map_err(|e| format!("field {name}: {e}"))?;
                object.insert(name.to_owned(), value);
            }
            Ok(Value::Object(object))
        } else {
            list.iter()
                .map(|ty| self.value(ty, r))
                .collect::<Result<_, _>>()
                .map(Value::Array)
        }
    }

    fn value(&self, ty: &Value, r: &mut Reader) -> Result<Value, String> {
        if let Some(primitive) = ty.as_str() {
            return primitive_value(primitive, r);
        }
        if let Some(name) = ty["defined"]["name"].as_str() {
            return self.defined(name, r);
        }
        if let Some(inner) = ty.get("option") {
            return match r.take::<1>()?[0] {
                0 => Ok(Value::Null),
                1 => self.value(inner, r),
                tag => Err(format!("option tag {tag}")),
            };
        }
        if let Some(inner) = ty.get("vec") {
            let len = u32::from_le_bytes(r.take()?);
            return self.sequence(inner, len as usize, r);
        }
        if let Some([inner, len]) = ty.get("array").and_then(Value::as_array).map(Vec::as_slice) {
            let len = len.as_u64().ok_or("an array length that is not a number")?;
            return self.sequence(inner, len as usize, r);
        }
        Err(format!("an IDL type this reader does not know: {ty}"))
    }

    /// `len` values of type `inner`; bytes as one hex string.
    fn sequence(&self, inner: &Value, len: usize, r: &mut Reader) -> Result<Value, String> {
        if inner.as_str() == Some("u8") {
            return Ok(Value::String(hex(r.take_slice(len)?)));
        }
        (0..len)
            .map(|_| self.value(inner, r))
            .collect::<Result<_, _>>()
            .map(Value::Array)
    }
}

fn primitive_value(name: &str, r: &mut Reader) -> Result<Value, String> {
    Ok(match name {
        "bool" => match r.take::<1>()?[0] {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            b => return Err(format!("bool byte {b}")),
        },
        "u8" => u8::from_le_bytes(r.take()?).into(),
        "i8" => i8::from_le_bytes(r.take()?).into(),
        "u16" => u16::from_le_bytes(r.take()?).into(),
        "i16" => i16::from_le_bytes(r.take()?).into(),
        "u32" => u32::from_le_bytes(r.take()?).into(),
        "i32" => i32::from_le_bytes(r.take()?).into(),
        "u64" => u64::from_le_bytes(r.take()?).into(),
        "i64" => i64::from_le_bytes(r.take()?).into(),
        "u128" => u128::from_le_bytes(r.take()?).to_string().into(),
        "i128" => i128::from_le_bytes(r.take()?).to_string().into(),
        "f32" => f32::from_le_bytes(r.take()?).into(),
        "f64" => f64::from_le_bytes(r.take()?).into(),
        "pubkey" => bs58::encode(r.take::<32>()?).into_string().into(),
        "string" => {
            let len = u32::from_le_bytes(r.take()?) as usize;
            String::from_utf8(r.take_slice(len)?.to_vec())
                .map_err(|_| "a string that is not UTF-8")?
                .into()
        }
        "bytes" => {
            let len = u32::from_le_bytes(r.take()?) as usize;
            hex(r.take_slice(len)?).into()
        }
        other => return Err(format!("an IDL type this reader does not know: {other}")),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The unread rest of a Borsh body.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take_slice(&mut self, n: usize) -> Result<&'a [u8], String> {
        let (head, rest) = self
            .0
            .split_at_checked(n)
            .ok_or_else(|| format!("ends {} bytes early", n - self.0.len()))?;
        self.0 = rest;
        Ok(head)
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take_slice(N)?.try_into().expect("N bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_lang::Event;
    use iomesh::{
        events::{LeaseCreated, LeaseEndReason, LeaseEnded, MarketInitialized},
        MarketParams,
    };
    use solana_pubkey::Pubkey;

    #[test]
    fn a_lease_ending_reads_as_its_fields() {
        let (lease, node) = (Pubkey::new_unique(), Pubkey::new_unique());
        let event = LeaseEnded {
            lease,
            node,
            reason: LeaseEndReason::Failed,
            paid_out: u64::MAX,
            refunded: 3,
            billed_until: -1,
        };
        let (name, fields) = EventSchema::iomesh().decode(&event.data()).unwrap();
        assert_eq!(name, "LeaseEnded");
        assert_eq!(
            fields,
            serde_json::json!({
                "lease": lease.to_string(),
                "node": node.to_string(),
                "reason": "Failed",
                "paid_out": u64::MAX,
                "refunded": 3,
                "billed_until": -1,
            })
        );
    }

    #[test]
    fn nested_types_and_byte_arrays_decode() {
        let created = LeaseCreated {
            lease: Pubkey::new_unique(),
            renter: Pubkey::new_unique(),
            payer: Pubkey::new_unique(),
            node: Pubkey::new_unique(),
            mint: Pubkey::new_unique(),
            gpus: 2,
            duration_secs: 3_600,
            rate_per_gpu_hour: 1_500_000,
            deposited: 3_000_000,
            job_spec_hash: [0xab; 32],
            nonce: 9,
            fee_bps: 250,
            created_at: 1_700_000_000,
            in_cluster: true,
            cluster_nonce: 4,
            cluster_funding_deadline: 1_700_000_600,
        };
        let (_, fields) = EventSchema::iomesh().decode(&created.data()).unwrap();
        assert_eq!(fields["job_spec_hash"], "ab".repeat(32));
        assert_eq!(fields["in_cluster"], true);
        assert_eq!(fields["deposited"], 3_000_000);
        // A struct inside an event: the market's parameters.
        let treasury = Pubkey::new_unique();
        let market = MarketInitialized {
            authority: Pubkey::new_unique(),
            params: MarketParams {
                treasury,
                scheduler_authority: Pubkey::new_unique(),
                price_authority: Pubkey::new_unique(),
                reward_authority: Pubkey::new_unique(),
                activation_timeout_secs: 600,
                min_lease_secs: 60,
                max_lease_secs: 86_400,
                failure_grace_secs: 120,
            },
        };
        let (name, fields) = EventSchema::iomesh().decode(&market.data()).unwrap();
        assert_eq!(name, "MarketInitialized");
        assert_eq!(fields["params"]["treasury"], treasury.to_string());
        assert_eq!(fields["params"]["failure_grace_secs"], 120);
    }

    #[test]
    fn payloads_that_are_no_event_are_named() {
        let schema = EventSchema::iomesh();
        assert!(schema
            .decode(b"short")
            .unwrap_err()
            .contains("discriminator"));
        let unknown = schema.decode(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap_err();
        assert!(unknown.contains("no event"), "{unknown}");
        let mut truncated = LeaseEnded {
            lease: Pubkey::new_unique(),
            node: Pubkey::new_unique(),
            reason: LeaseEndReason::Completed,
            paid_out: 1,
            refunded: 2,
            billed_until: 3,
        }
        .data();
        truncated.truncate(truncated.len() - 4);
        let err = schema.decode(&truncated).unwrap_err();
        assert!(
            err.contains("billed_until") && err.contains("early"),
            "{err}"
        );
        truncated.extend([0; 6]);
        let err = schema.decode(&truncated).unwrap_err();
        assert!(err.contains("2 bytes left"), "{err}");
    }
}
