//! `iomesh-fuzz`: runs fuzz targets for a set time or number of cases.
//!
//!   iomesh-fuzz --target program --time 10m        (a random seed, printed)
//!   iomesh-fuzz --target all --cases 200 --seed 7  (reproducible)
//!
//! A finding prints its seed, case number, input and problem, is saved under
//! `--artifacts`, and makes the command exit with status 1.

use clap::Parser;
use iomesh_fuzz::{run, Budget, Target};
use std::{path::PathBuf, time::Duration};

#[derive(Parser)]
#[command(
    about = "Seeded fuzzing of the iomesh program, localnet RPC and gRPC, job specs and the scheduler API"
)]
struct Args {
    /// A target, or `all`.
    #[arg(long, default_value = "all")]
    target: String,
    /// Stop after this long per target, e.g. 90s, 10m, 1h.
    #[arg(long, value_parser = parse_duration)]
    time: Option<Duration>,
    /// Stop after this many cases per target.
    #[arg(long)]
    cases: Option<u64>,
    /// The RNG seed; random (and printed) when not given.
    #[arg(long)]
    seed: Option<u64>,
    /// Postgres server for the scheduler target (a database of its own is created and dropped).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Where findings are written.
    #[arg(long, default_value = "fuzz/artifacts")]
    artifacts: PathBuf,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}`: expected e.g. 90s, 10m or 1h"))?;
    let secs = match unit {
        "" | "s" => value,
        "m" => value * 60,
        "h" => value * 3_600,
        _ => return Err(format!("`{text}`: the unit is s, m or h")),
    };
    Ok(Duration::from_secs(secs))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let targets: Vec<Target> = if args.target == "all" {
        Target::ALL.to_vec()
    } else {
        vec![<Target as clap::ValueEnum>::from_str(&args.target, true)
            .map_err(|e| anyhow::anyhow!("--target: {e}"))?]
    };
    if args.time.is_none() && args.cases.is_none() {
        anyhow::bail!("give --time or --cases (or both)");
    }
    let budget = Budget {
        cases: args.cases,
        time: args.time,
    };
    let seed = args.seed.unwrap_or_else(rand::random);
    let mut failed = false;
    for target in targets {
        if target == Target::SchedulerHttp && args.database_url.is_none() {
            println!("{target}: skipped (no DATABASE_URL)");
            continue;
        }
        match run(target, seed, budget, args.database_url.as_deref()).await? {
            Ok(report) => print!("{report}"),
            Err(finding) => {
                failed = true;
                std::fs::create_dir_all(&args.artifacts)?;
                let path = args.artifacts.join(format!(
                    "{target}-seed{}-case{}.txt",
                    finding.seed, finding.case
                ));
                std::fs::write(&path, finding.to_string())?;
                println!("FINDING {finding}\nsaved to {}", path.display());
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}
