//! `iomesh node …`: a supplier's GPU machines.

use super::{absent_signer, sent, signed_only};
use crate::{
    agent_gpus::{self, GpuListing},
    args::{NodeCommand, NodeSpecArgs},
    config::SignerArg,
    context::{duration_secs, pubkey, Context},
    output::{Human, Output},
    views,
};
use anchor_lang::prelude::Pubkey;
use anyhow::{anyhow, bail, Context as _, Result};
use iomesh_client::{
    client::Signature,
    error::Shortfall,
    offline::{Offline, OfflineSigning},
    TokenMint,
};
use iomesh_client::{
    instructions as ix,
    iomesh::{
        state::{decode_text, Market, Node, NodeStatus},
        NodeSpec,
    },
    pda,
    query::NodeQuery,
    units,
};
use serde_json::{json, Value};
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::path::Path;

pub async fn run(ctx: &Context, command: NodeCommand) -> Result<Output> {
    match command {
        NodeCommand::Register {
            operator,
            agent_gpus,
            spec,
            offline,
        } => {
            let gpus = agent_gpus.as_deref().map(gpus_from_agent).transpose()?;
            let owner = ctx.keypair.load_or_pubkey()?;
            let operator = match operator {
                Some(text) => SignerArg::load(Path::new(&text), "--operator")?,
                None => match &owner {
                    SignerArg::Keypair(keypair) => SignerArg::Keypair(keypair.insecure_clone()),
                    SignerArg::Pubkey(pubkey) => SignerArg::Pubkey(*pubkey),
                },
            };
            let signing = OfflineSigning {
                sign_only: offline.sign_only,
                blockhash: offline.blockhash,
                presigned: offline.signers,
            };
            let market = ctx.client.market().await?;
            let spec = new_spec(&spec, gpus.as_ref(), &market)?;
            let address = pda::node(&operator.pubkey());
            // Said back, as a list read from the agent is not on the command line.
            let listed = format!(
                "{} x {}, {} MiB each",
                spec.gpu_count, spec.gpu_model, spec.vram_mib
            );
            let instruction = ix::register_node(&owner.pubkey(), &operator.pubkey(), spec);
            let signature = if signing.is_offline() {
                let keys: Vec<&Keypair> = [&owner, &operator]
                    .into_iter()
                    .filter_map(SignerArg::keypair)
                    .collect();
                let offline = ctx
                    .client
                    .send_offline(&[instruction], &owner.pubkey(), &keys, &signing)
                    .await?;
                match offline {
                    Offline::Sent(signature) => signature,
                    Offline::SignedOnly(signed) => return Ok(signed_only(&signed)),
                }
            } else {
                let (owner_key, operator_key) = match (owner.keypair(), operator.keypair()) {
                    (Some(owner), Some(operator)) => (owner, operator),
                    (None, _) => bail!(absent_signer(&owner.pubkey(), "--keypair")),
                    (_, None) => bail!(absent_signer(&operator.pubkey(), "--operator")),
                };
                ctx.client
                    .send(&[instruction], owner_key, &[operator_key])
                    .await?
            };
            Ok(sent(
                "node registered",
                signature,
                json!({
                    "node": address.to_string(),
                    "owner": owner.pubkey().to_string(),
                    "operator": operator.pubkey().to_string(),
                }),
                vec![
                    ("Node", address.to_string()),
                    ("Operator", operator.pubkey().to_string()),
                    ("GPUs", listed),
                ],
            ))
        }
        NodeCommand::Update {
            node,
            agent_gpus,
            spec,
        } => {
            let gpus = agent_gpus.as_deref().map(gpus_from_agent).transpose()?;
            let owner = ctx.signer()?;
            let (address, current) = ctx.client.resolve_node(&pubkey(&node, "node")?).await?;
            let spec = updated_spec(&spec, gpus.as_ref(), &current)?;
            let instruction = ix::update_node(&owner.pubkey(), &address, spec);
            let signature = ctx.client.send(&[instruction], &owner, &[]).await?;
            Ok(sent(
                "node updated",
                signature,
                json!({ "node": address.to_string() }),
                vec![("Node", address.to_string())],
            ))
        }
        NodeCommand::Pause { node } => set_status(ctx, &node, NodeStatus::Paused).await,
        NodeCommand::Resume { node } => set_status(ctx, &node, NodeStatus::Available).await,
        NodeCommand::Retire { node } => {
            let owner = ctx.signer()?;
            let (address, _) = ctx.client.resolve_node(&pubkey(&node, "node")?).await?;
            let instruction = ix::retire_node(&owner.pubkey(), &address);
            let signature = ctx.client.send(&[instruction], &owner, &[]).await?;
            Ok(sent(
                "node retired",
                signature,
                json!({ "node": address.to_string() }),
                vec![("Node", address.to_string())],
            ))
        }
        NodeCommand::Show { node } => {
            let (address, node) = ctx.client.resolve_node(&pubkey(&node, "node")?).await?;
            Ok(Output {
                json: views::node_json(&address, &node),
                human: views::node_human(&address, &node),
            })
        }
        NodeCommand::Stake { node, amount } => {
            let owner = ctx.signer()?;
            let (address, _) = ctx.client.resolve_node(&pubkey(&node, "node")?).await?;
            let (io, decimals) = io_mint(ctx).await?;
            let amount = io_amount(&amount, decimals)?;
            ensure_io(ctx, &owner.pubkey(), &io, decimals, amount).await?;
            let instruction = ix::stake(&owner.pubkey(), &address, &io, amount);
            let signature = ctx.client.send(&[instruction], &owner, &[]).await?;
            stake_report(ctx, "IO staked", signature, &address, decimals).await
        }
        NodeCommand::Unstake { node, amount } => {
            let owner = ctx.signer()?;
            let (address, state) = ctx.client.resolve_node(&pubkey(&node, "node")?).await?;
            let (_, decimals) = io_mint(ctx).await?;
            let amount = io_amount(&amount, decimals)?;
            if amount > state.staked {
                bail!(
                    "--amount {} IO is more than the node's stake: {} IO staked",
                    units::format_amount(amount, decimals),
                    units::format_amount(state.staked, decimals)
                );
            }
            let instruction = ix::request_unstake(&owner.pubkey(), &address, amount);
            let signature = ctx.client.send(&[instruction], &owner, &[]).await?;
            stake_report(
                ctx,
                "unstake requested; withdraw it with `iomesh node withdraw-stake` after the cooldown",
                signature,
                &address,
                decimals,
            )
            .await
        }
        NodeCommand::WithdrawStake { node } => {
            let owner = ctx.signer()?;
            let (address, state) = ctx.client.resolve_node(&pubkey(&node, "node")?).await?;
            let (io, decimals) = io_mint(ctx).await?;
            if state.unstaking == 0 {
                bail!("node {address} has no IO unstaking: request it first with `iomesh node unstake`");
            }
            let instruction = ix::withdraw_stake(&owner.pubkey(), &address, &io);
            let signature = ctx
                .client
                .send(&[instruction], &owner, &[])
                .await
                .with_context(|| {
                    format!(
                        "withdrawing {} IO: its cooldown ends at {} (Unix seconds)",
                        units::format_amount(state.unstaking, decimals),
                        state.unstake_ready_at
                    )
                })?;
            stake_report(ctx, "unstaked IO withdrawn", signature, &address, decimals).await
        }
        NodeCommand::List { owner, all } => {
            let owner = match (owner, all) {
                (_, true) => None,
                (Some(owner), false) => Some(pubkey(&owner, "owner")?),
                (None, false) => Some(ctx.signer()?.pubkey()),
            };
            let query = NodeQuery {
                include_paused: true,
                min_free_gpus: Some(0),
                owner,
                ..NodeQuery::default()
            };
            let nodes = ctx.client.search_nodes(&query).await?;
            Ok(Output {
                json: Value::Array(nodes.iter().map(|(a, n)| views::node_json(a, n)).collect()),
                human: Human::Table(views::nodes_table(&nodes, "no nodes")),
            })
        }
    }
}

