//! What a connection subscribed to: the params of each `*Subscribe` call,
//! checked and worded as agave's PubSub checks them, and the connection's
//! table of live subscriptions.

use jsonrpc_core::{Error, ErrorCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use solana_account_decoder::{UiAccountEncoding, UiDataSliceConfig};
use solana_commitment_config::CommitmentLevel;
use solana_pubkey::Pubkey;
use solana_rpc_client_api::{
    config::{
        RpcAccountInfoConfig, RpcProgramAccountsConfig, RpcSignatureSubscribeConfig,
        RpcTransactionLogsConfig, RpcTransactionLogsFilter,
    },
    filter::RpcFilterType,
};
use solana_signature::Signature;
use std::{
    collections::BTreeMap,
    str::FromStr,
    sync::atomic::{AtomicU64, Ordering},
};

/// Subscription ids are unique across the server, as a validator's are.
pub type SubscriptionId = u64;

/// How an account is rendered in a notification.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountFormat {
    pub encoding: UiAccountEncoding,
    pub data_slice: Option<UiDataSliceConfig>,
}

/// Which transactions a logs subscription wants.
#[derive(Clone, Debug, PartialEq)]
pub enum LogsFilter {
    /// Every transaction but votes (the localnet has none).
    All,
    AllWithVotes,
    /// Transactions whose account keys include this address.
    Mentions(Pubkey),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Account {
        pubkey: Pubkey,
        format: AccountFormat,
    },
    Program {
        program: Pubkey,
        filters: Vec<RpcFilterType>,
        format: AccountFormat,
    },
    Logs(LogsFilter),
    Signature {
        signature: Signature,
        received: bool,
    },
    Slot,
    Root,
}

/// One live subscription.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    pub kind: Kind,
    /// The level whose content it is notified of; slot and root
    /// subscriptions ignore it.
    pub commitment: CommitmentLevel,
}

impl Subscription {
    /// The notification method name, `accountNotification` and so on.
    pub fn notification(&self) -> &'static str {
        match self.kind {
            Kind::Account { .. } => "accountNotification",
            Kind::Program { .. } => "programNotification",
            Kind::Logs(_) => "logsNotification",
            Kind::Signature { .. } => "signatureNotification",
            Kind::Slot => "slotNotification",
            Kind::Root => "rootNotification",
        }
    }
}

/// What a call asks of the connection.
#[derive(Debug, PartialEq)]
pub enum Call {
    Subscribe(Subscription),
    Unsubscribe(SubscriptionId),
}

/// Parses one PubSub method call; unknown methods are -32601.
pub fn parse_call(method: &str, params: Value) -> Result<Call, Error> {
    let subscribe = match method {
        "accountSubscribe" => account(params)?,
        "programSubscribe" => program(params)?,
        "logsSubscribe" => logs(params)?,
        "signatureSubscribe" => signature(params)?,
        "slotSubscribe" => no_params(params, Kind::Slot)?,
        "rootSubscribe" => no_params(params, Kind::Root)?,
        "accountUnsubscribe"
        | "programUnsubscribe"
        | "logsUnsubscribe"
        | "signatureUnsubscribe"
        | "slotUnsubscribe"
        | "rootUnsubscribe" => {
            let (id,): (SubscriptionId,) = positional(params, 1)?;
            return Ok(Call::Unsubscribe(id));
        }
        _ => return Err(Error::method_not_found()),
    };
    Ok(Call::Subscribe(subscribe))
}

fn account(params: Value) -> Result<Subscription, Error> {
    let (pubkey, config): (String, Option<RpcAccountInfoConfig>) = positional(params, 2)?;
    let config = config.unwrap_or_default();
    Ok(Subscription {
        kind: Kind::Account {
            pubkey: parse_str(&pubkey, "pubkey")?,
            format: format(&config),
        },
        commitment: level(config.commitment),
    })
}

fn program(params: Value) -> Result<Subscription, Error> {
    let (program, config): (String, Option<RpcProgramAccountsConfig>) = positional(params, 2)?;
    let config = config.unwrap_or_default();
    let filters = config.filters.unwrap_or_default();
    for filter in &filters {
        filter
            .verify()
            .map_err(|err| invalid_params(err.to_string()))?;
    }
    Ok(Subscription {
        kind: Kind::Program {
            program: parse_str(&program, "pubkey")?,
            filters,
            format: format(&config.account_config),
        },
        commitment: level(config.account_config.commitment),
    })
}

fn logs(params: Value) -> Result<Subscription, Error> {
    let (filter, config): (RpcTransactionLogsFilter, Option<RpcTransactionLogsConfig>) =
        positional(params, 2)?;
    let filter = match filter {
        RpcTransactionLogsFilter::All => LogsFilter::All,
        RpcTransactionLogsFilter::AllWithVotes => LogsFilter::AllWithVotes,
        RpcTransactionLogsFilter::Mentions(keys) => match keys.as_slice() {
            [key] => LogsFilter::Mentions(parse_str(key, "mentions")?),
            _ => return Err(invalid_params("Invalid Request: Only 1 address supported")),
        },
    };
    Ok(Subscription {
        kind: Kind::Logs(filter),
        commitment: level(config.and_then(|c| c.commitment)),
    })
}

