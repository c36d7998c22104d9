//! PDA seeds of every account the program owns, in one place.

/// `["market"]`: the single market configuration.
pub const MARKET: &[u8] = b"market";
/// `["payment_mint", mint]`: how one accepted mint is priced and charged.
pub const PAYMENT_MINT: &[u8] = b"payment_mint";
/// `["vault", mint]`: the escrow token account of one mint (authority: the market PDA).
pub const VAULT: &[u8] = b"vault";
/// `["node", operator]`: one GPU machine, keyed by its operator (hot) key.
pub const NODE: &[u8] = b"node";
/// `["lease", renter, nonce_le_bytes]`: one lease.
pub const LEASE: &[u8] = b"lease";
/// `["stake_vault"]`: IO token account holding every node's stake and pending slashes.
pub const STAKE_VAULT: &[u8] = b"stake_vault";
/// `["rewards_reserve"]`: IO token account epochs are funded from.
pub const REWARDS_RESERVE: &[u8] = b"rewards_reserve";
/// `["rewards_escrow"]`: IO token account holding published, unclaimed epoch rewards.
pub const REWARDS_ESCROW: &[u8] = b"rewards_escrow";
/// `["epoch", epoch_le_bytes]`: one published reward epoch and its claim bitmap.
pub const EPOCH: &[u8] = b"epoch";
/// `["iosd"]`: IOSD burn-and-mint configuration and circuit breaker.
pub const IOSD: &[u8] = b"iosd";
/// `["iosd_mint_authority"]`: the IOSD mint's mint authority (signs only).
pub const IOSD_MINT_AUTHORITY: &[u8] = b"iosd_mint_authority";
/// `["slash", node, index_le_bytes]`: stake taken from a node, pending appeal.
pub const SLASH: &[u8] = b"slash";
/// `["cluster", renter, nonce_le_bytes]`: leases that start together.
pub const CLUSTER: &[u8] = b"cluster";
/// `["credit", vault, owner]`: tokens owed, out of `vault`, to a wallet whose account could not receive them.
pub const CREDIT: &[u8] = b"credit";
