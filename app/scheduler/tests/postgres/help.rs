//! `--help` never prints the database password from the environment.

#[test]
fn help_hides_the_database_url_from_the_environment() {
    for subcommand in ["run", "rewards"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_iomesh-scheduler"))
            .args([subcommand, "--help"])
            .env(
                "DATABASE_URL",
                "postgres://iomesh:hunter2-secret@db.example/iomesh",
            )
            .output()
            .expect("run iomesh-scheduler");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{subcommand} --help: {help}");
        assert!(help.contains("DATABASE_URL"), "{subcommand}: {help}");
        assert!(
            !help.contains("hunter2"),
            "{subcommand} --help leaks it: {help}"
        );
    }
}
