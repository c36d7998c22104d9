//! The demo's Postgres: a database of its own, created in the server the user
//! names (`DATABASE_URL`) or in a private throwaway server started from the
//! installed PostgreSQL binaries; dropped (or stopped) at the end.

use anyhow::{anyhow, bail, Context as _, Result};
use sqlx::{postgres::PgConnectOptions, ConnectOptions, Connection};
use std::{
    net::{Ipv4Addr, TcpListener},
    path::{Path, PathBuf},
    process::Command,
    str::FromStr,
    time::{SystemTime, UNIX_EPOCH},
};

/// A database created for this demo run.
pub struct DemoDatabase {
    /// URL of the demo's own database.
    pub url: String,
    /// Where it came from, for the progress output.
    pub origin: String,
    /// The server's maintenance URL and the name to drop at the end.
    admin_url: String,
    name: String,
    private: Option<PrivateServer>,
}

impl DemoDatabase {
    /// Creates a fresh database in `server_url`'s server, or in a private
    /// server under `work_dir` when no URL is given.
    pub async fn create(server_url: Option<&str>, work_dir: &Path) -> Result<Self> {
        let (admin_url, private, origin) = match server_url {
            Some(url) => (
                url.to_string(),
                None,
                format!("the DATABASE_URL server {}", redact(url)),
            ),
            None => {
                let server = PrivateServer::start(work_dir)?;
                let origin = format!(
                    "a private PostgreSQL {} server on 127.0.0.1:{} (binaries: {})",
                    server.version,
                    server.port,
                    server.bin.display()
                );
                (server.url("postgres"), Some(server), origin)
            }
        };
        let name = format!(
            "iomesh_demo_{}_{}",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
            std::process::id()
        );
        let options = PgConnectOptions::from_str(&admin_url).with_context(|| {
            format!("DATABASE_URL {} is not a Postgres URL", redact(&admin_url))
        })?;
        let mut demo_url = url::Url::parse(&admin_url)
            .with_context(|| format!("DATABASE_URL {} is not a URL", redact(&admin_url)))?;
        demo_url.set_path(&name);
        let mut admin = options
            .connect()
            .await
            .with_context(|| format!("connecting to Postgres at {}", redact(&admin_url)))?;
        // The name is ours (letters, digits, underscores): safe to splice.
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .with_context(|| format!("creating the demo database {name}"))?;
        admin.close().await.ok();
        Ok(Self {
            url: demo_url.to_string(),
            origin,
            admin_url,
            name,
            private,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the demo database (or stops the private server) unless `keep`.
    /// Every pool on it must be closed first.
    pub async fn finish(self, keep: bool) -> Result<()> {
        if keep {
            // A kept private server keeps running so the data can be read.
            if let Some(server) = self.private {
                server.detach();
            }
            return Ok(());
        }
        if let Some(server) = self.private {
            return server.stop();
        }
        iomesh_db::drop_database(&self.admin_url, &self.name)
            .await
            .with_context(|| format!("dropping the demo database {}", self.name))
    }
}

/// A URL with its password hidden, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// A Postgres server of this process: initdb'd into a directory of its own,
/// listening on a free local port with trust authentication.
struct PrivateServer {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    version: String,
    /// `runuser -u USER --` when running as root (Postgres refuses root).
    run_as: Vec<String>,
    stopped: bool,
}

impl PrivateServer {
    fn start(work_dir: &Path) -> Result<Self> {
        let bin = find_binaries()?;
        let version = output(Command::new(bin.join("pg_ctl")).arg("--version"))
            // "pg_ctl (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"
            .map(|v| v.split_whitespace().nth(2).unwrap_or_default().to_string())
            .unwrap_or_default();
        let root = work_dir.join("postgres");
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        let run_as = unprivileged_user(work_dir, &root)?;
        let data = root.join("data");
        let port = free_port()?;
        let mut server = Self {
            bin,
            data,
            port,
            version,
            run_as,
            stopped: true,
        };
        let mut initdb = server.command("initdb");
        initdb
            .arg("-D")
            .arg(&server.data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"]);
        run(&mut initdb).context("initdb of the private Postgres server")?;
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
            root.display()
        );
        let mut start = server.command("pg_ctl");
        start
            .arg("-D")
            .arg(&server.data)
            .arg("-l")
            .arg(root.join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"]);
        run(&mut start).with_context(|| {
            format!(
                "starting the private Postgres server (log: {})",
                root.join("server.log").display()
            )
        })?;
        server.stopped = false;
        Ok(server)
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match self.run_as.split_first() {
            None => Command::new(path),
            Some((first, rest)) => {
                let mut command = Command::new(first);
                command.args(rest).arg(path);
                command
            }
        }
    }

    fn stop(mut self) -> Result<()> {
        self.stopped = true;
        let mut stop = self.command("pg_ctl");
        stop.arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"]);
        run(&mut stop).context("stopping the private Postgres server")
    }

    /// Leaves the server running past this process (`--keep`).
    fn detach(mut self) {
        self.stopped = true;
    }
}

impl Drop for PrivateServer {
    /// A demo that fails or is interrupted still stops its server.
    fn drop(&mut self) {
        if !self.stopped {
            let mut stop = self.command("pg_ctl");
            stop.arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "-w", "stop"]);
            let _ = stop.output();
        }
    }
}

/// initdb and pg_ctl: on PATH, else the newest Debian /usr/lib/postgresql/*/bin.
fn find_binaries() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Ok(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        anyhow!(
            "no DATABASE_URL given and no PostgreSQL server binaries (initdb, pg_ctl) found \
             on PATH or in /usr/lib/postgresql/*/bin: install PostgreSQL \
             (e.g. `apt install postgresql`) or pass --database-url"
        )
    })
}

