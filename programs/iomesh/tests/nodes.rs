//! Node instructions: register_node, update_node, set_node_status and
//! retire_node — success paths and every way each must fail.

mod common;

use anchor_lang::prelude::Pubkey;
use common::*;
use iomesh::{
    accounts as acc,
    error::IomeshError,
    instruction as args,
    state::{decode_text, LeaseStatus, NodeStatus, MAX_GPUS_PER_NODE},
    NodeSpec,
};
use solana_keypair::Keypair;
use solana_signer::Signer;

type TxResult = std::result::Result<(), solana_transaction_error::TransactionError>;

fn spec() -> NodeSpec {
    TestEnv::node_spec(4, 2_000_000)
}

fn register_ix(owner: Pubkey, operator: Pubkey, spec: NodeSpec) -> Instruction {
    ix(
        acc::RegisterNode {
            market: market_pda(),
            node: node_pda(&operator),
            owner,
            operator,
            system_program: anchor_lang::system_program::ID,
        },
        args::RegisterNode { spec },
    )
}

/// Registers a node with `spec` under a fresh owner and operator, returning both keys.
async fn register(env: &mut TestEnv, spec: NodeSpec) -> (TxResult, Keypair, Keypair) {
    let owner = env.wallet().await;
    let operator = Keypair::new();
    let result = env
        .send(
            &[register_ix(owner.pubkey(), operator.pubkey(), spec)],
            &[&owner, &operator],
        )
        .await;
    (result, owner, operator)
}

/// Asserts registering `spec` fails with `expected` and creates no node.
async fn assert_register_refused(env: &mut TestEnv, spec: NodeSpec, expected: IomeshError) {
    let (result, _, operator) = register(env, spec).await;
    assert_error(result, expected);
    assert!(env
        .account_data(node_pda(&operator.pubkey()))
        .await
        .is_none());
}

fn update_ix(node: Pubkey, owner: Pubkey, spec: NodeSpec) -> Instruction {
    ix(
        acc::UpdateNode {
            market: market_pda(),
            node,
            owner,
        },
        args::UpdateNode { spec },
    )
}

async fn update(env: &mut TestEnv, node: &TestNode, signer: &Keypair, spec: NodeSpec) -> TxResult {
    env.send(&[update_ix(node.address, signer.pubkey(), spec)], &[signer])
        .await
}

async fn set_status(
    env: &mut TestEnv,
    node: &TestNode,
    signer: &Keypair,
    status: NodeStatus,
) -> TxResult {
    let ix = ix(
        acc::SetNodeStatus {
            node: node.address,
            owner: signer.pubkey(),
        },
        args::SetNodeStatus { status },
    );
    env.send(&[ix], &[signer]).await
}

async fn retire(env: &mut TestEnv, node: &TestNode, signer: &Keypair) -> TxResult {
    let ix = ix(
        acc::RetireNode {
            node: node.address,
            owner: signer.pubkey(),
        },
        args::RetireNode {},
    );
    env.send(&[ix], &[signer]).await
}

/// Callers name the mint (`LeaseRequest { mint, ..request(..) }`).
fn request<'a>(renter: &'a Keypair, node: &TestNode, nonce: u64, gpus: u16) -> LeaseRequest<'a> {
    let placeholder = TestMint {
        mint: Pubkey::default(),
        token_program: Pubkey::default(),
    };
    LeaseRequest::new(renter, node, placeholder, nonce).gpus(gpus)
}

async fn usdc_renter(env: &mut TestEnv) -> Keypair {
    let renter = env.wallet().await;
    let usdc = env.usdc;
    env.fund(&renter.pubkey(), usdc, 1_000 * TOKEN).await;
    renter
}

// ---------------------------------------------------------------- register_node

