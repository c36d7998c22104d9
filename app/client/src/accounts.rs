//! The program's accounts: decoding (Anchor discriminator checked) and the
//! byte offsets the getProgramAccounts filters match on.

use crate::error::{Error, Result};
use anchor_lang::{prelude::Pubkey, AccountDeserialize, Discriminator};
use iomesh::state::{
    AccountSpace, Cluster, Credit, IosdConfig, Lease, Market, Node, PaymentMint, RewardEpoch,
};

/// An account type of the program, with a human name for errors. Its size
/// (`AccountSpace::SPACE`) is the program's own; for a reward epoch it is the
/// header only, as the claim bitmap follows it (`epoch_bitmap`).
pub trait ProgramAccount: AccountDeserialize + Discriminator + AccountSpace {
    const WHAT: &'static str;
}

macro_rules! program_accounts {
    ($($account:ty => $what:literal),* $(,)?) => {
        $(impl ProgramAccount for $account {
            const WHAT: &'static str = $what;
        })*
    };
}

program_accounts! {
    Market => "iomesh market",
    PaymentMint => "iomesh payment mint",
    Node => "iomesh node",
    Lease => "iomesh lease",
    Cluster => "iomesh cluster",
    Credit => "iomesh credit",
    IosdConfig => "iomesh IOSD config",
    RewardEpoch => "iomesh reward epoch",
}

/// The claim bitmap of an epoch account: the bytes after its header, one bit per leaf.
pub fn epoch_bitmap<'a>(address: &Pubkey, epoch: &RewardEpoch, data: &'a [u8]) -> Result<&'a [u8]> {
    let len = RewardEpoch::bitmap_len(epoch.num_leaves);
    data.get(RewardEpoch::SPACE..RewardEpoch::SPACE + len)
        .ok_or_else(|| Error::Decode {
            address: *address,
            what: RewardEpoch::WHAT,
            detail: format!(
                "its claim bitmap is incomplete: {} bytes for {} leaves (the epoch is still being grown)",
                data.len().saturating_sub(RewardEpoch::SPACE),
                epoch.num_leaves
            ),
        })
}

/// Decodes `data` (owned by `owner`) as `T`, checking owner and discriminator.
pub fn decode<T: ProgramAccount>(address: &Pubkey, owner: &Pubkey, data: &[u8]) -> Result<T> {
    let fail = |detail: String| Error::Decode {
        address: *address,
        what: T::WHAT,
        detail,
    };
    if *owner != iomesh::ID {
        return Err(fail(format!(
            "it is owned by {owner}, not the iomesh program"
        )));
    }
    if !data.starts_with(T::DISCRIMINATOR) {
        return Err(fail("its discriminator is of another account type".into()));
    }
    T::try_deserialize(&mut &data[..]).map_err(|err| fail(err.to_string()))
}

/// Byte offsets of fields the search filters match (Borsh layout after the
/// 8-byte discriminator); checked against real serialisations by the tests.
pub mod offsets {
    /// `Node::status`.
    pub const NODE_STATUS: usize = 8 + 1 + 1;
    /// `Node::owner`.
    pub const NODE_OWNER: usize = NODE_STATUS + 1;
    /// `Node::gpu_model`.
    pub const NODE_GPU_MODEL: usize = NODE_OWNER + 32 + 32;
    /// `Node::region`.
    pub const NODE_REGION: usize = NODE_GPU_MODEL + iomesh::state::GPU_MODEL_LEN;
    /// `Lease::renter`.
    pub const LEASE_RENTER: usize = 8 + 1 + 1 + 1 + 2 + 2;
    /// `Lease::payer`.
    pub const LEASE_PAYER: usize = LEASE_RENTER + 32;
    /// `Lease::node`.
    pub const LEASE_NODE: usize = LEASE_PAYER + 32;
    /// `Credit::owner`.
    pub const CREDIT_OWNER: usize = 8 + 1 + 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_lang::AccountSerialize;
    use iomesh::state::*;

    fn node() -> Node {
        Node {
            status: NodeStatus::Paused,
            gpu_model: encode_text("H100").unwrap(),
            region: encode_text("eu-west").unwrap(),
            gpu_count: 8,
            vram_mib: 81_920,
            price_usd_micros_per_gpu_hour: 2_000_000,
            min_lease_secs: 60,
            max_lease_secs: 3_600,
            ..Node::new(Pubkey::new_unique(), Pubkey::new_unique(), 255, 0)
        }
    }

    #[test]
    fn node_offsets_match_the_serialised_layout() {
        let node = node();
        let mut data = Vec::new();
        node.try_serialize(&mut data).unwrap();
        assert_eq!(data.len(), Node::SPACE);
        assert_eq!(data[offsets::NODE_STATUS], 1, "Paused is variant 1");
        assert_eq!(&data[offsets::NODE_OWNER..][..32], node.owner.as_ref());
        assert_eq!(&data[offsets::NODE_GPU_MODEL..][..32], &node.gpu_model);
        assert_eq!(&data[offsets::NODE_REGION..][..16], &node.region);
        let decoded: Node = decode(&Pubkey::new_unique(), &iomesh::ID, &data).unwrap();
        assert_eq!(decoded.owner, node.owner);
    }

    #[test]
    fn credit_owner_offset_matches_the_serialised_layout() {
        let credit = Credit {
            version: 1,
            bump: 254,
            owner: Pubkey::new_unique(),
            vault: Pubkey::new_unique(),
            amount: 7,
            rent_payer: Pubkey::new_unique(),
            reserved: [0; 8],
        };
        let mut data = Vec::new();
        credit.try_serialize(&mut data).unwrap();
        assert_eq!(data.len(), Credit::SPACE);
        assert_eq!(&data[offsets::CREDIT_OWNER..][..32], credit.owner.as_ref());
    }

    #[test]
    fn lease_offsets_match_the_serialised_layout() {
        let lease = Lease {
            version: 1,
            bump: 1,
            status: LeaseStatus::Pending,
            fee_bps: 25,
            gpus: 2,
            renter: Pubkey::new_unique(),
            payer: Pubkey::new_unique(),
            node: Pubkey::new_unique(),
            mint: Pubkey::new_unique(),
            nonce: 7,
            rate_per_gpu_hour: 1,
            deposited: 1,
            paid_out: 0,
            created_at: 0,
            activated_at: 0,
            settled_until: 0,
            duration_secs: 60,
            job_spec_hash: [1; 32],
            in_cluster: false,
            cluster_nonce: 0,
            cluster_funding_deadline: 0,
            reserved: [0; 132],
        };
        let mut data = Vec::new();
        lease.try_serialize(&mut data).unwrap();
        assert_eq!(&data[offsets::LEASE_RENTER..][..32], lease.renter.as_ref());
        assert_eq!(&data[offsets::LEASE_PAYER..][..32], lease.payer.as_ref());
        assert_eq!(&data[offsets::LEASE_NODE..][..32], lease.node.as_ref());
    }

    #[test]
    fn decoding_refuses_foreign_owner_and_wrong_type() {
        let mut data = Vec::new();
        node().try_serialize(&mut data).unwrap();
        let address = Pubkey::new_unique();
        let foreign = decode::<Node>(&address, &Pubkey::new_unique(), &data).unwrap_err();
        assert!(
            foreign.to_string().contains("not the iomesh program"),
            "{foreign}"
        );
        let wrong = decode::<Lease>(&address, &iomesh::ID, &data).unwrap_err();
        assert!(wrong.to_string().contains("discriminator"), "{wrong}");
    }
}