/// Postgres refuses to run as root: as root, the server runs as `postgres`
/// (or `nobody`), which must be able to reach and own its directory.
#[cfg(unix)]
fn unprivileged_user(work_dir: &Path, root: &Path) -> Result<Vec<String>> {
    use std::os::unix::fs::{chown, PermissionsExt};
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(Vec::new());
    }
    let user = ["postgres", "nobody"]
        .into_iter()
        .find(|user| {
            Command::new("id")
                .arg("-u")
                .arg(user)
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .ok_or_else(|| {
            anyhow!("running as root and neither user postgres nor nobody exists to run Postgres")
        })?;
    let uid: u32 = output(Command::new("id").args(["-u", user]))?
        .trim()
        .parse()?;
    let gid: u32 = output(Command::new("id").args(["-g", user]))?
        .trim()
        .parse()?;
    // The work directory must be traversable for the server's user.
    for dir in [work_dir, root] {
        let mut permissions = std::fs::metadata(dir)?.permissions();
        permissions.set_mode(permissions.mode() | 0o711);
        std::fs::set_permissions(dir, permissions)?;
    }
    chown(root, Some(uid), Some(gid))
        .with_context(|| format!("chown {} to {user}", root.display()))?;
    Ok(vec![
        "runuser".into(),
        "-u".into(),
        user.into(),
        "--".into(),
    ])
}

#[cfg(not(unix))]
fn unprivileged_user(_: &Path, _: &Path) -> Result<Vec<String>> {
    Ok(Vec::new())
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn run(command: &mut Command) -> Result<()> {
    let out = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !out.status.success() {
        bail!(
            "{command:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn output(command: &mut Command) -> Result<String> {
    let out = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::PgConnection;

    /// Without DATABASE_URL the demo starts its own server from the installed
    /// binaries, creates its database there, and stops the server at the end.
    #[tokio::test]
    async fn a_private_server_is_started_used_and_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let database = DemoDatabase::create(None, dir.path()).await.unwrap();
        assert!(
            database.origin.starts_with("a private PostgreSQL"),
            "{}",
            database.origin
        );
        let mut connection = PgConnection::connect(&database.url).await.unwrap();
        let name: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&mut connection)
            .await
            .unwrap();
        assert_eq!(name, database.name());
        connection.close().await.unwrap();
        let url = database.url.clone();
        database.finish(false).await.unwrap();
        assert!(
            PgConnection::connect(&url).await.is_err(),
            "the private server is stopped"
        );
    }

    #[test]
    fn passwords_are_hidden_in_messages() {
        assert_eq!(
            redact("postgres://me:secret@db:5432/x"),
            "postgres://me:***@db:5432/x"
        );
        assert_eq!(redact("postgres://me@db/x"), "postgres://me@db/x");
    }
}
