//! The checked-in IDL must be exactly what the program generates, and must
//! describe every instruction clients are expected to sign.

#[test]
fn checked_in_idl_matches_the_program_and_lists_every_instruction() {
    let generated = iomesh_idl::generate().expect("generate IDL");
    iomesh_idl::check(&generated).expect("idl/iomesh.json is fresh");

    let idl: serde_json::Value = serde_json::from_str(&generated).unwrap();
    let names: Vec<&str> = idl["instructions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ix| ix["name"].as_str().unwrap())
        .collect();
    for expected in [
        "initialize_market",
        "update_market",
        "propose_authority",
        "accept_authority",
        "set_paused",
        "add_payment_mint",
        "update_payment_mint",
        "set_mint_price",
        "register_node",
        "update_node",
        "set_node_status",
        "retire_node",
        "create_lease",
        "activate_lease",
        "settle_lease",
        "extend_lease",
        "cancel_lease",
        "report_failure",
        "expire_lease",
        "close_lease",
        "create_cluster",
        "unwind_cluster",
        "close_cluster",
        "init_io_vaults",
        "set_staking_policy",
        "stake",
        "request_unstake",
        "withdraw_stake",
        "slash",
        "reverse_slash",
        "finalize_slash",
        "publish_epoch",
        "grow_epoch",
        "claim_reward",
        "clawback_epoch",
        "init_iosd",
        "mint_iosd",
        "set_mint_oracle",
    ] {
        assert!(
            names.contains(&expected),
            "IDL lacks instruction {expected}: {names:?}"
        );
    }
    for account in ["Market", "PaymentMint", "Node", "Lease"] {
        assert!(
            idl["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["name"] == account),
            "IDL lacks account {account}"
        );
    }
}
