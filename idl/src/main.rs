//! `iomesh-idl write` regenerates idl/iomesh.json; `iomesh-idl check` fails if it is stale;
//! `iomesh-idl print` writes the IDL to standard output.

use anyhow::{bail, Result};

fn main() -> Result<()> {
    let command = std::env::args().nth(1).unwrap_or_else(|| "check".into());
    let idl = iomesh_idl::generate()?;
    match command.as_str() {
        "write" => {
            let path = iomesh_idl::checked_in_path();
            std::fs::write(&path, idl)?;
            eprintln!("wrote {}", path.display());
        }
        "check" => {
            iomesh_idl::check(&idl)?;
            eprintln!("{} is fresh", iomesh_idl::checked_in_path().display());
        }
        "print" => print!("{idl}"),
        other => bail!("unknown command {other:?}: expected write, check or print"),
    }
    Ok(())
}
