//! Builds the iomesh IDL without the Anchor CLI or an SBF toolchain, by running
//! the program crate's `__anchor_private_print_idl` tests (Anchor's own method).

use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// The workspace root (this crate lives in `<root>/idl`).
///
/// Read at run time (cargo sets it for `cargo run` and `cargo test`): a binary
/// reused from a shared build cache may have been compiled in another checkout,
/// and the path baked in at compile time would then check that checkout's IDL.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir.parent().expect("workspace root").to_path_buf()
}

/// Where the checked-in IDL lives.
pub fn checked_in_path() -> PathBuf {
    workspace_root().join("idl").join("iomesh.json")
}

/// Generates the IDL as pretty JSON with a trailing newline.
pub fn generate() -> Result<String> {
    // Anchor's builder forces RUSTFLAGS, which would invalidate the shared build
    // cache; CARGO_ENCODED_RUSTFLAGS takes precedence in cargo and keeps the
    // flags of the normal build. It also turns RUSTUP_TOOLCHAIN into a `+toolchain`
    // argument, which is only right outside of cargo, so drop it.
    // SAFETY (edition 2021: not unsafe): called before any thread is spawned by this crate.
    if std::env::var_os("CARGO_ENCODED_RUSTFLAGS").is_none() {
        std::env::set_var("CARGO_ENCODED_RUSTFLAGS", "");
    }
    std::env::remove_var("RUSTUP_TOOLCHAIN");
    let idl = anchor_lang_idl::build::IdlBuilder::new()
        .program_path(workspace_root().join("programs").join("iomesh"))
        .cargo_args(vec!["--lib".into()])
        .build()
        .context("building the IDL (cargo test __anchor_private_print_idl --features idl-build)")?;
    let mut json = serde_json::to_string_pretty(&idl)?;
    json.push('\n');
    Ok(json)
}

/// Fails with a diff summary when the checked-in IDL differs from the program.
pub fn check(generated: &str) -> Result<()> {
    let path = checked_in_path();
    let checked_in =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    if checked_in != generated {
        let first_difference = checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1)
            .unwrap_or_else(|| checked_in.lines().count().min(generated.lines().count()) + 1);
        bail!(
            "{} is stale (first difference at line {first_difference}); regenerate it with \
             `cargo run -p iomesh-idl -- write`",
            path.display()
        );
    }
    Ok(())
}
