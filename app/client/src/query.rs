//! The `gpus search` query: which nodes to show and in what order.

use crate::accounts::offsets;
use anchor_lang::prelude::Pubkey;
use iomesh::state::{decode_text, encode_text, Node, NodeStatus, GPU_MODEL_LEN, REGION_LEN};
use solana_client::rpc_filter::{Memcmp, RpcFilterType};

/// Filters of a GPU search. Empty fields match everything.
#[derive(Clone, Debug, Default)]
pub struct NodeQuery {
    /// Exact GPU model, e.g. "RTX 4090" (case-insensitive).
    pub gpu_model: Option<String>,
    /// Exact region, e.g. "eu-west" (case-insensitive).
    pub region: Option<String>,
    /// Least VRAM per GPU, in MiB.
    pub min_vram_mib: Option<u32>,
    /// Highest price per GPU-hour, in micro-USD.
    pub max_price_usd_micros: Option<u64>,
    /// Least free GPUs.
    pub min_free_gpus: Option<u16>,
    /// Also show paused nodes (they refuse new leases).
    pub include_paused: bool,
    /// Only nodes of this owner.
    pub owner: Option<Pubkey>,
}

impl NodeQuery {
    /// Filters the RPC server can apply: status and owner, which are exact bytes.
    /// Text fields are matched here, case-insensitively.
    pub fn rpc_filters(&self) -> Vec<RpcFilterType> {
        let mut filters = Vec::new();
        if !self.include_paused {
            filters.push(RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
                offsets::NODE_STATUS,
                vec![NodeStatus::Available as u8],
            )));
        }
        if let Some(owner) = self.owner {
            filters.push(RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
                offsets::NODE_OWNER,
                owner.to_bytes().to_vec(),
            )));
        }
        filters
    }

    pub fn matches(&self, node: &Node) -> bool {
        let text_matches = |want: &Option<String>, have: &[u8]| {
            want.as_ref()
                .is_none_or(|want| want.eq_ignore_ascii_case(decode_text(have)))
        };
        (self.include_paused || node.status == NodeStatus::Available)
            && self.owner.is_none_or(|owner| node.owner == owner)
            && text_matches(&self.gpu_model, &node.gpu_model)
            && text_matches(&self.region, &node.region)
            && self.min_vram_mib.is_none_or(|v| node.vram_mib >= v)
            && self
                .max_price_usd_micros
                .is_none_or(|p| node.price_usd_micros_per_gpu_hour <= p)
            && node.free_gpus() >= self.min_free_gpus.unwrap_or(1).max(1)
    }

    /// The matching nodes, cheapest first (then most free GPUs, then address).
    pub fn select(&self, nodes: Vec<(Pubkey, Node)>) -> Vec<(Pubkey, Node)> {
        let mut selected: Vec<_> = nodes.into_iter().filter(|(_, n)| self.matches(n)).collect();
        selected.sort_by(|(a_key, a), (b_key, b)| {
            a.price_usd_micros_per_gpu_hour
                .cmp(&b.price_usd_micros_per_gpu_hour)
                .then(b.free_gpus().cmp(&a.free_gpus()))
                .then(a_key.cmp(b_key))
        });
        selected
    }

    /// Refuses text that could never match a node (too long or not ASCII).
    pub fn validate(&self) -> Result<(), String> {
        if let Some(model) = &self.gpu_model {
            encode_text::<GPU_MODEL_LEN>(model)
                .map_err(|_| format!("GPU model `{model}` is not 1..=32 printable ASCII bytes"))?;
        }
        if let Some(region) = &self.region {
            encode_text::<REGION_LEN>(region)
                .map_err(|_| format!("region `{region}` is not 1..=16 printable ASCII bytes"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(model: &str, region: &str, vram: u32, price: u64, count: u16, used: u16) -> Node {
        Node {
            gpu_model: encode_text(model).unwrap(),
            region: encode_text(region).unwrap(),
            gpu_count: count,
            gpus_in_use: used,
            vram_mib: vram,
            price_usd_micros_per_gpu_hour: price,
            min_lease_secs: 60,
            max_lease_secs: 3_600,
            open_leases: u32::from(used > 0),
            ..Node::new(Pubkey::new_unique(), Pubkey::new_unique(), 1, 0)
        }
    }

    #[test]
    fn filters_and_sorts_by_price() {
        let nodes = vec![
            (
                Pubkey::new_unique(),
                node("H100", "us-east", 81_920, 3_000_000, 8, 0),
            ),
            (
                Pubkey::new_unique(),
                node("RTX 4090", "eu-west", 24_576, 2_000_000, 4, 0),
            ),
            (
                Pubkey::new_unique(),
                node("RTX 4090", "eu-west", 24_576, 1_500_000, 2, 2),
            ),
            (
                Pubkey::new_unique(),
                node("RTX 4090", "us-east", 24_576, 1_000_000, 2, 0),
            ),
        ];
        let all = NodeQuery::default().select(nodes.clone());
        let prices: Vec<u64> = all
            .iter()
            .map(|(_, n)| n.price_usd_micros_per_gpu_hour)
            .collect();
        assert_eq!(
            prices,
            [1_000_000, 2_000_000, 3_000_000],
            "full node left out"
        );

        let query = NodeQuery {
            gpu_model: Some("rtx 4090".into()),
            region: Some("EU-WEST".into()),
            ..NodeQuery::default()
        };
        let found = query.select(nodes.clone());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, nodes[1].0);

        let query = NodeQuery {
            min_vram_mib: Some(40_000),
            max_price_usd_micros: Some(2_500_000),
            ..NodeQuery::default()
        };
        assert!(query.select(nodes.clone()).is_empty());

        let query = NodeQuery {
            min_free_gpus: Some(3),
            ..NodeQuery::default()
        };
        assert_eq!(query.select(nodes).len(), 2);
    }
}
