//! "Rent this node": the Action's description from the node account, and the
//! create_lease transaction for the posted account, priced at the quote.

use super::{
    hours_param, posted_account, serialize, with_chain, ActionError, ActionGetResponse,
    ActionLinks, ActionParameter, ActionPostRequest, ActionPostResponse, Actions, LinkedAction,
    ParameterOption,
};
use crate::http::ApiError;
use axum::{
    extract::{rejection::JsonRejection, rejection::QueryRejection, Path, Query, State},
    http::StatusCode,
    response::Response,
    Json,
};
use iomesh_agent_proto::{job_spec_hash, JobSpec};
use iomesh_client::{
    instructions,
    iomesh::{
        state::{decode_text, Node, NodeStatus, PaymentMint, PriceSource},
        CreateLeaseArgs,
    },
    pda, quote, units, TokenMint,
};
use serde::Deserialize;
use solana_pubkey::Pubkey;
use std::{str::FromStr, sync::Arc};

/// The node account and the mints a lease on it can be paid with now.
struct Offer {
    address: Pubkey,
    node: Node,
    mints: Vec<PaymentMint>,
    market_paused: bool,
}

impl Offer {
    async fn load(actions: &Actions, node: &str) -> Result<Self, ApiError> {
        let address = Pubkey::from_str(node).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("{node} is not a node address (base58, 32 bytes)"),
            )
        })?;
        let client = &actions.client;
        let node = client
            .fetch::<Node>(&address)
            .await
            .map_err(|e| actions.chain_error(e))?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("no node {address} is listed"),
                )
            })?;
        let market = client.market().await.map_err(|e| actions.chain_error(e))?;
        // Oracle-priced mints need a price update account in the transaction,
        // which a Blink cannot supply: offered through the CLI only.
        let mints = client
            .payment_mints()
            .await
            .map_err(|e| actions.chain_error(e))?
            .into_iter()
            .filter(|m| m.enabled && m.price_source != PriceSource::Oracle)
            .collect();
        Ok(Self {
            address,
            node,
            mints,
            market_paused: market.paused,
        })
    }

    /// Why a lease cannot be created now, if it cannot.
    fn unavailable(&self) -> Option<String> {
        if self.market_paused {
            Some("the market is paused: no new leases".into())
        } else if self.node.status != NodeStatus::Available {
            Some("the node's owner has paused it: no new leases".into())
        } else if self.node.free_gpus() == 0 {
            Some("every GPU of this node is leased".into())
        } else if self.mints.is_empty() {
            Some("no payment mint is open to new leases".into())
        } else {
            None
        }
    }

    fn title(&self) -> String {
        format!(
            "{} × {} ({} GiB) in {}",
            self.node.gpu_count,
            decode_text(&self.node.gpu_model),
            self.node.vram_mib / 1024,
            decode_text(&self.node.region)
        )
    }
}

pub(super) async fn describe(
    State(actions): State<Arc<Actions>>,
    Path(node): Path<String>,
) -> Result<Response, ApiError> {
    let offer = Offer::load(&actions, &node).await?;
    let chain = actions.blockchain_id().await?.to_string();
    let node = &offer.node;
    let (min_hours, max_hours) =
        hour_limits(node.min_lease_secs.into(), node.max_lease_secs.into());
    let unavailable = offer.unavailable();
    let response = ActionGetResponse {
        kind: "action".into(),
        icon: format!("{}/static/icon.svg", actions.public_url),
        title: offer.title(),
        description: format!(
            "{} per GPU-hour; {} of {} GPUs free; leases from {} to {}. Paid per second \
             from escrow: whatever the job does not use comes back to you.",
            units::format_usd(node.price_usd_micros_per_gpu_hour),
            offer.node.free_gpus(),
            node.gpu_count,
            units::format_duration(node.min_lease_secs.into()),
            units::format_duration(node.max_lease_secs.into()),
        ),
        label: "Rent".into(),
        disabled: unavailable.is_some(),
        error: unavailable.map(|message| ActionError { message }),
        links: ActionLinks {
            actions: vec![LinkedAction {
                kind: "transaction".into(),
                href: format!(
                    "/api/actions/rent/{}?hours={{hours}}&gpus={{gpus}}&mint={{mint}}&job_spec={{job_spec}}",
                    offer.address
                ),
                label: "Rent".into(),
                parameters: vec![
                    ActionParameter {
                        kind: "number".into(),
                        name: "hours".into(),
                        label: "Hours".into(),
                        required: true,
                        min: Some(min_hours),
                        max: Some(max_hours),
                        options: vec![],
                    },
                    ActionParameter {
                        kind: "number".into(),
                        name: "gpus".into(),
                        label: "GPUs".into(),
                        required: true,
                        min: Some(1),
                        max: Some(offer.node.free_gpus().max(1).into()),
                        options: vec![],
                    },
                    ActionParameter {
                        kind: "select".into(),
                        name: "mint".into(),
                        label: "Pay with".into(),
                        required: true,
                        min: None,
                        max: None,
                        options: offer
                            .mints
                            .iter()
                            .enumerate()
                            .map(|(i, m)| ParameterOption {
                                label: decode_text(&m.symbol).to_string(),
                                value: m.mint.to_string(),
                                selected: i == 0,
                            })
                            .collect(),
                    },
                    ActionParameter {
                        kind: "textarea".into(),
                        name: "job_spec".into(),
                        label: "Job spec (JSON)".into(),
                        required: true,
                        min: None,
                        max: None,
                        options: vec![],
                    },
                ],
            }],
        },
    };
    Ok(with_chain(Json(response), &chain))
}

