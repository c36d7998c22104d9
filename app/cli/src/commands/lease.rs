//! `iomesh lease …`: renting GPUs and everything that moves a lease's escrow.

use super::sent;
use crate::{
    args::LeaseCommand,
    config::load_keypair,
    context::{hours_secs, pubkey, token_amount, Context},
    output::{short, Human, Output, Table},
    renter_api::RenterApi,
    views,
};
use anyhow::{anyhow, bail, Context as _, Result};
use iomesh_client::clock::unix_now as now;
use iomesh_client::{
    extension_deposit,
    instructions::{self as ix, Instruction},
    iomesh::{math, state::Credit, CreateLeaseArgs},
    pda, quote,
    units::{self, format_duration},
    LeaseAccounts, LeaseRole, TokenMint,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use solana_signer::Signer;

/// How long a spec submission waits for the scheduler to index a lease that
/// just landed (its indexer streams confirmed blocks: normally a second or two).
const SPEC_INDEX_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

pub async fn run(ctx: &Context, command: LeaseCommand) -> Result<Output> {
    match command {
        LeaseCommand::Create {
            node,
            gpus,
            hours,
            mint,
            job_spec,
            max_price,
            payer,
            nonce,
            cluster,
        } => {
            let renter = ctx.signer()?;
            let cluster = match cluster {
                Some(text) => Some(super::cluster::joinable(ctx, &text, &renter.pubkey()).await?),
                None => None,
            };
            let payer = match payer {
                Some(path) => load_keypair(&path, "--payer")?,
                None => renter.insecure_clone(),
            };
            let duration_secs = hours_secs(&hours)?;
            let spec = std::fs::read(&job_spec)
                .with_context(|| format!("cannot read the job spec {}", job_spec.display()))?;
            let job_spec_hash: [u8; 32] = Sha256::digest(&spec).into();
            let (node_address, node) = ctx.client.resolve_node(&pubkey(&node, "node")?).await?;
            let payment_mint = ctx.resolve_payment_mint(&mint).await?;
            let quoted = quote(&node, &payment_mint, gpus, duration_secs)?;
            let max_price_per_gpu_hour = match max_price {
                Some(text) => units::parse_amount(&text, payment_mint.decimals)
                    .map_err(|e| anyhow!("--max-price: {e}"))?,
                // Lock the price just quoted: a change before the transaction lands is refused.
                None => quoted.rate_per_gpu_hour,
            };
            ctx.client
                .ensure_balance(&payer.pubkey(), &payment_mint, quoted.deposit)
                .await?;
            let nonce = nonce.unwrap_or_else(default_nonce);
            let token_mint = TokenMint {
                mint: payment_mint.mint,
                token_program: payment_mint.token_program,
            };
            let args = CreateLeaseArgs {
                nonce,
                gpus,
                duration_secs,
                max_price_per_gpu_hour,
                job_spec_hash,
            };
            let instruction = ix::create_cluster_lease(
                &renter.pubkey(),
                &payer.pubkey(),
                &node_address,
                &token_mint,
                args,
                cluster,
            );
            let signature = ctx.client.send(&[instruction], &renter, &[&payer]).await?;
            let lease = pda::lease(&renter.pubkey(), nonce);
            // The scheduler runs the job only once it has the spec.
            let submitted = match &ctx.scheduler {
                Some(scheduler) => Some(
                    RenterApi::new(scheduler)
                        .submit_spec(&renter, &lease, &spec, SPEC_INDEX_WAIT)
                        .await
                        .with_context(|| {
                            format!(
                                "lease {lease} was created ({signature}), but its job spec did not \
                                 reach the scheduler; retry with `iomesh lease submit-spec {lease} \
                                 --job-spec {}`",
                                job_spec.display()
                            )
                        })?,
                ),
                None => None,
            };
            let spec_note = match &submitted {
                Some(answer) => format!(
                    "handed to the scheduler ({})",
                    answer["stored"].as_str().unwrap_or("stored")
                ),
                None => format!(
                    "not sent: pass --scheduler, or run `iomesh --scheduler URL lease submit-spec {lease} --job-spec {}`",
                    job_spec.display()
                ),
            };
            let mut output = sent(
                if cluster.is_some() {
                    "lease created in the cluster; it starts once every lease of the cluster is funded"
                } else {
                    "lease created; waiting for the node's operator to activate it"
                },
                signature,
                json!({
                    "lease": lease.to_string(),
                    "nonce": nonce,
                    "node": node_address.to_string(),
                    "mint": payment_mint.mint.to_string(),
                    "symbol": iomesh_client::iomesh::state::decode_text(&payment_mint.symbol),
                    "gpus": gpus,
                    "duration_secs": duration_secs,
                    "rate_per_gpu_hour": quoted.rate_per_gpu_hour,
                    "deposit": quoted.deposit,
                    "job_spec_hash": views::hex(&job_spec_hash),
                    "cluster": cluster.map(|c| c.to_string()),
                }),
                vec![
                    ("Lease", lease.to_string()),
                    ("Node", node_address.to_string()),
                    ("GPUs", gpus.to_string()),
                    ("Duration", format_duration(duration_secs.into())),
                    (
                        "Price",
                        format!(
                            "{} per GPU-hour",
                            token_amount(quoted.rate_per_gpu_hour, &payment_mint)
                        ),
                    ),
                    ("Escrowed", token_amount(quoted.deposit, &payment_mint)),
                    ("Job spec", spec_note),
                ],
            );
            output.json["job_spec_submitted"] = json!(submitted.is_some());
            Ok(output)
        }
        LeaseCommand::SubmitSpec { lease, job_spec } => {
            let address = pubkey(&lease, "lease")?;
            let spec = std::fs::read(&job_spec)
                .with_context(|| format!("cannot read the job spec {}", job_spec.display()))?;
            let answer = RenterApi::new(&ctx.scheduler_url()?)
                .submit_spec(&ctx.signer()?, &address, &spec, SPEC_INDEX_WAIT)
                .await?;
            Ok(Output {
                human: crate::output::fields(&[
                    ("Lease", address.to_string()),
                    (
                        "Job spec",
                        answer["stored"].as_str().unwrap_or("stored").to_string(),
                    ),
                    (
                        "sha256",
                        answer["sha256"].as_str().unwrap_or_default().to_string(),
                    ),
                ]),
                json: answer,
            })
        }
        LeaseCommand::Activate { lease } => {
            let operator = ctx.signer()?;
            let lease = pubkey(&lease, "lease")?;
            let state = ctx.client.lease(&lease).await?;
            let cluster = state
                .in_cluster
                .then(|| pda::cluster(&state.renter, state.cluster_nonce));
            let instruction = ix::activate_cluster_lease(&operator.pubkey(), &lease, cluster);
            let signature = ctx.client.send(&[instruction], &operator, &[]).await?;
            let state = ctx.client.lease(&lease).await?;
            Ok(sent(
                "lease activated; billing has started",
                signature,
                json!({
                    "lease": lease.to_string(),
                    "activated_at": state.activated_at,
                    "ends_at": state.ends_at().ok(),
                }),
                vec![("Lease", lease.to_string())],
            ))
        }
        LeaseCommand::Settle { lease } => {
            let signer = ctx.signer()?;
            let lease = pubkey(&lease, "lease")?;
            let (keys, before) = ctx.client.lease_keys(&lease).await?;
            let mut instructions = ctx
                .client
                .create_missing_token_accounts(&signer.pubkey(), &keys.mint, &keys.payees())
                .await?;
            instructions.push(keys.settle());
            let signature = ctx.client.send(&instructions, &signer, &[]).await?;
            let after = ctx.client.lease(&lease).await?;
            let paid = after.paid_out - before.paid_out;
            let fee =
                math::network_fee(paid, after.fee_bps).map_err(|e| anyhow!("network fee: {e}"))?;
            let mint = ctx.client.payment_mint(&after.mint).await?;
            Ok(sent(
                "lease settled",
                signature,
                json!({
                    "lease": lease.to_string(),
                    "paid": paid,
                    "supplier_amount": paid - fee,
                    "fee": fee,
                    "settled_until": after.settled_until,
                }),
                vec![
                    ("Paid to the node", token_amount(paid - fee, &mint)),
                    ("Network fee", token_amount(fee, &mint)),
                ],
            ))
        }
        LeaseCommand::Extend { lease, hours } => {
            let funder = ctx.signer()?;
            let lease = pubkey(&lease, "lease")?;
            let added_secs = hours_secs(&hours)?;
            let LeaseAccounts {
                keys,
                lease: state,
                payment_mint: mint,
                ..
            } = ctx.client.lease_accounts(&lease).await?;
            let added_deposit = extension_deposit(&state, added_secs)
                .map_err(|e| anyhow!("--hours `{hours}`: {e}"))?;
            let total_secs = state.duration_secs.saturating_add(added_secs);
            ctx.client
                .ensure_balance(&funder.pubkey(), &mint, added_deposit)
                .await?;
            let signature = ctx
                .client
                .send(&[keys.extend(&funder.pubkey(), added_secs)], &funder, &[])
                .await?;
            Ok(sent(
                "lease extended",
                signature,
                json!({
                    "lease": lease.to_string(),
                    "added_secs": added_secs,
                    "added_deposit": added_deposit,
                    "duration_secs": total_secs,
                }),
                vec![
                    ("Added", format_duration(added_secs.into())),
                    ("Escrowed", token_amount(added_deposit, &mint)),
                ],
            ))
        }
        LeaseCommand::Cancel { lease } => {
            let renter = ctx.signer()?;
            let state = ctx.client.lease(&pubkey(&lease, "lease")?).await?;
            if state.renter != renter.pubkey() {
                bail!(
                    "only the renter can cancel lease {lease}: its renter is {}, you are {}",
                    state.renter,
                    renter.pubkey()
                );
            }
            ending(ctx, &renter, &lease, "lease cancelled", |keys| {
                keys.cancel()
            })
            .await
        }
        LeaseCommand::Close { lease } => {
            let signer = ctx.signer()?;
            ending(ctx, &signer, &lease, "lease closed", |keys| keys.close()).await
        }
        LeaseCommand::Expire { lease } => {
            let signer = ctx.signer()?;
            ending(ctx, &signer, &lease, "lease expired and refunded", |keys| {
                keys.expire()
            })
            .await
        }
        LeaseCommand::Logs { .. } | LeaseCommand::Forward { .. } => {
            unreachable!("main runs the lease commands that print as the job runs")
        }
        LeaseCommand::Show { lease } => {
            let address = pubkey(&lease, "lease")?;
            let lease = ctx.client.lease(&address).await?;
            let mint = ctx.client.payment_mint(&lease.mint).await?;
            let now = now();
            let mut json = views::lease_json(&address, &lease, &mint);
            let mut human = views::lease_human(&address, &lease, &mint, now);
            if let Some(scheduler) = &ctx.scheduler {
                let view = RenterApi::new(scheduler)
                    .lease(&ctx.signer()?, &address.to_string())
                    .await?;
                json["job"] = view["job"].clone();
                json["dispatch"] = view["dispatch"].clone();
                if let Human::Fields(rows) = &mut human {
                    rows.push(("Job".into(), views::job_phase(&view["job"])));
                }
            }
            Ok(Output { json, human })
        }
        LeaseCommand::List {
            mine: _,
            node,
            renter,
        } => {
            let listing_mine = node.is_none() && renter.is_none();
            let leases = match (node, renter) {
                (Some(node), _) => {
                    let (address, _) = ctx.client.resolve_node(&pubkey(&node, "node")?).await?;
                    ctx.client.leases(LeaseRole::Node, &address).await?
                }
                (None, Some(renter)) => {
                    ctx.client
                        .leases(LeaseRole::Renter, &pubkey(&renter, "renter")?)
                        .await?
                }
                (None, None) => {
                    let me = ctx.signer()?.pubkey();
                    ctx.client.leases(LeaseRole::Renter, &me).await?
                }
            };
            // The jobs' phases, from the scheduler, for your own leases.
            let jobs: std::collections::HashMap<String, Value> = match &ctx.scheduler {
                Some(scheduler) if listing_mine => RenterApi::new(scheduler)
                    .leases(&ctx.signer()?)
                    .await?
                    .into_iter()
                    .filter_map(|v| Some((v["lease"].as_str()?.to_string(), v["job"].clone())))
                    .collect(),
                _ => Default::default(),
            };
            let mut json = Vec::new();
            let mut table = Table::new(
                vec![
                    "LEASE",
                    "STATUS",
                    "NODE",
                    "GPUS",
                    "DURATION",
                    "DEPOSITED",
                    "PAID OUT",
                    "JOB",
                ],
                "no leases",
            );
            for (address, lease) in &leases {
                let mint = ctx.client.payment_mint(&lease.mint).await?;
                let mut view = views::lease_json(address, lease, &mint);
                let job = jobs.get(&address.to_string());
                if let Some(job) = job {
                    view["job"] = job.clone();
                }
                json.push(view);
                table.row(vec![
                    address.to_string(),
                    views::lease_status(lease.status).to_string(),
                    short(&lease.node),
                    lease.gpus.to_string(),
                    format_duration(lease.duration_secs.into()),
                    token_amount(lease.deposited, &mint),
                    token_amount(lease.paid_out, &mint),
                    job.map(views::job_phase).unwrap_or_else(|| "-".into()),
                ]);
            }
            Ok(Output {
                json: Value::Array(json),
                human: Human::Table(table),
            })
        }
    }
}

/// Sends the ending `build` makes, after creating the payees' token accounts
/// that do not exist yet, and reports the refund: what reached the payer's
/// token account, and what the program kept in its credit because that
/// account could not take it.
async fn ending(
    ctx: &Context,
    signer: &solana_keypair::Keypair,
    lease: &str,
    what: &str,
    build: impl FnOnce(&ix::LeaseKeys) -> Instruction,
) -> Result<Output> {
    let lease = pubkey(lease, "lease")?;
    let (keys, state) = ctx.client.lease_keys(&lease).await?;
    let mint = ctx.client.payment_mint(&state.mint).await?;
    let refund_account = keys.mint.ata(&keys.payer);
    let credit = keys.payer_credit();
    let kept = |credit: Option<Credit>| credit.map_or(0, |c| c.amount);
    let before = (
        ctx.client.token_balance(&refund_account).await?,
        kept(ctx.client.fetch::<Credit>(&credit).await?),
    );
    let mut instructions = ctx
        .client
        .create_missing_token_accounts(&signer.pubkey(), &keys.mint, &keys.ending_payees())
        .await?;
    instructions.push(build(&keys));
    let signature = ctx.client.send(&instructions, signer, &[]).await?;
    let after = (
        ctx.client.token_balance(&refund_account).await?,
        kept(ctx.client.fetch::<Credit>(&credit).await?),
    );
    let refunded = after.0.saturating_sub(before.0);
    let kept = after.1.saturating_sub(before.1);
    let mut human = vec![("Refunded", token_amount(refunded + kept, &mint))];
    if kept > 0 {
        human.push((
            "Kept for the payer",
            format!(
                "{} (its token account cannot receive: `iomesh credit withdraw`)",
                token_amount(kept, &mint)
            ),
        ));
    }
    Ok(sent(
        what,
        signature,
        json!({
            "lease": lease.to_string(),
            "was": views::lease_status(state.status),
            "refunded": refunded + kept,
            "refund_kept_in_credit": kept,
            "payer": keys.payer.to_string(),
        }),
        human,
    ))
}

/// Milliseconds since the Unix epoch: unique per renter unless two leases are
/// created in the same millisecond.
fn default_nonce() -> u64 {
    u64::try_from(iomesh_client::clock::unix_now_ms()).unwrap_or_default()
}
