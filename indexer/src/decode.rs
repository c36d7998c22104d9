//! Bytes → typed account, through the program crate's own account types (one
//! definition of every layout). Adding an account type of the program means one
//! variant here and one table in `tables.rs`.

use anchor_lang::{AccountDeserialize, Discriminator};
use iomesh::state::{
    AccountSpace, Cluster, Credit, IosdConfig, Lease, Market, Node, PaymentMint, PendingSlash,
    RewardEpoch,
};
use solana_pubkey::Pubkey;
use spl_token_2022_interface::{extension::StateWithExtensions, state::Account as TokenAccount};

/// An account of the program, or a vault, decoded.
#[derive(Debug)]
pub enum Decoded {
    Market(Box<Market>),
    PaymentMint(Box<PaymentMint>),
    Node(Box<Node>),
    Lease(Box<Lease>),
    Cluster(Box<Cluster>),
    PendingSlash(Box<PendingSlash>),
    /// The epoch and its claim bitmap (the bytes after the struct).
    RewardEpoch(Box<RewardEpoch>, Vec<u8>),
    IosdConfig(Box<IosdConfig>),
    Credit(Box<Credit>),
    Vault(Vault),
    /// Owned by the program but with a discriminator this build does not know
    /// (a newer program version), or owned by a program the indexer does not decode.
    Unknown,
    /// A known discriminator or a token account whose bytes do not parse.
    Undecodable(String),
}

/// The fields of an escrow vault (an SPL Token or Token-2022 account).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vault {
    pub mint: Pubkey,
    pub owner: Pubkey,
    pub amount: u64,
    pub token_program: Pubkey,
}

/// The table (and `accounts.kind`) each decoded type lands in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Market,
    PaymentMint,
    Node,
    Lease,
    Cluster,
    PendingSlash,
    RewardEpoch,
    IosdConfig,
    Credit,
    Vault,
    Unknown,
    Undecodable,
}

impl Kind {
    pub const TYPED: [Kind; 10] = [
        Kind::Market,
        Kind::PaymentMint,
        Kind::Node,
        Kind::Lease,
        Kind::Cluster,
        Kind::PendingSlash,
        Kind::RewardEpoch,
        Kind::IosdConfig,
        Kind::Credit,
        Kind::Vault,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Market => "market",
            Kind::PaymentMint => "payment_mint",
            Kind::Node => "node",
            Kind::Lease => "lease",
            Kind::Cluster => "cluster",
            Kind::PendingSlash => "pending_slash",
            Kind::RewardEpoch => "reward_epoch",
            Kind::IosdConfig => "iosd_config",
            Kind::Credit => "credit",
            Kind::Vault => "vault",
            Kind::Unknown => "unknown",
            Kind::Undecodable => "undecodable",
        }
    }

    pub fn parse(kind: &str) -> Option<Kind> {
        [Kind::Unknown, Kind::Undecodable]
            .into_iter()
            .chain(Kind::TYPED)
            .find(|k| k.as_str() == kind)
    }

    /// The typed table holding this kind, if any.
    pub fn table(self) -> Option<&'static str> {
        match self {
            Kind::Market => Some("markets"),
            Kind::PaymentMint => Some("payment_mints"),
            Kind::Node => Some("nodes"),
            Kind::Lease => Some("leases"),
            Kind::Cluster => Some("clusters"),
            Kind::PendingSlash => Some("pending_slashes"),
            Kind::RewardEpoch => Some("reward_epochs"),
            Kind::IosdConfig => Some("iosd_config"),
            Kind::Credit => Some("credits"),
            Kind::Vault => Some("vaults"),
            Kind::Unknown | Kind::Undecodable => None,
        }
    }
}

impl Decoded {
    pub fn kind(&self) -> Kind {
        match self {
            Decoded::Market(_) => Kind::Market,
            Decoded::PaymentMint(_) => Kind::PaymentMint,
            Decoded::Node(_) => Kind::Node,
            Decoded::Lease(_) => Kind::Lease,
            Decoded::Cluster(_) => Kind::Cluster,
            Decoded::PendingSlash(_) => Kind::PendingSlash,
            Decoded::RewardEpoch(..) => Kind::RewardEpoch,
            Decoded::IosdConfig(_) => Kind::IosdConfig,
            Decoded::Credit(_) => Kind::Credit,
            Decoded::Vault(_) => Kind::Vault,
            Decoded::Unknown => Kind::Unknown,
            Decoded::Undecodable(_) => Kind::Undecodable,
        }
    }
}

/// Decodes a live account. Never fails: what cannot be decoded is reported as
/// such and kept raw by the writer.
pub fn decode(program_id: &Pubkey, owner: &Pubkey, data: &[u8]) -> Decoded {
    if owner == program_id {
        decode_program_account(data)
    } else if *owner == spl_token_interface::ID || *owner == spl_token_2022_interface::ID {
        decode_vault(owner, data)
    } else {
        Decoded::Unknown
    }
}

fn decode_program_account(data: &[u8]) -> Decoded {
    let Some(discriminator) = data.get(..8) else {
        return Decoded::Undecodable(format!(
            "{} bytes is shorter than a discriminator",
            data.len()
        ));
    };
    fn typed<T: AccountDeserialize>(data: &[u8], name: &str) -> Result<Box<T>, String> {
        T::try_deserialize(&mut &data[..])
            .map(Box::new)
            .map_err(|err| format!("{name}: {err}"))
    }
    let decoded = if discriminator == Market::DISCRIMINATOR {
        typed(data, "Market").map(Decoded::Market)
    } else if discriminator == PaymentMint::DISCRIMINATOR {
        typed(data, "PaymentMint").map(Decoded::PaymentMint)
    } else if discriminator == Node::DISCRIMINATOR {
        typed(data, "Node").map(Decoded::Node)
    } else if discriminator == Lease::DISCRIMINATOR {
        typed(data, "Lease").map(Decoded::Lease)
    } else if discriminator == Cluster::DISCRIMINATOR {
        typed(data, "Cluster").map(Decoded::Cluster)
    } else if discriminator == PendingSlash::DISCRIMINATOR {
        typed(data, "PendingSlash").map(Decoded::PendingSlash)
    } else if discriminator == RewardEpoch::DISCRIMINATOR {
        // A large epoch is allocated in steps (`grow_epoch`): until it is fully
        // grown its bitmap is shorter than num_leaves / 8, which is a valid state.
        typed::<RewardEpoch>(data, "RewardEpoch").map(|epoch| {
            let bitmap = data.get(RewardEpoch::SPACE..).unwrap_or_default();
            let bitmap = &bitmap[..bitmap.len().min(RewardEpoch::bitmap_len(epoch.num_leaves))];
            Decoded::RewardEpoch(epoch, bitmap.to_vec())
        })
    } else if discriminator == IosdConfig::DISCRIMINATOR {
        typed(data, "IosdConfig").map(Decoded::IosdConfig)
    } else if discriminator == Credit::DISCRIMINATOR {
        typed(data, "Credit").map(Decoded::Credit)
    } else {
        Ok(Decoded::Unknown)
    };
    decoded.unwrap_or_else(Decoded::Undecodable)
}

fn decode_vault(token_program: &Pubkey, data: &[u8]) -> Decoded {
    match StateWithExtensions::<TokenAccount>::unpack(data) {
        Ok(account) => Decoded::Vault(Vault {
            mint: account.base.mint,
            owner: account.base.owner,
            amount: account.base.amount,
            token_program: *token_program,
        }),
        Err(err) => Decoded::Undecodable(format!("token account: {err}")),
    }
}
