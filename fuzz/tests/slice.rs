//! The CI slice: every fuzz target for a fixed seed and a fixed number of
//! cases, so `./scripts/test` checks the same inputs every time. Exploring
//! with fresh seeds for longer is `iomesh-fuzz --time …` (`scripts/explore`).

use iomesh_fuzz::{run, Budget, Target};

const SEED: u64 = 0x10_3e5f;

async fn slice(target: Target, cases: u64) {
    let database_url = std::env::var("DATABASE_URL").ok();
    let report = run(target, SEED, Budget::cases(cases), database_url.as_deref())
        .await
        .expect("target sets up")
        .unwrap_or_else(|finding| panic!("{finding}"));
    print!("{report}");
    assert_eq!(report.cases, cases);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn program_instructions_fixed_seed_slice() {
    slice(Target::Program, 300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_requests_fixed_seed_slice() {
    slice(Target::Rpc, 400).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_subscriptions_fixed_seed_slice() {
    slice(Target::Grpc, 150).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_specs_fixed_seed_slice() {
    slice(Target::JobSpec, 2_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_http_fixed_seed_slice() {
    slice(Target::SchedulerHttp, 2_000).await;
}
