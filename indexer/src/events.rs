//! The program's events in a transaction's log messages: `Program data:`
//! lines written while the iomesh program is the running invocation. The
//! lease events are decoded by their Anchor discriminator into the program
//! crate's own types (enough to rebuild a lease from history alone); every
//! event is also decoded with the IDL for `program_events`.

use crate::{event_schema::EventSchema, writer::LoggedEvent};
use anchor_lang::{AnchorDeserialize, Discriminator};
use base64::{engine::general_purpose::STANDARD, Engine};
use iomesh::events::{
    LeaseActivated, LeaseCreated, LeaseEndReason, LeaseEnded, LeaseExtended, LeaseSettled,
};
use solana_pubkey::Pubkey;

/// An event of the program that the indexer uses.
pub enum ProgramEvent {
    LeaseCreated(LeaseCreated),
    LeaseActivated(LeaseActivated),
    LeaseSettled(LeaseSettled),
    LeaseExtended(LeaseExtended),
    LeaseEnded(LeaseEnded),
}

impl ProgramEvent {
    /// The lease the event is about.
    pub fn lease(&self) -> Pubkey {
        match self {
            Self::LeaseCreated(e) => e.lease,
            Self::LeaseActivated(e) => e.lease,
            Self::LeaseSettled(e) => e.lease,
            Self::LeaseExtended(e) => e.lease,
            Self::LeaseEnded(e) => e.lease,
        }
    }
}

impl std::fmt::Debug for ProgramEvent {
    // The program's event types derive neither Debug nor Clone.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Self::LeaseCreated(_) => "LeaseCreated",
            Self::LeaseActivated(_) => "LeaseActivated",
            Self::LeaseSettled(_) => "LeaseSettled",
            Self::LeaseExtended(_) => "LeaseExtended",
            Self::LeaseEnded(_) => "LeaseEnded",
        };
        write!(f, "{name}({})", self.lease())
    }
}

/// `lease_endings.reason` of a `LeaseEnded`.
pub fn end_reason(reason: LeaseEndReason) -> &'static str {
    match reason {
        LeaseEndReason::Completed => "completed",
        LeaseEndReason::Cancelled => "cancelled",
        LeaseEndReason::Failed => "failed",
        LeaseEndReason::Expired => "expired",
        LeaseEndReason::Unwound => "unwound",
    }
}

/// The events `program_id` logged, in order. Lines of other programs (a CPI
/// target can log `Program data:` too) are skipped by following the
/// `invoke [N]` / `success` / `failed` lines; events of other types are skipped.
pub fn program_events(program_id: &Pubkey, logs: &[String]) -> Vec<ProgramEvent> {
    program_payloads(program_id, logs)
        .iter()
        .filter_map(|payload| decode_event(payload))
        .collect()
}

/// Every event `program_id` logged in one transaction, in order, decoded
/// with the IDL; a payload the IDL does not describe is kept with why.
pub fn logged_events(
    program_id: &Pubkey,
    logs: &[String],
    slot: u64,
    signature: &str,
    block_time: Option<i64>,
) -> Vec<LoggedEvent> {
    let schema = EventSchema::iomesh();
    program_payloads(program_id, logs)
        .into_iter()
        .enumerate()
        .map(|(index, data)| {
            let decoded = schema.decode(&data);
            let (name, fields, decode_error) = match decoded {
                Ok((name, fields)) => (Some(name.to_owned()), Some(fields), None),
                Err(error) => (None, None, Some(error)),
            };
            LoggedEvent {
                signature: signature.to_owned(),
                index: index as u32,
                slot,
                name,
                fields,
                data,
                decode_error,
                block_time,
            }
        })
        .collect()
}

/// The payloads of the `Program data:` lines `program_id` itself wrote, in
/// order (a line that is not base64 is no payload).
fn program_payloads(program_id: &Pubkey, logs: &[String]) -> Vec<Vec<u8>> {
    let program = program_id.to_string();
    let mut stack: Vec<&str> = Vec::new();
    let mut payloads = Vec::new();
    for line in logs {
        let Some(rest) = line.strip_prefix("Program ") else {
            continue;
        };
        if let Some(data) = rest.strip_prefix("data: ") {
            if stack.last() == Some(&program.as_str()) {
                // Anchor writes one base64 field per event.
                let field = data.split(' ').next().unwrap_or_default();
                payloads.extend(STANDARD.decode(field).ok());
            }
        } else if let Some((id, tail)) = rest.split_once(' ') {
            if tail.starts_with("invoke [") {
                stack.push(id);
            } else if tail == "success" || tail.starts_with("failed") {
                stack.pop();
            }
        }
    }
    payloads
}

/// One event payload, or None if it is not an event the indexer uses.
fn decode_event(payload: &[u8]) -> Option<ProgramEvent> {
    let (discriminator, mut body) = payload.split_at_checked(8)?;
    macro_rules! event {
        ($($ty:ident),*) => {
            $(if discriminator == $ty::DISCRIMINATOR {
                return $ty::deserialize(&mut body).ok().map(ProgramEvent::$ty);
            })*
        };
    }
    event!(
        LeaseCreated,
        LeaseActivated,
        LeaseSettled,
        LeaseExtended,
        LeaseEnded
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_lang::Event;

    fn data_line(event: &impl Event) -> String {
        format!("Program data: {}", STANDARD.encode(event.data()))
    }

    fn ended(lease: Pubkey) -> LeaseEnded {
        LeaseEnded {
            lease,
            node: Pubkey::new_unique(),
            reason: LeaseEndReason::Cancelled,
            paid_out: 7,
            refunded: 3,
            billed_until: 1_700_000_000,
        }
    }

    #[test]
    fn only_the_programs_own_data_lines_are_its_events() {
        let program = Pubkey::new_unique();
        let other = Pubkey::new_unique();
        let (ours, theirs) = (Pubkey::new_unique(), Pubkey::new_unique());
        let logs = vec![
            format!("Program {program} invoke [1]"),
            format!("Program {other} invoke [2]"),
            data_line(&ended(theirs)),
            format!("Program {other} success"),
            data_line(&ended(ours)),
            "Program data: bm90IGFuIGV2ZW50".to_string(),
            format!("Program {program} consumed 1000 of 200000 compute units"),
            format!("Program {program} success"),
            data_line(&ended(theirs)),
        ];
        let events = program_events(&program, &logs);
        assert_eq!(events.len(), 1, "{events:?}");
        let ProgramEvent::LeaseEnded(event) = &events[0] else {
            panic!("not LeaseEnded: {events:?}");
        };
        assert_eq!((event.lease, event.paid_out, event.refunded), (ours, 7, 3));
    }
}
