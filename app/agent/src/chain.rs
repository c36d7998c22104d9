//! What the agent asks the chain: is an assigned lease really this node's,
//! pending, for this many GPUs and this exact job spec; the activation,
//! signed by the operator key; and when a running lease ends.

use anchor_lang::{prelude::Pubkey, solana_program::instruction::AccountMeta};
use iomesh_agent_proto::{job_spec_hash, v1::Assignment, JobSpec, JobSpecError};
use iomesh_client::{
    client::Signature,
    instructions,
    iomesh::{
        seeds,
        state::{Lease, LeaseStatus},
    },
    pda, Client,
};
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::sync::Arc;

/// Why the agent refuses an assignment; the text goes back to the scheduler.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("`{0}` is not a lease address (base58 pubkey expected)")]
    BadLeaseAddress(String),
    #[error("lease {0} does not exist on-chain (never created, or already closed)")]
    UnknownLease(Pubkey),
    #[error("lease {lease} belongs to node {lease_node}, not to this node {node}")]
    OtherNode {
        lease: Pubkey,
        lease_node: Pubkey,
        node: Pubkey,
    },
    #[error("lease {0} is not pending on-chain (it is already active)")]
    NotPending(Pubkey),
    #[error("the assignment asks for {assigned} GPUs but lease {lease} paid for {leased}")]
    GpuCount {
        lease: Pubkey,
        assigned: u32,
        leased: u16,
    },
    #[error("job spec hash mismatch: sha256 of the spec is {actual}, lease {lease} commits to {expected}")]
    HashMismatch {
        lease: Pubkey,
        expected: String,
        actual: String,
    },
    #[error("job spec refused: {0}")]
    BadSpec(#[from] JobSpecError),
    #[error("cannot read the lease on-chain: {0}")]
    Rpc(#[from] iomesh_client::Error),
}

/// A lease that passed every check, with its parsed spec.
pub struct CheckedLease {
    pub address: Pubkey,
    pub lease: Lease,
    pub spec: JobSpec,
}

pub struct Chain {
    client: Client,
    operator: Arc<Keypair>,
    node: Pubkey,
}

impl Chain {
    pub fn new(client: Client, operator: Arc<Keypair>) -> Self {
        let node = pda::node(&operator.pubkey());
        Self {
            client,
            operator,
            node,
        }
    }

    /// This node's address (`["node", operator]`).
    pub fn node(&self) -> Pubkey {
        self.node
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Checks `assignment` against the lease on-chain.
    pub async fn check(&self, assignment: &Assignment) -> Result<CheckedLease, Refusal> {
        let address: Pubkey = assignment
            .lease
            .parse()
            .map_err(|_| Refusal::BadLeaseAddress(assignment.lease.clone()))?;
        let lease = match self.client.lease(&address).await {
            Ok(lease) => lease,
            Err(iomesh_client::Error::UnknownLease(_)) => {
                return Err(Refusal::UnknownLease(address))
            }
            Err(err) => return Err(err.into()),
        };
        if lease.node != self.node {
            return Err(Refusal::OtherNode {
                lease: address,
                lease_node: lease.node,
                node: self.node,
            });
        }
        if lease.status != LeaseStatus::Pending {
            return Err(Refusal::NotPending(address));
        }
        if assignment.gpu_count != u32::from(lease.gpus) {
            return Err(Refusal::GpuCount {
                lease: address,
                assigned: assignment.gpu_count,
                leased: lease.gpus,
            });
        }
        let actual = job_spec_hash(&assignment.job_spec);
        if actual != lease.job_spec_hash {
            return Err(Refusal::HashMismatch {
                lease: address,
                expected: hex(&lease.job_spec_hash),
                actual: hex(&actual),
            });
        }
        let spec = JobSpec::parse(&assignment.job_spec)?;
        Ok(CheckedLease {
            address,
            lease,
            spec,
        })
    }

    /// Sends `activate_lease` signed (and paid) by the operator key; returns
    /// its signature and the lease end (activated_at + duration), Unix seconds.
    pub async fn activate(
        &self,
        checked: &CheckedLease,
    ) -> Result<(Signature, i64), iomesh_client::Error> {
        let mut instruction =
            instructions::activate_lease(&self.operator.pubkey(), &checked.address);
        if checked.lease.in_cluster {
            // The builder leaves the optional cluster account out (Anchor's
            // "none" is the program id); a cluster lease must name it.
            let cluster = Pubkey::find_program_address(
                &[
                    seeds::CLUSTER,
                    checked.lease.renter.as_ref(),
                    &checked.lease.cluster_nonce.to_le_bytes(),
                ],
                &iomesh_client::iomesh::ID,
            )
            .0;
            instruction.accounts[3] = AccountMeta::new_readonly(cluster, false);
        }
        let signature = self
            .client
            .send(&[instruction], &self.operator, &[])
            .await?;
        let lease = self.client.lease(&checked.address).await?;
        let ends_at = lease
            .activated_at
            .saturating_add(i64::from(lease.duration_secs));
        Ok((signature, ends_at))
    }

    /// When the lease at `address` stops billing: `None` once it is closed
    /// (cancelled, failed, ended and closed), else activated_at + duration
    /// (which grows when the renter extends it).
    pub async fn lease_end(&self, address: &Pubkey) -> Result<Option<i64>, iomesh_client::Error> {
        match self.client.fetch::<Lease>(address).await? {
            None => Ok(None),
            Some(lease) if lease.status == LeaseStatus::Active => Ok(Some(
                lease
                    .activated_at
                    .saturating_add(i64::from(lease.duration_secs)),
            )),
            // Pending again cannot happen; treat it as "not ours to run".
            Some(_) => Ok(None),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
