//! `iomesh gpus search`: available GPUs, read from the chain with getProgramAccounts.

use crate::{
    args::GpusCommand,
    context::Context,
    output::{Human, Output},
    views,
};
use anyhow::{anyhow, Result};
use iomesh_client::{query::NodeQuery, units};
use serde_json::Value;

pub async fn run(ctx: &Context, command: GpusCommand) -> Result<Output> {
    let GpusCommand::Search {
        gpu_model,
        min_vram,
        region,
        max_price,
        min_free_gpus,
    } = command;
    let query = NodeQuery {
        gpu_model,
        region,
        min_vram_mib: min_vram
            .map(|gib| {
                gib.checked_mul(1_024)
                    .ok_or_else(|| anyhow!("--min-vram {gib} GiB is too large"))
            })
            .transpose()?,
        max_price_usd_micros: max_price
            .as_deref()
            .map(|p| units::parse_usd(p).map_err(|e| anyhow!("--max-price: {e}")))
            .transpose()?,
        min_free_gpus,
        include_paused: false,
        owner: None,
    };
    query.validate().map_err(|e| anyhow!(e))?;
    let nodes = ctx.client.search_nodes(&query).await?;
    Ok(Output {
        json: Value::Array(nodes.iter().map(|(a, n)| views::node_json(a, n)).collect()),
        human: Human::Table(views::nodes_table(&nodes, "no GPUs match")),
    })
}
