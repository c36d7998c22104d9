//! Transaction logs as a validator writes them: one `invoke [N]` and one
//! closing line per invocation, at its real depth (Anchor's log parser
//! rejects anything else), the program's `msg!` lines as `Program log:`
//! (Anchor's error report among them), and the program's events as `Program data:`
//! lines. The natively hosted program used to log every instruction twice
//! and every CPI at two depths, and printed its events to stdout.

mod common;

use anchor_lang::{AnchorDeserialize, Discriminator};
use base64::{engine::general_purpose::STANDARD, Engine};
use common::*;
use iomesh::{accounts as acc, events::NodeStatusSet, instruction as args, state::NodeStatus};
use solana_signer::Signer;

/// Replays the invoke/closing lines as a stack; panics where a validator's
/// log could not have that line, and returns the (program, depth) of every
/// invocation in order.
fn invocations(logs: &[String]) -> Vec<(String, usize)> {
    let mut stack: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    for line in logs {
        let Some(rest) = line.strip_prefix("Program ") else {
            continue;
        };
        let mut words = rest.split(' ');
        let (Some(program), Some(what)) = (words.next(), words.next()) else {
            continue;
        };
        match what {
            "invoke" => {
                let depth: usize = words
                    .next()
                    .and_then(|d| d.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
                    .unwrap_or_else(|| panic!("malformed invoke line {line:?} in {logs:#?}"));
                assert_eq!(
                    depth,
                    stack.len() + 1,
                    "{line:?} at depth {} in {logs:#?}",
                    stack.len()
                );
                stack.push(program.to_string());
                seen.push((program.to_string(), depth));
            }
            "success" | "failed:" => {
                assert_eq!(
                    stack.pop().as_deref(),
                    Some(program),
                    "{line:?} closes no open invocation of it in {logs:#?}"
                );
            }
            _ => {}
        }
    }
    assert!(
        stack.is_empty(),
        "unclosed invocations {stack:?} in {logs:#?}"
    );
    seen
}

#[tokio::test]
async fn each_invocation_is_logged_once_at_its_depth_and_events_as_program_data() {
    let mut env = TestEnv::new().await;
    let node = env.register_node(4).await;
    let renter = env.wallet().await;
    let usdc = env.usdc;
    env.fund(&renter.pubkey(), usdc, 1_000 * TOKEN).await;

    // create_lease: the program, with CPIs into the System and Token programs.
    let create = env.create_lease_ix(&LeaseRequest::new(&renter, &node, usdc, 1));
    let sent = env.send_as(&renter, &[create], &[]).await;
    sent.result.clone().expect("create_lease");
    let calls = invocations(&sent.logs);
    let program = iomesh::ID.to_string();
    assert_eq!(calls[0], (program.clone(), 1), "{:#?}", sent.logs);
    assert_eq!(
        calls.iter().filter(|(p, _)| *p == program).count(),
        1,
        "{:#?}",
        sent.logs
    );
    let token = anchor_spl::token::spl_token::ID.to_string();
    assert!(
        calls.contains(&(token, 2)),
        "the token transfer is a CPI at depth 2: {:#?}",
        sent.logs
    );
    assert!(
        calls[1..].iter().all(|(_, depth)| *depth == 2),
        "{:#?}",
        sent.logs
    );

    // set_node_status emits NodeStatusSet: its bytes are in the log.
    let pause = ix(
        acc::SetNodeStatus {
            node: node.address,
            owner: node.owner.pubkey(),
        },
        args::SetNodeStatus {
            status: NodeStatus::Paused,
        },
    );
    let owner = node.owner.insecure_clone();
    let sent = env.send_as(&owner, std::slice::from_ref(&pause), &[]).await;
    sent.result.clone().expect("set_node_status");
    assert_eq!(invocations(&sent.logs), vec![(program.clone(), 1)]);
    // The program's own msg! lines are in the log, right after its invoke.
    assert_eq!(
        sent.logs.get(1).map(String::as_str),
        Some("Program log: Instruction: SetNodeStatus"),
        "{:#?}",
        sent.logs
    );
    let events: Vec<Vec<u8>> = sent
        .logs
        .iter()
        .filter_map(|l| l.strip_prefix("Program data: "))
        .map(|data| STANDARD.decode(data).expect("base64"))
        .collect();
    assert_eq!(events.len(), 1, "{:#?}", sent.logs);
    let event = &events[0];
    assert_eq!(&event[..8], NodeStatusSet::DISCRIMINATOR);
    let decoded = NodeStatusSet::deserialize(&mut &event[8..]).unwrap();
    assert_eq!(
        (decoded.node, decoded.status),
        (node.address, NodeStatus::Paused)
    );

    // A refused instruction closes with one `failed` line.
    let stranger = env.wallet().await;
    let mut refused = pause;
    refused.accounts[1].pubkey = stranger.pubkey();
    let sent = env.send_as(&stranger, &[refused], &[]).await;
    assert!(sent.result.is_err());
    assert_eq!(invocations(&sent.logs), vec![(program.clone(), 1)]);
    let failed: Vec<&String> = sent
        .logs
        .iter()
        .filter(|l| l.starts_with(&format!("Program {program} failed: ")))
        .collect();
    assert_eq!(failed.len(), 1, "{:#?}", sent.logs);
    // Anchor's error report, which stock clients turn into an AnchorError.
    assert!(
        sent.logs
            .iter()
            .any(|l| l.starts_with("Program log: AnchorError ") && l.contains("Error Number: ")),
        "{:#?}",
        sent.logs
    );
}