#[tokio::test]
async fn register_node_stores_spec_owner_and_operator() {
    let mut env = TestEnv::new().await;
    env.warp(500).await;
    let now = env.now().await;
    let spec = NodeSpec {
        gpu_model: "H100 SXM".into(),
        gpu_count: 8,
        vram_mib: 81_920,
        region: "us-east".into(),
        price_usd_micros_per_gpu_hour: 2_490_000,
        min_lease_secs: 300,
        max_lease_secs: 48 * HOUR,
    };
    let (result, owner, operator) = register(&mut env, spec).await;
    result.unwrap();
    let address = node_pda(&operator.pubkey());
    let node = env.node(address).await;
    assert_eq!(node.version, 1);
    assert_eq!(node.status, NodeStatus::Available);
    assert_eq!(node.owner, owner.pubkey());
    assert_eq!(node.operator, operator.pubkey());
    assert_eq!(decode_text(&node.gpu_model), "H100 SXM");
    assert_eq!(decode_text(&node.region), "us-east");
    assert_eq!(node.gpu_count, 8);
    assert_eq!(node.gpus_in_use, 0);
    assert_eq!(node.vram_mib, 81_920);
    assert_eq!(node.price_usd_micros_per_gpu_hour, 2_490_000);
    assert_eq!(node.min_lease_secs, 300);
    assert_eq!(node.max_lease_secs, 48 * HOUR);
    assert_eq!(node.open_leases, 0);
    assert_eq!(node.leases_served, 0);
    assert_eq!(node.failures, 0);
    assert_eq!(node.gpu_seconds_delivered, 0);
    assert_eq!(node.registered_at, now);
    // The owner paid the rent.
    let account = env
        .ctx
        .banks_client
        .get_account(address)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.owner, iomesh::ID);
    assert_eq!(
        env.lamports(owner.pubkey()).await,
        10_000_000_000 - account.lamports
    );
}

#[tokio::test]
async fn register_node_requires_owner_and_operator_signatures() {
    let mut env = TestEnv::new().await;
    let owner = env.wallet().await;
    let operator = Keypair::new();

    // Operator named but not signing: the owner cannot claim someone else's hot key.
    let mut ix = register_ix(owner.pubkey(), operator.pubkey(), spec());
    ix.accounts[3].is_signer = false;
    assert_error(
        env.send(&[ix], &[&owner]).await,
        anchor_lang::error::ErrorCode::AccountNotSigner,
    );
    // Owner named but not signing (the fixture payer funds the transaction).
    let mut ix = register_ix(owner.pubkey(), operator.pubkey(), spec());
    ix.accounts[2].is_signer = false;
    assert_error(
        env.send(&[ix], &[&operator]).await,
        anchor_lang::error::ErrorCode::AccountNotSigner,
    );
    assert!(env
        .account_data(node_pda(&operator.pubkey()))
        .await
        .is_none());

    env.send(
        &[register_ix(owner.pubkey(), operator.pubkey(), spec())],
        &[&owner, &operator],
    )
    .await
    .unwrap();
    assert_eq!(
        env.node(node_pda(&operator.pubkey())).await.owner,
        owner.pubkey()
    );
}

#[tokio::test]
async fn register_node_refuses_bad_text() {
    let mut env = TestEnv::new().await;
    let bad_models = [
        String::new(),
        "x".repeat(33),
        "RTX\t4090".into(),
        "RTX 4090\u{2122}".into(),
    ];
    for gpu_model in bad_models {
        let spec = NodeSpec {
            gpu_model,
            ..spec()
        };
        assert_register_refused(&mut env, spec, IomeshError::InvalidText).await;
    }
    for region in [String::new(), "r".repeat(17), "eu-w\u{e9}st".into()] {
        let spec = NodeSpec { region, ..spec() };
        assert_register_refused(&mut env, spec, IomeshError::InvalidText).await;
    }
    // The longest texts that fit are accepted.
    let spec = NodeSpec {
        gpu_model: "m".repeat(32),
        region: "r".repeat(16),
        ..spec()
    };
    let (result, _, operator) = register(&mut env, spec).await;
    result.unwrap();
    let node = env.node(node_pda(&operator.pubkey())).await;
    assert_eq!(decode_text(&node.gpu_model), "m".repeat(32));
    assert_eq!(decode_text(&node.region), "r".repeat(16));
}

#[tokio::test]
async fn register_node_refuses_zero_gpus() {
    let mut env = TestEnv::new().await;
    let spec = NodeSpec {
        gpu_count: 0,
        ..spec()
    };
    assert_register_refused(&mut env, spec, IomeshError::InvalidGpuCount).await;
}

#[tokio::test]
async fn register_node_refuses_more_than_1024_gpus() {
    let mut env = TestEnv::new().await;
    for gpu_count in [MAX_GPUS_PER_NODE + 1, u16::MAX] {
        let spec = NodeSpec {
            gpu_count,
            ..spec()
        };
        assert_register_refused(&mut env, spec, IomeshError::InvalidGpuCount).await;
    }
    let spec = NodeSpec {
        gpu_count: MAX_GPUS_PER_NODE,
        ..spec()
    };
    let (result, _, operator) = register(&mut env, spec).await;
    result.unwrap();
    assert_eq!(
        env.node(node_pda(&operator.pubkey())).await.gpu_count,
        1_024
    );
}