async fn set_status(ctx: &Context, node: &str, status: NodeStatus) -> Result<Output> {
    let owner = ctx.signer()?;
    let (address, _) = ctx.client.resolve_node(&pubkey(node, "node")?).await?;
    let instruction = ix::set_node_status(&owner.pubkey(), &address, status);
    let signature = ctx.client.send(&[instruction], &owner, &[]).await?;
    Ok(sent(
        match status {
            NodeStatus::Paused => "node paused: running leases continue, new ones are refused",
            NodeStatus::Available => "node resumed",
        },
        signature,
        json!({ "node": address.to_string(), "status": views::node_status(status) }),
        vec![("Node", address.to_string())],
    ))
}

fn vram_mib(spec: &NodeSpecArgs) -> Result<Option<u32>> {
    match (spec.vram_gib, spec.vram_mib) {
        (Some(gib), _) => gib
            .checked_mul(1_024)
            .map(Some)
            .ok_or_else(|| anyhow!("--vram-gib {gib} is too large")),
        (None, mib) => Ok(mib),
    }
}

fn price(spec: &NodeSpecArgs) -> Result<Option<u64>> {
    spec.price
        .as_deref()
        .map(|p| units::parse_usd(p).map_err(|e| anyhow!("--price: {e}")))
        .transpose()
}

/// The GPUs listed by `iomesh-agent gpus --json` in `path`, as one listing.
fn gpus_from_agent(path: &Path) -> Result<GpuListing> {
    let listing = agent_gpus::read_listing(path)?;
    if let Some(note) = listing.vram_note() {
        eprintln!("{note}");
    }
    Ok(listing)
}

