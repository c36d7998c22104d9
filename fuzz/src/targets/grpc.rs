//! Yellowstone gRPC subscriptions to the localnet: requests with arbitrary
//! account, transaction and slot filters (real and malformed addresses,
//! memcmp at any offset, bad encodings, unknown commitments, replay from any
//! slot), then a ping. The server must answer the ping or end the stream
//! with a status, never hang; and the filter compiler must take any bytes
//! that decode as a request without panicking.

use super::world::World;
use crate::{gen::Gen, Fuzz, Outcome, Problem};
use futures::{SinkExt, StreamExt};
use iomesh_localnet::geyser::filter;
use yellowstone_grpc_client::GeyserGrpcClient;
use yellowstone_grpc_proto::{
    prelude::{
        subscribe_request_filter_accounts_filter::Filter as AccountFilter,
        subscribe_request_filter_accounts_filter_lamports::Cmp,
        subscribe_request_filter_accounts_filter_memcmp::Data, subscribe_update::UpdateOneof,
        SubscribeRequest, SubscribeRequestAccountsDataSlice, SubscribeRequestFilterAccounts,
        SubscribeRequestFilterAccountsFilter, SubscribeRequestFilterAccountsFilterLamports,
        SubscribeRequestFilterAccountsFilterMemcmp, SubscribeRequestFilterBlocksMeta,
        SubscribeRequestFilterSlots, SubscribeRequestFilterTransactions, SubscribeRequestPing,
    },
    prost::Message,
};

pub struct GrpcFuzz {
    world: World,
}

impl GrpcFuzz {
    pub async fn setup() -> anyhow::Result<Self> {
        Ok(Self {
            world: World::start().await?,
        })
    }

    fn address(&self, gen: &mut Gen) -> String {
        match gen.below(4) {
            0 => gen.text(44),
            1 => bs58::encode(gen.bytes(40)).into_string(),
            _ => gen.pick(&self.world.pool).to_string(),
        }
    }

    fn addresses(&self, gen: &mut Gen) -> Vec<String> {
        (0..gen.below(4)).map(|_| self.address(gen)).collect()
    }

    fn account_filter(&self, gen: &mut Gen) -> SubscribeRequestFilterAccountsFilter {
        let filter = match gen.below(5) {
            0 => AccountFilter::Datasize(gen.unsigned(64) as u64),
            1 => AccountFilter::TokenAccountState(gen.chance(0.5)),
            2 => AccountFilter::Lamports(SubscribeRequestFilterAccountsFilterLamports {
                cmp: Some(match gen.below(4) {
                    0 => Cmp::Eq(gen.unsigned(64) as u64),
                    1 => Cmp::Ne(gen.unsigned(64) as u64),
                    2 => Cmp::Lt(gen.unsigned(64) as u64),
                    _ => Cmp::Gt(gen.unsigned(64) as u64),
                }),
            }),
            _ => AccountFilter::Memcmp(SubscribeRequestFilterAccountsFilterMemcmp {
                offset: gen.unsigned(64) as u64,
                data: Some(match gen.below(3) {
                    0 => Data::Bytes(gen.bytes(200)),
                    1 => Data::Base58(gen.text(60)),
                    _ => Data::Base64(gen.text(60)),
                }),
            }),
        };
        SubscribeRequestFilterAccountsFilter {
            filter: gen.chance(0.95).then_some(filter),
        }
    }

    fn request(&self, gen: &mut Gen) -> SubscribeRequest {
        let mut request = SubscribeRequest::default();
        for _ in 0..gen.below(3) {
            request.accounts.insert(
                gen.text(8),
                SubscribeRequestFilterAccounts {
                    account: self.addresses(gen),
                    owner: self.addresses(gen),
                    filters: (0..gen.below(6))
                        .map(|_| self.account_filter(gen))
                        .collect(),
                    nonempty_txn_signature: gen.chance(0.3).then(|| gen.chance(0.5)),
                    ..Default::default()
                },
            );
        }
        for _ in 0..gen.below(2) {
            request.slots.insert(
                gen.text(8),
                SubscribeRequestFilterSlots {
                    filter_by_commitment: gen.chance(0.5).then(|| gen.chance(0.5)),
                    interslot_updates: gen.chance(0.5).then(|| gen.chance(0.5)),
                },
            );
        }
        for _ in 0..gen.below(2) {
            request.transactions.insert(
                gen.text(8),
                SubscribeRequestFilterTransactions {
                    vote: gen.chance(0.5).then(|| gen.chance(0.5)),
                    failed: gen.chance(0.5).then(|| gen.chance(0.5)),
                    signature: gen.chance(0.3).then(|| gen.text(90)),
                    account_include: self.addresses(gen),
                    account_exclude: self.addresses(gen),
                    account_required: self.addresses(gen),
                    ..Default::default()
                },
            );
        }
        if gen.chance(0.2) {
            request
                .blocks_meta
                .insert(gen.text(8), SubscribeRequestFilterBlocksMeta {});
        }
        if gen.chance(0.05) {
            request.blocks.insert(gen.text(8), Default::default());
        }
        if gen.chance(0.5) {
            request.commitment = Some(gen.signed(32) as i32 % 5);
        }
        for _ in 0..gen.below(3) {
            request
                .accounts_data_slice
                .push(SubscribeRequestAccountsDataSlice {
                    offset: gen.unsigned(64) as u64,
                    length: gen.unsigned(64) as u64,
                });
        }
        if gen.chance(0.3) {
            request.from_slot = Some(gen.unsigned(64) as u64);
        }
        request
    }
}

impl Fuzz for GrpcFuzz {
    async fn case(&mut self, gen: &mut Gen) -> Result<Outcome, Problem> {
        // Raw bytes that happen to decode go straight to the filter compiler.
        let raw = gen.bytes(120);
        if let Ok(decoded) = SubscribeRequest::decode(raw.as_slice()) {
            let compiled =
                tokio::task::spawn_blocking(move || filter::compile(&decoded).is_ok()).await;
            if let Err(panic) = compiled {
                return Err(Problem::new(
                    format!("raw request bytes {raw:?}"),
                    format!("filter::compile panicked: {panic}"),
                ));
            }
        }
        let request = self.request(gen);
        let input = format!("{request:?}");
        let ping_id = gen.below(1_000_000) as i32;
        let mut client = GeyserGrpcClient::build_from_shared(self.world.localnet.grpc_url())
            .map_err(|e| Problem::new(&input, format!("endpoint: {e}")))?
            .connect()
            .await
            .map_err(|e| Problem::new(&input, format!("cannot connect: {e}")))?;
        let (mut sink, mut stream) = client
            .subscribe_with_request(Some(request))
            .await
            .map_err(|e| Problem::new(&input, format!("subscribe: {e}")))?;
        let ping = SubscribeRequest {
            ping: Some(SubscribeRequestPing { id: ping_id }),
            ..Default::default()
        };
        // The stream may already have ended with a status: a refused request.
        let _ = sink.send(ping).await;
        while let Some(message) = stream.next().await {
            match message {
                Err(status) => return Ok(format!("refused: {:?}", status.code())),
                Ok(update) => {
                    if let Some(UpdateOneof::Pong(pong)) = update.update_oneof {
                        if pong.id == ping_id {
                            return Ok("subscribed".into());
                        }
                    }
                }
            }
        }
        Ok("stream ended".into())
    }

    async fn check(&mut self) -> Result<(), Problem> {
        self.world.still_answers("the localnet").await
    }

    async fn shutdown(self) {
        self.world.shutdown().await;
    }
}
