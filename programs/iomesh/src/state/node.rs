use crate::error::IomeshError;
use anchor_lang::prelude::*;

/// Most GPUs one node may list.
pub const MAX_GPUS_PER_NODE: u16 = 1_024;
pub const GPU_MODEL_LEN: usize = 32;
pub const REGION_LEN: usize = 16;

#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeStatus {
    /// Accepts new leases.
    Available,
    /// Set by the owner: running leases continue, new ones are refused.
    Paused,
}

/// One GPU machine (`["node", operator]`).
#[account]
#[derive(InitSpace, Debug)]
pub struct Node {
    pub version: u8,
    pub bump: u8,
    pub status: NodeStatus,
    /// Cold wallet: receives payouts (its associated token accounts) and controls the config.
    pub owner: Pubkey,
    /// Hot key on the GPU machine: activates leases. Part of the address, so fixed.
    pub operator: Pubkey,
    /// GPU model, ASCII, zero padded (e.g. "RTX 4090", "H100 SXM").
    pub gpu_model: [u8; GPU_MODEL_LEN],
    /// Region, ASCII, zero padded (e.g. "us-east", "eu-west").
    pub region: [u8; REGION_LEN],
    pub gpu_count: u16,
    /// GPUs reserved by pending and active leases.
    pub gpus_in_use: u16,
    /// VRAM per GPU in MiB.
    pub vram_mib: u32,
    /// Price of one GPU-hour in micro-USD.
    pub price_usd_micros_per_gpu_hour: u64,
    /// Shortest lease the owner accepts, in seconds.
    pub min_lease_secs: u32,
    /// Longest prepaid horizon the owner accepts, in seconds.
    pub max_lease_secs: u32,
    /// Pending and active leases on this node.
    pub open_leases: u32,
    /// Leases that ran to their end.
    pub leases_served: u64,
    /// Failures reported by the scheduler.
    pub failures: u64,
    /// GPU-seconds paid out to this node.
    pub gpu_seconds_delivered: u64,
    /// Unix time (seconds) of registration.
    pub registered_at: i64,
    /// IO base units staked and counting towards the requirement.
    pub staked: u64,
    /// IO base units in unstake cooldown: no longer counted, still slashable.
    pub unstaking: u64,
    /// Unix time (seconds) from which `unstaking` can be withdrawn; 0 when nothing is unstaking.
    pub unstake_ready_at: i64,
    /// Slashes taken from this node and not yet reversed or finalized.
    pub slashes_pending: u16,
    /// Slashes ever taken from this node (the next slash's index).
    pub slash_count: u32,
    pub reserved: [u8; 34],
}

impl Node {
    /// A node as `register_node` first writes it: available, nothing listed
    /// yet (its `NodeSpec` is applied next), every counter at zero.
    pub fn new(owner: Pubkey, operator: Pubkey, bump: u8, registered_at: i64) -> Self {
        Node {
            version: super::ACCOUNT_VERSION,
            bump,
            status: NodeStatus::Available,
            owner,
            operator,
            gpu_model: [0; GPU_MODEL_LEN],
            region: [0; REGION_LEN],
            gpu_count: 0,
            gpus_in_use: 0,
            vram_mib: 0,
            price_usd_micros_per_gpu_hour: 0,
            min_lease_secs: 0,
            max_lease_secs: 0,
            open_leases: 0,
            leases_served: 0,
            failures: 0,
            gpu_seconds_delivered: 0,
            registered_at,
            staked: 0,
            unstaking: 0,
            unstake_ready_at: 0,
            slashes_pending: 0,
            slash_count: 0,
            reserved: [0; 34],
        }
    }

    /// IO base units this node must have staked: `stake_per_gpu × gpu_count`.
    pub fn required_stake(&self, stake_per_gpu: u64) -> Result<u64> {
        use crate::math::SafeMath;
        stake_per_gpu.safe_mul(u64::from(self.gpu_count))
    }

    /// Whether the active stake meets the market's requirement (for leases and rewards).
    pub fn meets_stake(&self, stake_per_gpu: u64) -> Result<bool> {
        Ok(self.staked >= self.required_stake(stake_per_gpu)?)
    }

    pub fn free_gpus(&self) -> u16 {
        self.gpu_count.saturating_sub(self.gpus_in_use)
    }

    /// Reserves GPUs for a new lease, refusing overbooking.
    pub fn reserve(&mut self, gpus: u16) -> Result<()> {
        require!(
            gpus > 0 && gpus <= self.free_gpus(),
            IomeshError::Overbooked
        );
        self.gpus_in_use += gpus;
        self.open_leases = self
            .open_leases
            .checked_add(1)
            .ok_or(IomeshError::MathOverflow)?;
        Ok(())
    }

    /// Releases the GPUs of a lease that has ended.
    pub fn release(&mut self, gpus: u16) -> Result<()> {
        self.gpus_in_use = self
            .gpus_in_use
            .checked_sub(gpus)
            .ok_or(IomeshError::NodeReleasesMoreThanHeld)?;
        self.open_leases = self
            .open_leases
            .checked_sub(1)
            .ok_or(IomeshError::NodeReleasesMoreThanHeld)?;
        Ok(())
    }

    pub fn invariant(&self) -> Result<()> {
        require_current_version!(self.version);
        require!(
            self.gpu_count > 0 && self.gpu_count <= MAX_GPUS_PER_NODE,
            IomeshError::InvalidGpuCount
        );
        require!(
            self.gpus_in_use <= self.gpu_count,
            IomeshError::NodeGpusOverCapacity
        );
        // Every open lease holds at least one GPU, and GPUs are only held by open leases.
        require!(
            (self.open_leases == 0) == (self.gpus_in_use == 0)
                && u32::from(self.gpus_in_use) >= self.open_leases,
            IomeshError::NodeOpenLeasesInconsistent
        );
        require!(
            (self.unstaking == 0) == (self.unstake_ready_at == 0)
                && u32::from(self.slashes_pending) <= self.slash_count,
            IomeshError::NodeStakeStateInconsistent
        );
        require!(
            self.price_usd_micros_per_gpu_hour > 0,
            IomeshError::ZeroPrice
        );
        require!(
            self.min_lease_secs > 0 && self.min_lease_secs <= self.max_lease_secs,
            IomeshError::InvalidNodeLeaseBounds
        );
        Ok(())
    }
}
