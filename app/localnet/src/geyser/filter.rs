//! A `SubscribeRequest` compiled into filters, and the matching of feed
//! messages against them (Dragon's Mouth semantics: within one named filter
//! every condition must hold; an update goes out when any named filter
//! matches, and `filters` lists the names that did).

use super::{
    convert,
    message::{AccountWrite, Message, SlotStatus, TransactionEvent},
};
use base64::Engine;
use solana_commitment_config::CommitmentLevel;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use std::{collections::HashSet, str::FromStr};
use yellowstone_grpc_proto::prelude::{
    subscribe_request_filter_accounts_filter::Filter as AccountsFilterKind,
    subscribe_request_filter_accounts_filter_lamports::Cmp as LamportsCmp,
    subscribe_request_filter_accounts_filter_memcmp::Data as MemcmpData,
    subscribe_update::UpdateOneof, CommitmentLevel as ProtoCommitment, SubscribeRequest,
    SubscribeRequestFilterAccounts, SubscribeRequestFilterAccountsFilter,
    SubscribeRequestFilterTransactions, SubscribeUpdate, SubscribeUpdatePong,
};

/// Named filters of one kind a request may carry.
pub const MAX_NAMED_FILTERS: usize = 64;
/// Pubkeys in one list (`account`, `owner`, `account_include`, ...).
pub const MAX_PUBKEYS: usize = 10_000;
/// Data conditions (memcmp, datasize, ...) in one accounts filter, as the reference server.
pub const MAX_ACCOUNT_CONDITIONS: usize = 4;
/// Bytes one memcmp may compare, as the reference server.
pub const MAX_MEMCMP_BYTES: usize = 128;
pub const MAX_DATA_SLICES: usize = 32;
pub const MAX_FILTER_NAME_BYTES: usize = 128;

/// Why a request was refused; the message goes back to the client.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("failed to create CommitmentLevel from {0}")]
    InvalidCommitment(i32),
    #[error("too many {kind} filters: {count}, the limit is {MAX_NAMED_FILTERS}")]
    TooManyFilters { kind: &'static str, count: usize },
    #[error("filter name `{0}` is longer than {MAX_FILTER_NAME_BYTES} bytes")]
    NameTooLong(String),
    #[error("{kind} filter `{name}`: {field} lists {count} pubkeys, the limit is {MAX_PUBKEYS}")]
    TooManyPubkeys {
        kind: &'static str,
        name: String,
        field: &'static str,
        count: usize,
    },
    #[error("{kind} filter `{name}`: {field} has an invalid pubkey `{value}` (expected base58, 32 bytes)")]
    InvalidPubkey {
        kind: &'static str,
        name: String,
        field: &'static str,
        value: String,
    },
    #[error(
        "transactions filter `{name}`: invalid signature `{value}` (expected base58, 64 bytes)"
    )]
    InvalidSignature { name: String, value: String },
    #[error(
        "accounts filter `{name}`: {count} data filters, the limit is {MAX_ACCOUNT_CONDITIONS}"
    )]
    TooManyConditions { name: String, count: usize },
    #[error("accounts filter `{name}`: {reason}")]
    InvalidCondition { name: String, reason: String },
    #[error("accounts_data_slice: {0}")]
    InvalidDataSlice(String),
    #[error("{0} subscriptions are not supported by the iomesh localnet")]
    Unsupported(&'static str),
}

/// What one request on the stream asks for.
#[derive(Debug)]
pub enum Request {
    /// Answer with a Pong; the filters stay as they are.
    Ping(i32),
    /// Replace the filters (and replay from `from_slot` if given).
    Subscribe {
        filter: Filter,
        from_slot: Option<u64>,
    },
}

/// The filters of one subscription. The default matches nothing.
#[derive(Debug, Default)]
pub struct Filter {
    commitment: Option<CommitmentLevel>,
    accounts: Vec<(String, AccountFilter)>,
    slots: Vec<(String, SlotFilter)>,
    transactions: Vec<(String, TransactionFilter)>,
    transactions_status: Vec<(String, TransactionFilter)>,
    blocks_meta: Vec<String>,
    data_slices: Vec<(usize, usize)>,
}

