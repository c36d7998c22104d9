//! `iomesh-demo --help` never prints the database password from the
//! environment, and bad settings are refused before anything starts.

use std::process::Command;

fn demo(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_iomesh-demo"))
        .args(args)
        .env(
            "DATABASE_URL",
            "postgres://iomesh:hunter2-secret@db.example/iomesh",
        )
        .output()
        .expect("iomesh-demo runs")
}

#[test]
fn help_hides_the_database_url_and_bad_settings_are_named() {
    let out = demo(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{help}");
    assert!(help.contains("DATABASE_URL"), "{help}");
    assert!(!help.contains("hunter2"), "--help leaks it: {help}");

    let out = demo(&["--lease-secs", "5"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--lease-secs 5"), "{stderr}");
}
