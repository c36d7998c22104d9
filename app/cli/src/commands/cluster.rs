//! `iomesh cluster …`: leases on several nodes that start together. A cluster
//! is created empty; leases join it with `lease create --cluster`; none of
//! them can start before all are funded; past the deadline an incomplete
//! cluster is unwound with full refunds.

use super::sent;
use crate::{
    args::ClusterCommand,
    context::{duration_secs, pubkey, token_amount, Context},
    output::{fields, Output},
    views,
};
use anchor_lang::prelude::Pubkey;
use anyhow::{bail, Result};
use iomesh_client::clock::unix_now as now;
use iomesh_client::{
    instructions::{self as ix, UnwindLease},
    iomesh::{
        state::{Cluster, Lease, LeaseStatus, MAX_CLUSTER_FUNDING_SECS, MAX_CLUSTER_LEASES},
        CreateClusterArgs,
    },
    pda,
    units::format_duration,
    LeaseRole, TokenMint,
};
use serde_json::{json, Value};
use solana_signer::Signer;
use std::collections::BTreeMap;

/// Leases refunded per `unwind_cluster` transaction: four accounts each, and
/// a transaction holds at most 1232 bytes.
const UNWIND_PER_TRANSACTION: usize = 4;

pub async fn run(ctx: &Context, command: ClusterCommand) -> Result<Output> {
    match command {
        ClusterCommand::Create {
            leases,
            deadline,
            nonce,
        } => {
            let renter = ctx.signer()?;
            if leases == 0 || leases > MAX_CLUSTER_LEASES {
                bail!("--leases {leases}: a cluster holds 1 to {MAX_CLUSTER_LEASES} leases");
            }
            let window = duration_secs(&deadline, "deadline")?;
            if window == 0 || i64::from(window) > MAX_CLUSTER_FUNDING_SECS {
                bail!(
                    "--deadline {deadline}: the funding window must be between 1s and {}",
                    format_duration(MAX_CLUSTER_FUNDING_SECS as u64)
                );
            }
            let nonce = nonce.unwrap_or_else(now_millis);
            let funding_deadline = now() + i64::from(window);
            let args = CreateClusterArgs {
                nonce,
                leases_expected: leases,
                funding_deadline,
            };
            let instruction = ix::create_cluster(&renter.pubkey(), args);
            let signature = ctx.client.send(&[instruction], &renter, &[]).await?;
            let cluster = pda::cluster(&renter.pubkey(), nonce);
            Ok(sent(
                "cluster created; add its leases with `iomesh lease create --cluster`",
                signature,
                json!({
                    "cluster": cluster.to_string(),
                    "nonce": nonce,
                    "leases_expected": leases,
                    "funding_deadline": funding_deadline,
                }),
                vec![
                    ("Cluster", cluster.to_string()),
                    ("Leases expected", leases.to_string()),
                    ("Funding window", format_duration(window.into())),
                ],
            ))
        }
        ClusterCommand::Show { cluster } => {
            let address = pubkey(&cluster, "cluster")?;
            let cluster = ctx.client.cluster(&address).await?;
            let members = members(ctx, &address, &cluster).await?;
            let mut leases = Vec::new();
            for (lease_address, lease) in &members {
                let mint = ctx.client.payment_mint(&lease.mint).await?;
                leases.push(views::lease_json(lease_address, lease, &mint));
            }
            let state = state(&cluster, now());
            let mut json = cluster_json(&address, &cluster, state);
            json["leases"] = Value::Array(leases);
            let mut rows = vec![
                ("Cluster", address.to_string()),
                ("Renter", cluster.renter.to_string()),
                ("State", state.to_string()),
                (
                    "Funded",
                    format!("{} of {}", cluster.leases_funded, cluster.leases_expected),
                ),
                ("Funding deadline", cluster.funding_deadline.to_string()),
            ];
            for (lease_address, lease) in &members {
                rows.push((
                    "Lease",
                    format!("{lease_address} ({})", views::lease_status(lease.status)),
                ));
            }
            Ok(Output {
                json,
                human: fields(&rows),
            })
        }
        ClusterCommand::Unwind { cluster } => {
            let signer = ctx.signer()?;
            let address = pubkey(&cluster, "cluster")?;
            let state_before = ctx.client.cluster(&address).await?;
            if state_before.is_complete() {
                bail!(
                    "cluster {address} is fully funded ({} of {} leases): it cannot be unwound; its leases are cancelled one by one",
                    state_before.leases_funded,
                    state_before.leases_expected
                );
            }
            let pending: Vec<(Pubkey, Lease)> = members(ctx, &address, &state_before)
                .await?
                .into_iter()
                .filter(|(_, l)| l.status == LeaseStatus::Pending)
                .collect();
            if pending.is_empty() {
                bail!("cluster {address} has no pending lease left to unwind");
            }
            // One mint per call: group the leases by mint.
            let mut by_mint: BTreeMap<Pubkey, Vec<(Pubkey, Lease)>> = BTreeMap::new();
            for (lease_address, lease) in pending {
                by_mint
                    .entry(lease.mint)
                    .or_default()
                    .push((lease_address, lease));
            }
            let mut signatures = Vec::new();
            let mut refunds = Vec::new();
            let mut human = Vec::new();
            for (mint, leases) in &by_mint {
                let payment_mint = ctx.client.payment_mint(mint).await?;
                let token_mint = TokenMint {
                    mint: *mint,
                    token_program: payment_mint.token_program,
                };
                for chunk in leases.chunks(UNWIND_PER_TRANSACTION) {
                    let group: Vec<UnwindLease> = chunk
                        .iter()
                        .map(|(lease, state)| UnwindLease {
                            lease: *lease,
                            node: state.node,
                            payer: state.payer,
                        })
                        .collect();
                    let instruction =
                        ix::unwind_cluster(&state_before.renter, &address, &token_mint, &group);
                    signatures.push(ctx.client.send(&[instruction], &signer, &[]).await?);
                    for (lease, state) in chunk {
                        let refunded = state.deposited.saturating_sub(state.paid_out);
                        refunds.push(json!({
                            "lease": lease.to_string(),
                            "payer": state.payer.to_string(),
                            "mint": mint.to_string(),
                            "refunded": refunded,
                        }));
                        human.push((
                            "Refunded",
                            format!("{} for {lease}", token_amount(refunded, &payment_mint)),
                        ));
                    }
                }
            }
            let closed = ctx.client.account(&address).await?.is_none();
            human.push(("Cluster closed", views::yes_no(closed)));
            let mut rows = vec![("Done", "cluster unwound".to_string())];
            rows.extend(human);
            Ok(Output {
                json: json!({
                    "cluster": address.to_string(),
                    "signatures": signatures.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    "leases": refunds,
                    "cluster_closed": closed,
                }),
                human: fields(&rows),
            })
        }
        ClusterCommand::Close { cluster } => {
            let renter = ctx.signer()?;
            let address = pubkey(&cluster, "cluster")?;
            let state = ctx.client.cluster(&address).await?;
            if state.renter != renter.pubkey() {
                bail!(
                    "only the renter can close cluster {address}: its renter is {}, you are {}",
                    state.renter,
                    renter.pubkey()
                );
            }
            let signature = ctx
                .client
                .send(
                    &[ix::close_cluster(&renter.pubkey(), &address)],
                    &renter,
                    &[],
                )
                .await?;
            Ok(sent(
                "cluster closed; its rent is back in your wallet",
                signature,
                json!({ "cluster": address.to_string() }),
                vec![("Cluster", address.to_string())],
            ))
        }
    }
}