/// The spec of a new node; GPU model, count and VRAM come from the agent's
/// list when given (clap refuses them alongside --agent-gpus).
fn new_spec(args: &NodeSpecArgs, gpus: Option<&GpuListing>, market: &Market) -> Result<NodeSpec> {
    let required = |name: &str| anyhow!("--{name} is required to register a node");
    let (gpu_model, gpu_count, vram_mib) = match gpus {
        Some(gpus) => (gpus.gpu_model.clone(), gpus.gpu_count, gpus.vram_mib),
        None => {
            let unless_agent = |name: &str| {
                anyhow!(
                    "--{name} is required to register a node, unless --agent-gpus lists the GPUs"
                )
            };
            let Some(vram_mib) = vram_mib(args)? else {
                return Err(unless_agent("vram-gib or --vram-mib"));
            };
            (
                args.gpu_model
                    .clone()
                    .ok_or_else(|| unless_agent("gpu-model"))?,
                args.gpus.ok_or_else(|| unless_agent("gpus"))?,
                vram_mib,
            )
        }
    };
    Ok(NodeSpec {
        gpu_model,
        gpu_count,
        vram_mib,
        region: args.region.clone().ok_or_else(|| required("region"))?,
        price_usd_micros_per_gpu_hour: price(args)?.ok_or_else(|| required("price"))?,
        min_lease_secs: match &args.min_lease {
            Some(d) => duration_secs(d, "min-lease")?,
            None => market.min_lease_secs,
        },
        max_lease_secs: match &args.max_lease {
            Some(d) => duration_secs(d, "max-lease")?,
            None => market.max_lease_secs,
        },
    })
}

/// The node's spec with the given flags (or the agent's GPU list) changed.
/// The program refuses a GPU count below the GPUs leased out.
fn updated_spec(args: &NodeSpecArgs, gpus: Option<&GpuListing>, node: &Node) -> Result<NodeSpec> {
    let (gpu_model, gpu_count, vram_mib) = match gpus {
        Some(gpus) => (gpus.gpu_model.clone(), gpus.gpu_count, gpus.vram_mib),
        None => (
            args.gpu_model
                .clone()
                .unwrap_or_else(|| decode_text(&node.gpu_model).to_string()),
            args.gpus.unwrap_or(node.gpu_count),
            vram_mib(args)?.unwrap_or(node.vram_mib),
        ),
    };
    Ok(NodeSpec {
        gpu_model,
        gpu_count,
        vram_mib,
        region: args
            .region
            .clone()
            .unwrap_or_else(|| decode_text(&node.region).to_string()),
        price_usd_micros_per_gpu_hour: price(args)?.unwrap_or(node.price_usd_micros_per_gpu_hour),
        min_lease_secs: match &args.min_lease {
            Some(d) => duration_secs(d, "min-lease")?,
            None => node.min_lease_secs,
        },
        max_lease_secs: match &args.max_lease {
            Some(d) => duration_secs(d, "max-lease")?,
            None => node.max_lease_secs,
        },
    })
}

/// The market's IO mint and its decimals.
async fn io_mint(ctx: &Context) -> Result<(TokenMint, u8)> {
    let io = ctx.client.io_mint().await?;
    Ok(ctx.client.token_mint(&io.mint).await?)
}

fn io_amount(text: &str, decimals: u8) -> Result<u64> {
    units::parse_positive_amount(text, decimals).map_err(|e| anyhow!("--amount: {e}"))
}

/// Refuses, before sending, a stake the owner's IO account cannot cover.
async fn ensure_io(
    ctx: &Context,
    owner: &Pubkey,
    io: &TokenMint,
    decimals: u8,
    needed: u64,
) -> Result<()> {
    let account = io.ata(owner);
    let held = ctx.client.token_balance(&account).await?;
    if held >= needed {
        return Ok(());
    }
    Err(
        iomesh_client::Error::InsufficientBalance(Box::new(Shortfall {
            account,
            symbol: "IO".into(),
            needed: units::format_amount(needed, decimals),
            held: units::format_amount(held, decimals),
            missing: units::format_amount(needed - held, decimals),
        }))
        .into(),
    )
}

/// The node's stake after a staking transaction.
async fn stake_report(
    ctx: &Context,
    what: &str,
    signature: Signature,
    address: &Pubkey,
    decimals: u8,
) -> Result<Output> {
    let (_, node) = ctx.client.resolve_node(address).await?;
    let market = ctx.client.market().await?;
    let required = node
        .required_stake(market.stake_per_gpu)
        .unwrap_or(u64::MAX);
    let io = |v: u64| format!("{} IO", units::format_amount(v, decimals));
    Ok(sent(
        what,
        signature,
        json!({
            "node": address.to_string(),
            "staked": node.staked,
            "unstaking": node.unstaking,
            "unstake_ready_at": (node.unstaking > 0).then_some(node.unstake_ready_at),
            "required_stake": required,
            "decimals": decimals,
        }),
        vec![
            ("Node", address.to_string()),
            ("Staked", io(node.staked)),
            ("Unstaking", io(node.unstaking)),
            ("Required", io(required)),
        ],
    ))
}