#[derive(Debug, Default)]
struct AccountFilter {
    accounts: HashSet<Pubkey>,
    owners: HashSet<Pubkey>,
    memcmp: Vec<(usize, Vec<u8>)>,
    datasize: Option<usize>,
    token_account_state: bool,
    lamports: Vec<LamportsCmp>,
    nonempty_txn_signature: Option<bool>,
}

#[derive(Debug, Default)]
struct SlotFilter {
    filter_by_commitment: bool,
    interslot_updates: bool,
}

#[derive(Debug, Default)]
struct TransactionFilter {
    vote: Option<bool>,
    failed: Option<bool>,
    signature: Option<Signature>,
    include: HashSet<Pubkey>,
    exclude: HashSet<Pubkey>,
    required: HashSet<Pubkey>,
}

/// Compiles one request; a request carrying `ping` is only a ping.
pub fn compile(request: &SubscribeRequest) -> Result<Request, FilterError> {
    if let Some(ping) = &request.ping {
        return Ok(Request::Ping(ping.id));
    }
    for (kind, used) in [
        ("blocks", !request.blocks.is_empty()),
        ("entry", !request.entry.is_empty()),
        ("block_footer", !request.block_footer.is_empty()),
    ] {
        if used {
            return Err(FilterError::Unsupported(kind));
        }
    }
    let commitment = match request.commitment {
        None => None,
        Some(value) => Some(match ProtoCommitment::try_from(value) {
            Ok(ProtoCommitment::Processed) => CommitmentLevel::Processed,
            Ok(ProtoCommitment::Confirmed) => CommitmentLevel::Confirmed,
            Ok(ProtoCommitment::Finalized) => CommitmentLevel::Finalized,
            Err(_) => return Err(FilterError::InvalidCommitment(value)),
        }),
    };
    let filter = Filter {
        commitment,
        accounts: named("accounts", &request.accounts, account_filter)?,
        slots: named("slots", &request.slots, |_, f| {
            Ok(SlotFilter {
                filter_by_commitment: f.filter_by_commitment.unwrap_or(false),
                interslot_updates: f.interslot_updates.unwrap_or(false),
            })
        })?,
        transactions: named("transactions", &request.transactions, |name, f| {
            transaction_filter("transactions", name, f)
        })?,
        transactions_status: named(
            "transactions_status",
            &request.transactions_status,
            |name, f| transaction_filter("transactions_status", name, f),
        )?,
        blocks_meta: named("blocks_meta", &request.blocks_meta, |_, _| Ok(()))?
            .into_iter()
            .map(|(name, ())| name)
            .collect(),
        data_slices: data_slices(request)?,
    };
    Ok(Request::Subscribe {
        filter,
        from_slot: request.from_slot,
    })
}

