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
/// `["cluster", renter, nonce_le_bytes]`: leases that start together.
pub const CLUSTER: &[u8] = b"cluster";