/// The Action's parameters, as the linked action's href fills them in.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RentParams {
    pub hours: String,
    pub gpus: String,
    pub mint: String,
    pub job_spec: String,
}

/// A rent request whose parameters have been checked against the node.
struct RentRequest {
    renter: Pubkey,
    mint: PaymentMint,
    gpus: u16,
    duration_secs: u32,
    job_spec_hash: [u8; 32],
}

impl RentRequest {
    fn check(offer: &Offer, renter: Pubkey, params: &RentParams) -> Result<Self, ApiError> {
        let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, message);
        if let Some(why) = offer.unavailable() {
            return Err(ApiError::new(StatusCode::CONFLICT, why));
        }
        let duration_secs = hours_param(&params.hours)?;
        let node = &offer.node;
        if duration_secs < node.min_lease_secs || duration_secs > node.max_lease_secs {
            return Err(bad(format!(
                "hours: this node leases from {} to {}; {} asked",
                units::format_duration(node.min_lease_secs.into()),
                units::format_duration(node.max_lease_secs.into()),
                units::format_duration(duration_secs.into()),
            )));
        }
        let gpus: u16 = params
            .gpus
            .trim()
            .parse()
            .ok()
            .filter(|g| *g > 0)
            .ok_or_else(|| {
                bad(format!(
                    "gpus `{}` is not a whole number from 1",
                    params.gpus
                ))
            })?;
        if gpus > offer.node.free_gpus() {
            return Err(bad(format!(
                "gpus: {gpus} asked, {} of the node's {} free",
                offer.node.free_gpus(),
                node.gpu_count
            )));
        }
        let mint = Pubkey::from_str(params.mint.trim())
            .ok()
            .and_then(|mint| offer.mints.iter().find(|m| m.mint == mint))
            .cloned()
            .ok_or_else(|| {
                let accepted: Vec<String> = offer
                    .mints
                    .iter()
                    .map(|m| format!("{} ({})", decode_text(&m.symbol), m.mint))
                    .collect();
                bad(format!(
                    "mint `{}` is not one this Action accepts: {}",
                    params.mint,
                    accepted.join(", ")
                ))
            })?;
        JobSpec::parse(params.job_spec.as_bytes()).map_err(|e| bad(format!("job_spec: {e}")))?;
        Ok(Self {
            renter,
            mint,
            gpus,
            duration_secs,
            job_spec_hash: job_spec_hash(params.job_spec.as_bytes()),
        })
    }
}

pub(super) async fn build(
    State(actions): State<Arc<Actions>>,
    Path(node): Path<String>,
    params: Result<Query<RentParams>, QueryRejection>,
    body: Result<Json<ActionPostRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let renter = posted_account(body)?;
    let Query(params) = params
        .map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text()))?;
    let offer = Offer::load(&actions, &node).await?;
    let request = RentRequest::check(&offer, renter, &params)?;
    let chain = actions.blockchain_id().await?.to_string();
    let quoted = quote(
        &offer.node,
        &request.mint,
        request.gpus,
        request.duration_secs,
    )
    .map_err(|e| actions.chain_error(e))?;
    let client = &actions.client;
    client
        .ensure_balance(&request.renter, &request.mint, quoted.deposit)
        .await
        .map_err(|e| actions.chain_error(e))?;
    let nonce: u64 = rand::random();
    let token_mint = TokenMint {
        mint: request.mint.mint,
        token_program: request.mint.token_program,
    };
    let instruction = instructions::create_lease(
        &request.renter,
        &request.renter,
        &offer.address,
        &token_mint,
        CreateLeaseArgs {
            nonce,
            gpus: request.gpus,
            duration_secs: request.duration_secs,
            // Lock the price just quoted: a change before it lands is refused.
            max_price_per_gpu_hour: quoted.rate_per_gpu_hour,
            job_spec_hash: request.job_spec_hash,
        },
    );
    let tx = client
        .unsigned_transaction(&[instruction], &request.renter)
        .await
        .map_err(|e| actions.chain_error(e))?;
    let lease = pda::lease(&request.renter, nonce);
    let symbol = decode_text(&request.mint.symbol);
    let response = ActionPostResponse {
        kind: "transaction".into(),
        transaction: serialize(&tx)?,
        message: format!(
            "Lease {lease}: {} GPU(s) for {}, {} {symbol} in escrow at {} {symbol} per GPU-hour. \
             Once it lands, hand the scheduler this job spec, signed by you: `iomesh --scheduler \
             URL lease submit-spec {lease} --job-spec FILE`.",
            request.gpus,
            units::format_duration(request.duration_secs.into()),
            units::format_amount(quoted.deposit, request.mint.decimals),
            units::format_amount(quoted.rate_per_gpu_hour, request.mint.decimals),
        ),
    };
    Ok(with_chain(Json(response), &chain))
}

/// The whole hours a node's lease limits allow, for a form's bounds: its
/// minimum rounded up, its maximum rounded down (at least the minimum).
pub(crate) fn hour_limits(min_lease_secs: u64, max_lease_secs: u64) -> (u64, u64) {
    let min = min_lease_secs.div_ceil(3_600).max(1);
    (min, (max_lease_secs / 3_600).max(min))
}
