//! The Ray the demo's agents offer to `ray` jobs: a virtual environment with
//! the pinned `ray[default]` from PyPI, made on first use and reused after.
//! It is the same cached environment `scripts/ray-env` makes for the tests
//! (same place, same version), where the sandbox's user (`nobody`) can read
//! it, built with the system Python for the same reason.

use super::progress::Log;
use anyhow::{anyhow, bail, Context as _, Result};
use iomesh_agent::ray::{self, RayInstall};
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// The Ray version the demo installs and its Ray job asks for.
pub const RAY_VERSION: &str = "2.60.0";

/// Where the environment lives: the cache `scripts/ray-env` uses.
fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("IOMESH_RAY_CACHE") {
        return dir.into();
    }
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } == 0 {
        PathBuf::from("/var/cache/iomesh")
    } else {
        let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
        PathBuf::from(home).join(".cache/iomesh")
    }
}

/// The cached Ray, installed first if it is missing or not the pinned one.
pub async fn ensure(log: &Log) -> Result<RayInstall> {
    let venv = cache_dir().join(format!("ray-{RAY_VERSION}"));
    let program = venv.join("bin/ray");
    if let Ok(found) = ray::detect(&program) {
        if found.version == RAY_VERSION {
            log.say(format!("Ray {RAY_VERSION}: reusing {}", venv.display()));
            return Ok(found);
        }
    }
    log.say(format!(
        "Ray {RAY_VERSION}: installing ray[default] from PyPI into {} (first run only; a minute or two)…",
        venv.display()
    ));
    let started = std::time::Instant::now();
    let install = venv.clone();
    tokio::task::spawn_blocking(move || install_into(&install))
        .await
        .map_err(|err| anyhow!("the Ray install stopped: {err}"))??;
    let found = ray::detect(&program).map_err(|why| anyhow!("the installed Ray: {why}"))?;
    log.say(format!(
        "Ray {}: installed in {} s",
        found.version,
        started.elapsed().as_secs()
    ));
    Ok(found)
}

fn install_into(venv: &Path) -> Result<()> {
    let python = ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .args(["-c", "import venv, ensurepip"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .ok_or_else(|| {
            anyhow!("no Python 3 with venv and ensurepip (install python3-venv), or run the demo with --no-ray")
        })?;
    // A half-made environment (an interrupted install) is made again.
    if venv.exists() {
        std::fs::remove_dir_all(venv).with_context(|| format!("removing {}", venv.display()))?;
    }
    let parent = venv.parent().context("the Ray cache directory")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    run(Command::new(python).args(["-m", "venv"]).arg(venv))?;
    run(Command::new(venv.join("bin/pip")).args([
        "install",
        "-q",
        "--disable-pip-version-check",
        &format!("ray[default]=={RAY_VERSION}"),
    ]))?;
    // Jobs run as another user: everything in the cache must be readable.
    run(Command::new("chmod").arg("-R").arg("a+rX").arg(parent))
}

fn run(command: &mut Command) -> Result<()> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {} (or run the demo with --no-ray)",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
