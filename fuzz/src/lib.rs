//! Seeded fuzzing of what iomesh takes from strangers: instructions sent to
//! the program, requests to the localnet's JSON-RPC and Yellowstone gRPC
//! servers, job specs, and requests to the scheduler's HTTP API.
//!
//! Each target generates inputs from a seeded RNG (`gen::Gen`), shaped like
//! the real thing so they get past the first check (the program's
//! instructions from the IDL's account and argument shapes, RPC calls from
//! the served methods), with edge values and garbage mixed in. A case fails
//! when the system under test panics, hangs past [`CASE_TIMEOUT`], answers
//! with a server error, or breaks an invariant (the program's escrow
//! accounting). The same seed and budget give the same inputs, so CI runs a
//! short fixed-seed slice (`tests/slice.rs`) and `iomesh-fuzz` explores with
//! fresh seeds for as long as asked.

pub mod gen;
pub mod targets;

use gen::Gen;
use std::{
    collections::BTreeMap,
    fmt,
    time::{Duration, Instant},
};

/// Longest one case may take before it counts as a hang.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// Instructions of the program (accounts, flags and data from the IDL's shapes) against a localnet bank.
    Program,
    /// Solana JSON-RPC requests to the localnet.
    Rpc,
    /// Yellowstone gRPC subscriptions to the localnet.
    Grpc,
    /// Job spec bytes, as renters submit them.
    JobSpec,
    /// Requests to the scheduler's HTTP API (needs DATABASE_URL).
    SchedulerHttp,
}

impl Target {
    pub const ALL: [Target; 5] = [
        Target::Program,
        Target::Rpc,
        Target::Grpc,
        Target::JobSpec,
        Target::SchedulerHttp,
    ];
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Target::Program => "program",
            Target::Rpc => "rpc",
            Target::Grpc => "grpc",
            Target::JobSpec => "job-spec",
            Target::SchedulerHttp => "scheduler-http",
        })
    }
}

/// How much to run: a number of cases, a time, or both (whichever ends first).
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub cases: Option<u64>,
    pub time: Option<Duration>,
}

impl Budget {
    pub fn cases(cases: u64) -> Self {
        Self {
            cases: Some(cases),
            time: None,
        }
    }

    fn allows(&self, done: u64, started: Instant) -> bool {
        self.cases.is_none_or(|cases| done < cases)
            && self.time.is_none_or(|time| started.elapsed() < time)
    }
}

/// What one case did when nothing went wrong, counted in the report
/// (e.g. "cancel_lease refused", "getSlot ok").
pub type Outcome = String;

/// A case that found a problem: the input that caused it and what went wrong.
#[derive(Debug)]
pub struct Finding {
    pub target: Target,
    pub seed: u64,
    pub case: u64,
    pub input: String,
    pub problem: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} seed {} case {}: {}\ninput: {}",
            self.target, self.seed, self.case, self.problem, self.input
        )
    }
}

/// A case's problem, before the runner names the case.
pub struct Problem {
    pub input: String,
    pub problem: String,
}

impl Problem {
    pub fn new(input: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            input: input.into(),
            problem: problem.into(),
        }
    }
}

#[derive(Debug)]
pub struct Report {
    pub target: Target,
    pub seed: u64,
    pub cases: u64,
    pub elapsed: Duration,
    /// How many cases ended each way.
    pub outcomes: BTreeMap<Outcome, u64>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} cases in {:.1} s (seed {}), no panic, hang, server error or broken invariant",
            self.target,
            self.cases,
            self.elapsed.as_secs_f64(),
            self.seed
        )?;
        for (outcome, count) in &self.outcomes {
            writeln!(f, "  {count:>7}  {outcome}")?;
        }
        Ok(())
    }
}

/// One fuzz target: something to set up once, then cases drawn from `gen`.
pub trait Fuzz {
    /// Runs one case; `Ok` names how it ended.
    fn case(
        &mut self,
        gen: &mut Gen,
    ) -> impl std::future::Future<Output = Result<Outcome, Problem>> + Send;

    /// Checks what must still hold after some cases (a server still answers,
    /// the books still balance). Called every few cases and at the end.
    fn check(&mut self) -> impl std::future::Future<Output = Result<(), Problem>> + Send {
        async { Ok(()) }
    }

    /// Stops what `setup` started.
    fn shutdown(self) -> impl std::future::Future<Output = ()> + Send;
}

/// Cases between two `check`s.
const CHECK_EVERY: u64 = 25;

/// Runs `fuzz` for `budget`, stopping at the first finding.
pub async fn drive<F: Fuzz>(
    target: Target,
    mut fuzz: F,
    seed: u64,
    budget: Budget,
) -> Result<Report, Finding> {
    let mut gen = Gen::new(seed);
    let started = Instant::now();
    let mut outcomes = BTreeMap::new();
    let mut done = 0;
    let finding = |case, problem: Problem| Finding {
        target,
        seed,
        case,
        input: problem.input,
        problem: problem.problem,
    };
    let result = async {
        while budget.allows(done, started) {
            let outcome = match tokio::time::timeout(CASE_TIMEOUT, fuzz.case(&mut gen)).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(problem)) => return Err(finding(done, problem)),
                Err(_) => {
                    return Err(finding(
                        done,
                        Problem::new(
                            "(the case's input is regenerated by its seed and case number)",
                            format!("no answer within {CASE_TIMEOUT:?}: a hang"),
                        ),
                    ))
                }
            };
            *outcomes.entry(outcome).or_insert(0) += 1;
            done += 1;
            if done % CHECK_EVERY == 0 {
                fuzz.check().await.map_err(|p| finding(done, p))?;
            }
        }
        fuzz.check().await.map_err(|p| finding(done, p))
    }
    .await;
    fuzz.shutdown().await;
    result.map(|()| Report {
        target,
        seed,
        cases: done,
        elapsed: started.elapsed(),
        outcomes,
    })
}

/// Sets up `target` and runs it. `database_url` is needed by the scheduler target.
pub async fn run(
    target: Target,
    seed: u64,
    budget: Budget,
    database_url: Option<&str>,
) -> anyhow::Result<Result<Report, Finding>> {
    Ok(match target {
        Target::Program => {
            drive(
                target,
                targets::program::ProgramFuzz::setup().await?,
                seed,
                budget,
            )
            .await
        }
        Target::Rpc => drive(target, targets::rpc::RpcFuzz::setup().await?, seed, budget).await,
        Target::Grpc => {
            drive(
                target,
                targets::grpc::GrpcFuzz::setup().await?,
                seed,
                budget,
            )
            .await
        }
        Target::JobSpec => drive(target, targets::job_spec::JobSpecFuzz, seed, budget).await,
        Target::SchedulerHttp => {
            let url = database_url.ok_or_else(|| {
                anyhow::anyhow!(
                    "the scheduler-http target needs a Postgres server: set DATABASE_URL"
                )
            })?;
            drive(
                target,
                targets::scheduler_http::SchedulerHttpFuzz::setup(url).await?,
                seed,
                budget,
            )
            .await
        }
    })
}