fn named<T, F>(
    kind: &'static str,
    filters: &std::collections::HashMap<String, T>,
    compile: impl Fn(&str, &T) -> Result<F, FilterError>,
) -> Result<Vec<(String, F)>, FilterError> {
    if filters.len() > MAX_NAMED_FILTERS {
        return Err(FilterError::TooManyFilters {
            kind,
            count: filters.len(),
        });
    }
    let mut compiled = filters
        .iter()
        .map(|(name, filter)| {
            if name.len() > MAX_FILTER_NAME_BYTES {
                return Err(FilterError::NameTooLong(name.clone()));
            }
            Ok((name.clone(), compile(name, filter)?))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Deterministic order of names in `filters`.
    compiled.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(compiled)
}

fn pubkeys(
    kind: &'static str,
    name: &str,
    field: &'static str,
    values: &[String],
) -> Result<HashSet<Pubkey>, FilterError> {
    if values.len() > MAX_PUBKEYS {
        return Err(FilterError::TooManyPubkeys {
            kind,
            name: name.to_owned(),
            field,
            count: values.len(),
        });
    }
    values
        .iter()
        .map(|value| {
            Pubkey::from_str(value).map_err(|_| FilterError::InvalidPubkey {
                kind,
                name: name.to_owned(),
                field,
                value: value.clone(),
            })
        })
        .collect()
}

fn account_filter(
    name: &str,
    filter: &SubscribeRequestFilterAccounts,
) -> Result<AccountFilter, FilterError> {
    if filter.cuckoo_accounts_filter.is_some() {
        return Err(FilterError::Unsupported("cuckoo_accounts_filter"));
    }
    if filter.filters.len() > MAX_ACCOUNT_CONDITIONS {
        return Err(FilterError::TooManyConditions {
            name: name.to_owned(),
            count: filter.filters.len(),
        });
    }
    let mut compiled = AccountFilter {
        accounts: pubkeys("accounts", name, "account", &filter.account)?,
        owners: pubkeys("accounts", name, "owner", &filter.owner)?,
        nonempty_txn_signature: filter.nonempty_txn_signature,
        ..AccountFilter::default()
    };
    let invalid = |reason: &str| FilterError::InvalidCondition {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    for SubscribeRequestFilterAccountsFilter { filter } in &filter.filters {
        match filter {
            Some(AccountsFilterKind::Memcmp(memcmp)) => {
                let bytes = match &memcmp.data {
                    Some(MemcmpData::Bytes(bytes)) => bytes.clone(),
                    Some(MemcmpData::Base58(text)) => bs58::decode(text)
                        .into_vec()
                        .map_err(|_| invalid("memcmp data is not valid base58"))?,
                    Some(MemcmpData::Base64(text)) => base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .map_err(|_| invalid("memcmp data is not valid base64"))?,
                    None => return Err(invalid("memcmp has no data")),
                };
                if bytes.len() > MAX_MEMCMP_BYTES {
                    return Err(invalid(&format!(
                        "memcmp data is {} bytes, the limit is {MAX_MEMCMP_BYTES}",
                        bytes.len()
                    )));
                }
                let offset = usize::try_from(memcmp.offset)
                    .map_err(|_| invalid("memcmp offset is too large"))?;
                compiled.memcmp.push((offset, bytes));
            }
            Some(AccountsFilterKind::Datasize(size)) => {
                let size = usize::try_from(*size).map_err(|_| invalid("datasize is too large"))?;
                if compiled.datasize.replace(size).is_some() {
                    return Err(invalid("datasize is given more than once"));
                }
            }
            Some(AccountsFilterKind::TokenAccountState(value)) => {
                if !value {
                    return Err(invalid("token_account_state may only be true"));
                }
                compiled.token_account_state = true;
            }
            Some(AccountsFilterKind::Lamports(lamports)) => match lamports.cmp {
                Some(cmp) => compiled.lamports.push(cmp),
                None => return Err(invalid("lamports filter has no comparison")),
            },
            None => return Err(invalid("a data filter is empty")),
        }
    }
    Ok(compiled)
}

fn transaction_filter(
    kind: &'static str,
    name: &str,
    filter: &SubscribeRequestFilterTransactions,
) -> Result<TransactionFilter, FilterError> {
    if filter.cuckoo_account_include.is_some() {
        return Err(FilterError::Unsupported("cuckoo_account_include"));
    }
    if filter.token_accounts.is_some() {
        return Err(FilterError::Unsupported("token_accounts expansion"));
    }
    let signature = filter
        .signature
        .as_ref()
        .map(|value| {
            Signature::from_str(value).map_err(|_| FilterError::InvalidSignature {
                name: name.to_owned(),
                value: value.clone(),
            })
        })
        .transpose()?;
    Ok(TransactionFilter {
        vote: filter.vote,
        failed: filter.failed,
        signature,
        include: pubkeys(kind, name, "account_include", &filter.account_include)?,
        exclude: pubkeys(kind, name, "account_exclude", &filter.account_exclude)?,
        required: pubkeys(kind, name, "account_required", &filter.account_required)?,
    })
}

fn data_slices(request: &SubscribeRequest) -> Result<Vec<(usize, usize)>, FilterError> {
    let slices = &request.accounts_data_slice;
    if slices.len() > MAX_DATA_SLICES {
        return Err(FilterError::InvalidDataSlice(format!(
            "{} slices, the limit is {MAX_DATA_SLICES}",
            slices.len()
        )));
    }
    let mut compiled = Vec::with_capacity(slices.len());
    let mut end_of_previous = 0usize;
    for (i, slice) in slices.iter().enumerate() {
        let offset = usize::try_from(slice.offset)
            .map_err(|_| FilterError::InvalidDataSlice("offset is too large".into()))?;
        let length = usize::try_from(slice.length)
            .map_err(|_| FilterError::InvalidDataSlice("length is too large".into()))?;
        let end = offset
            .checked_add(length)
            .ok_or_else(|| FilterError::InvalidDataSlice("offset + length overflows".into()))?;
        if i > 0 && offset < end_of_previous {
            return Err(FilterError::InvalidDataSlice(
                "slices must be in order and must not overlap".into(),
            ));
        }
        end_of_previous = end;
        compiled.push((offset, length));
    }
    Ok(compiled)
}

impl AccountFilter {
    fn matches(&self, write: &AccountWrite) -> bool {
        if !self.accounts.is_empty() && !self.accounts.contains(&write.pubkey) {
            return false;
        }
        if !self.owners.is_empty() && !self.owners.contains(&write.owner) {
            return false;
        }
        if let Some(nonempty) = self.nonempty_txn_signature {
            if nonempty != write.txn_signature.is_some() {
                return false;
            }
        }
        let data = &write.data;
        if self.datasize.is_some_and(|size| data.len() != size) {
            return false;
        }
        if self.token_account_state && !is_token_account(data) {
            return false;
        }
        if !self.lamports.iter().all(|cmp| match *cmp {
            LamportsCmp::Eq(v) => write.lamports == v,
            LamportsCmp::Ne(v) => write.lamports != v,
            LamportsCmp::Lt(v) => write.lamports < v,
            LamportsCmp::Gt(v) => write.lamports > v,
        }) {
            return false;
        }
        self.memcmp.iter().all(|(offset, bytes)| {
            offset
                .checked_add(bytes.len())
                .and_then(|end| data.get(*offset..end))
                .is_some_and(|window| window == bytes.as_slice())
        })
    }
}

/// An initialized SPL Token / Token-2022 account (the layout's state byte is
/// set; a Token-2022 account with extensions carries its account type).
fn is_token_account(data: &[u8]) -> bool {
    const LEN: usize = 165;
    const STATE_OFFSET: usize = 108;
    const ACCOUNT_TYPE_OFFSET: usize = 165;
    const MULTISIG_LEN: usize = 355;
    const ACCOUNT_TYPE_ACCOUNT: u8 = 2;
    let initialized = data.get(STATE_OFFSET).is_some_and(|state| *state != 0);
    initialized
        && (data.len() == LEN
            || (data.len() > LEN
                && data.len() != MULTISIG_LEN
                && data[ACCOUNT_TYPE_OFFSET] == ACCOUNT_TYPE_ACCOUNT))
}

impl TransactionFilter {
    fn matches(&self, event: &TransactionEvent) -> bool {
        let record = &event.record;
        if let Some(vote) = self.vote {
            if vote != convert::is_vote(&record.transaction) {
                return false;
            }
        }
        if let Some(failed) = self.failed {
            if failed != record.meta.status.is_err() {
                return false;
            }
        }
        if self.signature.is_some_and(|s| s != event.signature) {
            return false;
        }
        let keys = record.transaction.message.static_account_keys();
        let loaded = &record.meta.loaded_addresses;
        let mut all_keys = keys
            .iter()
            .chain(loaded.writable.iter())
            .chain(loaded.readonly.iter());
        if !self.include.is_empty() && !all_keys.clone().any(|k| self.include.contains(k)) {
            return false;
        }
        if all_keys.any(|k| self.exclude.contains(k)) {
            return false;
        }
        self.required.iter().all(|required| {
            keys.contains(required)
                || loaded.writable.contains(required)
                || loaded.readonly.contains(required)
        })
    }
}

impl Filter {
    /// The level this subscription streams at (processed unless asked).
    pub fn commitment(&self) -> CommitmentLevel {
        self.commitment.unwrap_or(CommitmentLevel::Processed)
    }

    /// The updates `message` produces for this subscription (none, one, or a
    /// transaction and its status).
    pub fn updates(&self, message: &Message) -> Vec<SubscribeUpdate> {
        match message {
            Message::Account(write) => {
                let names = names(&self.accounts, |f| f.matches(write));
                one(names, || {
                    UpdateOneof::Account(convert::account(write, &self.data_slices))
                })
            }
            Message::Transaction(event) => {
                let mut updates = one(names(&self.transactions, |f| f.matches(event)), || {
                    UpdateOneof::Transaction(convert::transaction(event))
                });
                updates.extend(one(
                    names(&self.transactions_status, |f| f.matches(event)),
                    || UpdateOneof::TransactionStatus(convert::transaction_status(event)),
                ));
                updates
            }
            Message::Slot(event) => {
                let commitment_status = match self.commitment() {
                    CommitmentLevel::Processed => SlotStatus::Processed,
                    CommitmentLevel::Confirmed => SlotStatus::Confirmed,
                    CommitmentLevel::Finalized => SlotStatus::Finalized,
                };
                let names = names(&self.slots, |f| {
                    (!f.filter_by_commitment || event.status == commitment_status)
                        && (f.interslot_updates || event.status != SlotStatus::CreatedBank)
                });
                one(names, || UpdateOneof::Slot(convert::slot(event)))
            }
            Message::BlockMeta(event) => one(self.blocks_meta.clone(), || {
                UpdateOneof::BlockMeta(convert::block_meta(event))
            }),
        }
    }
}

fn names<F>(filters: &[(String, F)], matches: impl Fn(&F) -> bool) -> Vec<String> {
    filters
        .iter()
        .filter(|(_, f)| matches(f))
        .map(|(name, _)| name.clone())
        .collect()
}

fn one(filters: Vec<String>, update: impl FnOnce() -> UpdateOneof) -> Vec<SubscribeUpdate> {
    if filters.is_empty() {
        return Vec::new();
    }
    vec![SubscribeUpdate {
        filters,
        update_oneof: Some(update()),
        created_at: Some(convert::now()),
    }]
}

/// The answer to a request carrying `ping`.
pub fn pong(id: i32) -> SubscribeUpdate {
    SubscribeUpdate {
        filters: Vec::new(),
        update_oneof: Some(UpdateOneof::Pong(SubscribeUpdatePong { id })),
        created_at: Some(convert::now()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yellowstone_grpc_proto::prelude::{
        SubscribeRequestAccountsDataSlice, SubscribeRequestFilterAccountsFilterMemcmp,
        SubscribeRequestPing,
    };

    fn write(data: Vec<u8>) -> AccountWrite {
        AccountWrite {
            slot: 1,
            bank_id: 1,
            pubkey: Pubkey::new_unique(),
            lamports: 10,
            owner: Pubkey::new_unique(),
            executable: false,
            rent_epoch: 0,
            data,
            write_version: 1,
            txn_signature: None,
        }
    }

    fn accounts_request(filter: SubscribeRequestFilterAccounts) -> SubscribeRequest {
        SubscribeRequest {
            accounts: [("a".to_owned(), filter)].into(),
            ..SubscribeRequest::default()
        }
    }

    fn compiled(request: &SubscribeRequest) -> Filter {
        match compile(request).expect("valid request") {
            Request::Subscribe { filter, .. } => filter,
            Request::Ping(_) => panic!("not a ping"),
        }
    }

    fn memcmp(offset: u64, data: MemcmpData) -> SubscribeRequestFilterAccountsFilter {
        SubscribeRequestFilterAccountsFilter {
            filter: Some(AccountsFilterKind::Memcmp(
                SubscribeRequestFilterAccountsFilterMemcmp {
                    offset,
                    data: Some(data),
                },
            )),
        }
    }

    #[test]
    fn conditions_within_a_named_filter_are_anded() {
        let target = write(vec![1, 2, 3, 4]);
        let filter = compiled(&accounts_request(SubscribeRequestFilterAccounts {
            owner: vec![target.owner.to_string()],
            filters: vec![
                memcmp(1, MemcmpData::Base58(bs58::encode([2, 3]).into_string())),
                SubscribeRequestFilterAccountsFilter {
                    filter: Some(AccountsFilterKind::Datasize(4)),
                },
            ],
            ..Default::default()
        }));
        let message = Message::Account(target);
        assert_eq!(filter.updates(&message).len(), 1);
        let Message::Account(mut other) = message else {
            unreachable!()
        };
        other.data = vec![1, 2, 3, 4, 5];
        assert!(filter.updates(&Message::Account(other)).is_empty());
    }

    #[test]
    fn data_slices_cut_account_data() {
        let mut request = accounts_request(SubscribeRequestFilterAccounts::default());
        request.accounts_data_slice = vec![
            SubscribeRequestAccountsDataSlice {
                offset: 1,
                length: 2,
            },
            SubscribeRequestAccountsDataSlice {
                offset: 4,
                length: 10,
            },
        ];
        let updates = compiled(&request).updates(&Message::Account(write(vec![0, 1, 2, 3, 4, 5])));
        let Some(UpdateOneof::Account(account)) = &updates[0].update_oneof else {
            panic!("account update");
        };
        assert_eq!(account.account.as_ref().unwrap().data, vec![1, 2, 4, 5]);
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let bad_pubkey = accounts_request(SubscribeRequestFilterAccounts {
            account: vec!["not-a-key".into()],
            ..Default::default()
        });
        assert_eq!(
            compile(&bad_pubkey).unwrap_err().to_string(),
            "accounts filter `a`: account has an invalid pubkey `not-a-key` (expected base58, 32 bytes)"
        );
        let no_data = accounts_request(SubscribeRequestFilterAccounts {
            filters: vec![SubscribeRequestFilterAccountsFilter {
                filter: Some(AccountsFilterKind::Memcmp(
                    SubscribeRequestFilterAccountsFilterMemcmp {
                        offset: 0,
                        data: None,
                    },
                )),
            }],
            ..Default::default()
        });
        assert_eq!(
            compile(&no_data).unwrap_err().to_string(),
            "accounts filter `a`: memcmp has no data"
        );
        let commitment = SubscribeRequest {
            commitment: Some(7),
            ..Default::default()
        };
        assert_eq!(
            compile(&commitment).unwrap_err(),
            FilterError::InvalidCommitment(7)
        );
        let overlapping = SubscribeRequest {
            accounts_data_slice: vec![
                SubscribeRequestAccountsDataSlice {
                    offset: 0,
                    length: 4,
                },
                SubscribeRequestAccountsDataSlice {
                    offset: 2,
                    length: 4,
                },
            ],
            ..Default::default()
        };
        assert!(matches!(
            compile(&overlapping),
            Err(FilterError::InvalidDataSlice(_))
        ));
    }

    #[test]
    fn a_ping_leaves_the_filters_alone() {
        let request = SubscribeRequest {
            ping: Some(SubscribeRequestPing { id: 9 }),
            accounts: accounts_request(SubscribeRequestFilterAccounts::default()).accounts,
            ..Default::default()
        };
        assert!(matches!(compile(&request), Ok(Request::Ping(9))));
    }
}
