//! `iomesh-scheduler bench`: dispatch latency and throughput.

use clap::Args;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Postgres server; the benchmark creates (and drops) its own database there.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
}

pub async fn run(_args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