/// The cluster a new lease of `renter` may join, refused here (with the
/// reason) when the program would refuse it.
pub async fn joinable(ctx: &Context, input: &str, renter: &Pubkey) -> Result<Pubkey> {
    let address = pubkey(input, "cluster")?;
    let cluster = ctx.client.cluster(&address).await?;
    if cluster.renter != *renter {
        bail!(
            "cluster {address} belongs to renter {}, you are {renter}: only its renter adds leases",
            cluster.renter
        );
    }
    if cluster.is_complete() {
        bail!(
            "cluster {address} already has all its {} leases",
            cluster.leases_expected
        );
    }
    if now() > cluster.funding_deadline {
        bail!("cluster {address} is past its funding deadline: no lease may join it");
    }
    Ok(address)
}

/// The leases of `cluster` still open, oldest first.
async fn members(
    ctx: &Context,
    address: &Pubkey,
    cluster: &Cluster,
) -> Result<Vec<(Pubkey, Lease)>> {
    let mut leases: Vec<(Pubkey, Lease)> = ctx
        .client
        .leases(LeaseRole::Renter, &cluster.renter)
        .await?
        .into_iter()
        .filter(|(_, l)| {
            l.in_cluster
                && l.cluster_nonce == cluster.nonce
                // A cluster re-created under the same nonce is another cluster.
                && l.created_at >= cluster.created_at
                && pda::cluster(&l.renter, l.cluster_nonce) == *address
        })
        .collect();
    leases.reverse();
    Ok(leases)
}

fn state(cluster: &Cluster, now: i64) -> &'static str {
    if cluster.is_complete() {
        "complete"
    } else if now > cluster.funding_deadline {
        "expired"
    } else {
        "funding"
    }
}

fn cluster_json(address: &Pubkey, cluster: &Cluster, state: &str) -> Value {
    json!({
        "address": address.to_string(),
        "renter": cluster.renter.to_string(),
        "nonce": cluster.nonce,
        "state": state,
        "leases_expected": cluster.leases_expected,
        "leases_funded": cluster.leases_funded,
        "leases_unwound": cluster.leases_unwound,
        "funding_deadline": cluster.funding_deadline,
        "created_at": cluster.created_at,
        "completed_at": cluster.is_complete().then_some(cluster.completed_at),
    })
}

fn now_millis() -> u64 {
    u64::try_from(iomesh_client::clock::unix_now_ms()).unwrap_or_default()
}