fn signature(params: Value) -> Result<Subscription, Error> {
    let (signature, config): (String, Option<RpcSignatureSubscribeConfig>) = positional(params, 2)?;
    let config = config.unwrap_or_default();
    Ok(Subscription {
        kind: Kind::Signature {
            signature: parse_str(&signature, "signature")?,
            received: config.enable_received_notification.unwrap_or_default(),
        },
        commitment: level(config.commitment),
    })
}

fn no_params(params: Value, kind: Kind) -> Result<Subscription, Error> {
    let () = match params {
        Value::Null => (),
        Value::Array(items) if items.is_empty() => (),
        _ => {
            return Err(invalid_params(
                "Invalid parameters: No parameters were expected",
            ))
        }
    };
    Ok(Subscription {
        kind,
        commitment: CommitmentLevel::Finalized,
    })
}

/// A validator's default: binary (base58) encoding.
fn format(config: &RpcAccountInfoConfig) -> AccountFormat {
    AccountFormat {
        encoding: config.encoding.unwrap_or(UiAccountEncoding::Binary),
        data_slice: config.data_slice,
    }
}

/// A validator's default commitment for subscriptions is finalized.
fn level(commitment: Option<solana_commitment_config::CommitmentConfig>) -> CommitmentLevel {
    commitment.map_or(CommitmentLevel::Finalized, |c| c.commitment)
}

/// Positional params into a tuple of `max` elements; missing trailing params
/// are `null`.
fn positional<T: DeserializeOwned>(params: Value, max: usize) -> Result<T, Error> {
    let mut items = match params {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        _ => {
            return Err(invalid_params(
                "Invalid params: expected an array of params",
            ))
        }
    };
    if items.len() > max {
        return Err(invalid_params(format!(
            "Invalid params: expected at most {max} params, got {}",
            items.len()
        )));
    }
    items.resize(max, Value::Null);
    serde_json::from_value(Value::Array(items))
        .map_err(|err| invalid_params(format!("Invalid params: {err}.")))
}

fn parse_str<T: FromStr>(text: &str, thing: &str) -> Result<T, Error> {
    text.parse()
        .map_err(|_| invalid_params(format!("Invalid Request: Invalid {thing} provided")))
}

pub fn invalid_params(message: impl Into<String>) -> Error {
    Error {
        code: ErrorCode::InvalidParams,
        message: message.into(),
        data: None,
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One connection's live subscriptions, by id.
#[derive(Debug, Default)]
pub struct Subscriptions {
    live: BTreeMap<SubscriptionId, Subscription>,
}

impl Subscriptions {
    pub fn add(&mut self, subscription: Subscription) -> SubscriptionId {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        self.live.insert(id, subscription);
        id
    }

    /// As a validator: any of the connection's ids, whatever the method's
    /// kind; an unknown id is -32602 `Invalid subscription id.`.
    pub fn remove(&mut self, id: SubscriptionId) -> Result<bool, Error> {
        self.live
            .remove(&id)
            .map(|_| true)
            .ok_or_else(|| invalid_params("Invalid subscription id."))
    }

    pub fn iter(&self) -> impl Iterator<Item = (SubscriptionId, &Subscription)> {
        self.live.iter().map(|(id, sub)| (*id, sub))
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn account_subscribe_defaults_to_finalized_and_base58() {
        let key = Pubkey::new_unique();
        let call = parse_call("accountSubscribe", json!([key.to_string()])).unwrap();
        assert_eq!(
            call,
            Call::Subscribe(Subscription {
                kind: Kind::Account {
                    pubkey: key,
                    format: AccountFormat {
                        encoding: UiAccountEncoding::Binary,
                        data_slice: None
                    },
                },
                commitment: CommitmentLevel::Finalized,
            })
        );
    }

    #[test]
    fn bad_params_are_worded_as_a_validator_words_them() {
        let message = |method: &str, params: Value| parse_call(method, params).unwrap_err();
        let err = message("accountSubscribe", json!(["nope"]));
        assert_eq!(err.code, ErrorCode::InvalidParams);
        assert_eq!(err.message, "Invalid Request: Invalid pubkey provided");
        let err = message(
            "logsSubscribe",
            json!([{"mentions": [Pubkey::new_unique().to_string(), Pubkey::new_unique().to_string()]}]),
        );
        assert_eq!(err.message, "Invalid Request: Only 1 address supported");
        let err = message("signatureSubscribe", json!(["xyz"]));
        assert_eq!(err.message, "Invalid Request: Invalid signature provided");
        assert_eq!(
            message("blockSubscribe", json!(["all"])).code,
            ErrorCode::MethodNotFound
        );
    }

    #[test]
    fn unknown_ids_are_refused() {
        let mut subs = Subscriptions::default();
        let id = subs.add(Subscription {
            kind: Kind::Slot,
            commitment: CommitmentLevel::Finalized,
        });
        assert!(subs.remove(id).unwrap());
        assert_eq!(
            subs.remove(id).unwrap_err().message,
            "Invalid subscription id."
        );
    }
}