#[tokio::test]
async fn register_node_refuses_zero_vram() {
    let mut env = TestEnv::new().await;
    let spec = NodeSpec {
        vram_mib: 0,
        ..spec()
    };
    assert_register_refused(&mut env, spec, IomeshError::InvalidVram).await;
}

#[tokio::test]
async fn register_node_refuses_zero_price() {
    let mut env = TestEnv::new().await;
    let spec = NodeSpec {
        price_usd_micros_per_gpu_hour: 0,
        ..spec()
    };
    assert_register_refused(&mut env, spec, IomeshError::ZeroPrice).await;
}

#[tokio::test]
async fn register_node_refuses_lease_bounds_outside_market_bounds() {
    let mut env = TestEnv::new().await;
    let cases = [
        // below the market minimum
        (MARKET_MIN_LEASE - 1, HOUR),
        // above the market maximum
        (MARKET_MIN_LEASE, MARKET_MAX_LEASE + 1),
        // min above max
        (2 * HOUR, HOUR),
        // zero minimum
        (0, HOUR),
    ];
    for (min_lease_secs, max_lease_secs) in cases {
        let spec = NodeSpec {
            min_lease_secs,
            max_lease_secs,
            ..spec()
        };
        assert_register_refused(&mut env, spec, IomeshError::InvalidNodeLeaseBounds).await;
    }
    // Exactly the market's bounds are accepted.
    let spec = NodeSpec {
        min_lease_secs: MARKET_MIN_LEASE,
        max_lease_secs: MARKET_MAX_LEASE,
        ..spec()
    };
    let (result, _, _) = register(&mut env, spec).await;
    result.unwrap();
}

#[tokio::test]
async fn register_node_refuses_an_operator_already_registered() {
    let mut env = TestEnv::new().await;
    let (result, owner, operator) = register(&mut env, spec()).await;
    result.unwrap();
    let other_owner = env.wallet().await;
    // The node address is derived from the operator: a second registration of
    // the same operator (even by another owner) cannot overwrite the node.
    let result = env
        .send(
            &[register_ix(other_owner.pubkey(), operator.pubkey(), spec())],
            &[&other_owner, &operator],
        )
        .await;
    assert_error(result, IomeshError::AccountAlreadyInUse);
    assert_eq!(
        env.node(node_pda(&operator.pubkey())).await.owner,
        owner.pubkey()
    );
}

// ---------------------------------------------------------------- update_node

#[tokio::test]
async fn update_node_changes_listing_but_not_running_lease_price() {
    let mut env = TestEnv::new().await;
    let node = env.register_node(4).await;
    let usdc = env.usdc;
    let (_, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;
    let owner = node.owner.insecure_clone();
    let new_spec = NodeSpec {
        gpu_model: "RTX 5090".into(),
        gpu_count: 6,
        vram_mib: 32_768,
        region: "ap-south".into(),
        price_usd_micros_per_gpu_hour: 3_000_000,
        min_lease_secs: 120,
        max_lease_secs: 2 * HOUR,
    };
    update(&mut env, &node, &owner, new_spec).await.unwrap();
    let state = env.node(node.address).await;
    assert_eq!(decode_text(&state.gpu_model), "RTX 5090");
    assert_eq!(state.gpu_count, 6);
    assert_eq!(state.vram_mib, 32_768);
    assert_eq!(decode_text(&state.region), "ap-south");
    assert_eq!(state.price_usd_micros_per_gpu_hour, 3_000_000);
    assert_eq!(state.min_lease_secs, 120);
    assert_eq!(state.max_lease_secs, 2 * HOUR);
    assert_eq!(state.gpus_in_use, 1, "usage is not part of the listing");
    assert_eq!(state.owner, node.owner.pubkey());
    // The running lease keeps the price it locked: $2.00 in USDC.
    assert_eq!(env.lease(lease).await.unwrap().rate_per_gpu_hour, 2 * TOKEN);
    // New leases pay the new price.
    let renter = usdc_renter(&mut env).await;
    let lease = env
        .create_lease(LeaseRequest {
            mint: usdc,
            ..request(&renter, &node, 1, 1)
        })
        .await
        .unwrap();
    assert_eq!(env.lease(lease).await.unwrap().rate_per_gpu_hour, 3 * TOKEN);
}

#[tokio::test]
async fn update_node_refuses_non_owner() {
    let mut env = TestEnv::new().await;
    let node = env.register_node(4).await;
    let intruder = env.wallet().await;
    let cheap = NodeSpec {
        price_usd_micros_per_gpu_hour: 1,
        ..spec()
    };
    assert_error(
        update(&mut env, &node, &intruder, cheap.clone()).await,
        IomeshError::NotNodeOwner,
    );
    // The operator (hot key) cannot change the listing either.
    let operator = node.operator.insecure_clone();
    assert_error(
        update(&mut env, &node, &operator, cheap).await,
        IomeshError::NotNodeOwner,
    );
    assert_eq!(
        env.node(node.address).await.price_usd_micros_per_gpu_hour,
        2_000_000
    );
}

#[tokio::test]
async fn update_node_refuses_gpu_count_below_gpus_in_use() {
    let mut env = TestEnv::new().await;
    let node = env.register_node(4).await;
    let usdc = env.usdc;
    env.simple_lease(&node, usdc, 3, HOUR).await;
    let owner = node.owner.insecure_clone();
    let spec_with = |gpu_count| NodeSpec {
        gpu_count,
        ..spec()
    };
    assert_error(
        update(&mut env, &node, &owner, spec_with(2)).await,
        IomeshError::GpuCountBelowInUse,
    );
    assert_eq!(env.node(node.address).await.gpu_count, 4);
    // Down to exactly the GPUs in use is fine: the node is then full.
    update(&mut env, &node, &owner, spec_with(3)).await.unwrap();
    let state = env.node(node.address).await;
    assert_eq!((state.gpu_count, state.gpus_in_use), (3, 3));
    let renter = usdc_renter(&mut env).await;
    assert_error(
        env.create_lease(LeaseRequest {
            mint: usdc,
            ..request(&renter, &node, 1, 1)
        })
        .await
        .map(drop),
        IomeshError::Overbooked,
    );
}

#[tokio::test]
async fn update_node_refuses_invalid_spec() {
    let mut env = TestEnv::new().await;
    let node = env.register_node(4).await;
    let owner = node.owner.insecure_clone();
    let cases = [
        (
            NodeSpec {
                gpu_count: 0,
                ..spec()
            },
            IomeshError::InvalidGpuCount,
        ),
        (
            NodeSpec {
                vram_mib: 0,
                ..spec()
            },
            IomeshError::InvalidVram,
        ),
        (
            NodeSpec {
                price_usd_micros_per_gpu_hour: 0,
                ..spec()
            },
            IomeshError::ZeroPrice,
        ),
        (
            NodeSpec {
                max_lease_secs: MARKET_MAX_LEASE + 1,
                ..spec()
            },
            IomeshError::InvalidNodeLeaseBounds,
        ),
        (
            NodeSpec {
                region: String::new(),
                ..spec()
            },
            IomeshError::InvalidText,
        ),
    ];
    for (spec, expected) in cases {
        assert_error(update(&mut env, &node, &owner, spec).await, expected);
    }
    let state = env.node(node.address).await;
    assert_eq!(state.gpu_count, 4);
    assert_eq!(state.vram_mib, 24_576);
    assert_eq!(decode_text(&state.region), "eu-west");
}

// ---------------------------------------------------------------- set_node_status

#[tokio::test]
async fn set_node_status_refuses_non_owner() {
    let mut env = TestEnv::new().await;
    let node = env.register_node(4).await;
    let intruder = env.wallet().await;
    assert_error(
        set_status(&mut env, &node, &intruder, NodeStatus::Paused).await,
        IomeshError::NotNodeOwner,
    );
    let operator = node.operator.insecure_clone();
    assert_error(
        set_status(&mut env, &node, &operator, NodeStatus::Paused).await,
        IomeshError::NotNodeOwner,
    );
    assert_eq!(env.node(node.address).await.status, NodeStatus::Available);
}

#[tokio::test]
async fn paused_node_refuses_new_leases_but_running_lease_activates_and_closes() {
    let mut env = TestEnv::new().await;
    let node = env.register_node(4).await;
    let usdc = env.usdc;
    let (renter, lease) = env.simple_lease(&node, usdc, 1, HOUR).await;
    let owner = node.owner.insecure_clone();

    set_status(&mut env, &node, &owner, NodeStatus::Paused)
        .await
        .unwrap();
    assert_eq!(env.node(node.address).await.status, NodeStatus::Paused);
    assert_error(
        env.create_lease(LeaseRequest {
            mint: usdc,
            ..request(&renter, &node, 2, 1)
        })
        .await
        .map(drop),
        IomeshError::NodeNotAvailable,
    );
    assert_eq!(env.node(node.address).await.gpus_in_use, 1);

    // The lease taken before the pause runs normally.
    env.activate(lease, &node).await.unwrap();
    assert_eq!(env.lease(lease).await.unwrap().status, LeaseStatus::Active);
    env.warp(i64::from(HOUR)).await;
    env.close(lease).await.unwrap();
    assert!(env.lease(lease).await.is_none());
    let state = env.node(node.address).await;
    assert_eq!(state.leases_served, 1);
    assert_eq!(state.gpus_in_use, 0);
    assert_eq!(
        env.balance(usdc.ata(&node.owner.pubkey())).await,
        2 * TOKEN - expected_fee(2 * TOKEN, USDC_FEE_BPS)
    );

    // Resumed, it accepts leases again.
    set_status(&mut env, &node, &owner, NodeStatus::Available)
        .await
        .unwrap();
    env.create_lease(LeaseRequest {
        mint: usdc,
        ..request(&renter, &node, 2, 1)
    })
    .await
    .unwrap();
}

// ---------------------------------------------------------------- retire_node

#[tokio::test]
async fn retire_node_refused_while_a_lease_is_open() {
    let mut env = TestEnv::new().await;
    let node = env.register_node(4).await;
    let usdc = env.usdc;
    let (_, lease) = env.simple_lease(&node, usdc, 2, HOUR).await;
    let owner = node.owner.insecure_clone();

    // Pending lease.
    assert_error(
        retire(&mut env, &node, &owner).await,
        IomeshError::NodeHasOpenLeases,
    );
    // Active lease.
    env.activate(lease, &node).await.unwrap();
    assert_error(
        retire(&mut env, &node, &owner).await,
        IomeshError::NodeHasOpenLeases,
    );
    // Pausing the node does not make it retirable while the lease runs.
    set_status(&mut env, &node, &owner, NodeStatus::Paused)
        .await
        .unwrap();
    assert_error(
        retire(&mut env, &node, &owner).await,
        IomeshError::NodeHasOpenLeases,
    );
    assert!(env.account_data(node.address).await.is_some());
}

#[tokio::test]
async fn retire_node_after_close_returns_rent_to_owner() {
    let mut env = TestEnv::new().await;
    let node = env.register_node(4).await;
    let usdc = env.usdc;
    let (_, lease) = env.simple_lease(&node, usdc, 2, HOUR).await;
    env.activate(lease, &node).await.unwrap();
    env.warp(i64::from(HOUR)).await;
    env.close(lease).await.unwrap();

    let owner = node.owner.insecure_clone();
    let node_rent = env.lamports(node.address).await;
    assert!(node_rent > 0);
    let owner_before = env.lamports(owner.pubkey()).await;
    retire(&mut env, &node, &owner).await.unwrap();
    assert!(env.account_data(node.address).await.is_none(), "node gone");
    assert_eq!(env.lamports(node.address).await, 0);
    assert_eq!(env.lamports(owner.pubkey()).await, owner_before + node_rent);

    // A retired node takes no leases.
    let renter = usdc_renter(&mut env).await;
    assert_error(
        env.create_lease(LeaseRequest {
            mint: usdc,
            ..request(&renter, &node, 1, 1)
        })
        .await
        .map(drop),
        anchor_lang::error::ErrorCode::AccountNotInitialized,
    );
}

#[tokio::test]
async fn retire_node_after_pending_lease_cancelled() {
    let mut env = TestEnv::new().await;
    let node = env.register_node(4).await;
    let usdc = env.usdc;
    let (renter, lease) = env.simple_lease(&node, usdc, 4, HOUR).await;
    env.cancel(lease, &renter).await.unwrap();
    let owner = node.owner.insecure_clone();
    retire(&mut env, &node, &owner).await.unwrap();
    assert!(env.account_data(node.address).await.is_none());
}

#[tokio::test]
async fn retire_node_refuses_non_owner() {
    let mut env = TestEnv::new().await;
    let node = env.register_node(4).await;
    let intruder = env.wallet().await;
    assert_error(
        retire(&mut env, &node, &intruder).await,
        IomeshError::NotNodeOwner,
    );
    let operator = node.operator.insecure_clone();
    // The operator is not a funded wallet; fund it so only the ownership check can refuse.
    env.airdrop(&operator.pubkey(), 1_000_000_000).await;
    assert_error(
        retire(&mut env, &node, &operator).await,
        IomeshError::NotNodeOwner,
    );
    assert!(env.account_data(node.address).await.is_some());
}
