//! A throwaway PostgreSQL server on a free 127.0.0.1 port, in a temporary folder.
//!
//! Mirrors `deploy/scripts/test-rotate-db-password.sh`: `initdb` with SCRAM authentication for
//! local and host connections, a superuser `postgres` with a random password, an unprivileged
//! role `jobs` owning database `jobs`, and the role's password in a file the services read
//! (`APP_DATABASE_PASSWORD_FILE`). The postmaster is our own child process (started directly, not
//! through `pg_ctl`), stopped by its PID with SIGINT (fast shutdown). As root, the server runs as
//! the `postgres` OS user, which PostgreSQL requires. Durability is off (`fsync=off`): these
//! servers hold test data only. [`PgServer::rotate_password`] rotates the role's password the way
//! `pipelines/rotate-db-password.sh` does: the server only ever sees a SCRAM verifier made here,
//! and the file is replaced atomically after `ALTER ROLE` succeeds.

use std::{
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{Context as _, bail};
use rustix::process::Signal;
use tokio_postgres::{Client, NoTls};

use super::{free_port, process::Proc};
use crate::{config::DatabaseArgs, db, migrate};

/// A running (or stopped) test server. Dropping it stops the server and deletes its files.
#[derive(Debug)]
pub struct PgServer {
    bin: PathBuf,
    run_as: Option<(u32, u32)>,
    port: u16,
    admin_password: String,
    server: Option<Proc>,
    password_file: PathBuf,
    // Last: removed after the server stopped.
    dir: tempfile::TempDir,
}

impl PgServer {
    /// Starts a server with role and database `jobs`. An error naming the fix when the server
    /// binaries are missing (`make bootstrap` installs them): a test never skips for want of them.
    pub async fn start() -> anyhow::Result<PgServer> {
        let Some(bin) = find_bin() else {
            bail!(
                "PostgreSQL server binaries (initdb, postgres) not found in PG_BIN, \
                 /usr/lib/postgresql/*/bin or PATH: run `make bootstrap` (it installs the Debian \
                 package postgresql-15), or set PG_BIN to the folder holding them"
            );
        };
        let run_as = server_user()?;
        let dir = tempfile::Builder::new().prefix("jobs-pg-").tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let data = dir.path().join("data");
        let run = dir.path().join("run");
        for (path, mode) in [(&data, 0o700), (&run, 0o755)] {
            std::fs::create_dir(path)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            chown(path, run_as)?;
        }
        let admin_password = random_secret();
        let pwfile = dir.path().join("admin-pw");
        std::fs::write(&pwfile, &admin_password)?;
        chown(&pwfile, run_as)?;
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-E", "UTF8", "--no-sync"]);
        initdb.args(["--auth-local=scram-sha-256", "--auth-host=scram-sha-256"]);
        initdb.arg(format!("--pwfile={}", pwfile.display()));
        as_user(&mut initdb, run_as);
        let out = initdb.output().context("running initdb")?;
        std::fs::remove_file(&pwfile)?;
        if !out.status.success() {
            bail!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }

        let mut pg = PgServer {
            bin,
            run_as,
            port: free_port()?,
            admin_password,
            server: None,
            password_file: dir.path().join("secrets").join("password"),
            dir,
        };
        pg.spawn_and_wait().await?;

        let app_password = random_secret();
        let verifier = postgres_protocol::password::scram_sha_256(app_password.as_bytes());
        let admin = pg.admin("postgres").await?;
        // Separate statements: CREATE DATABASE cannot run in the implicit transaction of a batch.
        admin
            .batch_execute(&format!(
                "CREATE ROLE jobs LOGIN PASSWORD {}",
                quote(&verifier)
            ))
            .await?;
        admin
            .batch_execute("CREATE DATABASE jobs OWNER jobs")
            .await?;
        std::fs::create_dir(dir_of(&pg.password_file))?;
        std::fs::write(&pg.password_file, &app_password)?;
        std::fs::set_permissions(&pg.password_file, std::fs::Permissions::from_mode(0o600))?;
        Ok(pg)
    }

    async fn spawn_and_wait(&mut self) -> anyhow::Result<()> {
        let mut cmd = Command::new(self.bin.join("postgres"));
        cmd.arg("-D").arg(self.dir.path().join("data"));
        cmd.arg("-p").arg(self.port.to_string());
        cmd.arg("-k").arg(self.dir.path().join("run"));
        for setting in [
            "listen_addresses=127.0.0.1",
            "max_connections=300",
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
            "log_min_messages=warning",
        ] {
            cmd.args(["-c", setting]);
        }
        as_user(&mut cmd, self.run_as);
        let log = self.dir.path().join("server.log");
        self.server = Some(Proc::spawn("postgres", cmd, &log)?);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if self.admin("postgres").await.is_ok() {
                return Ok(());
            }
            if let Some(server) = &mut self.server
                && let Some(status) = server.try_wait()?
            {
                bail!("postgres exited with {status}:\n{}", server.log_tail(30));
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "postgres not accepting connections after 30 s:\n{}",
                    self.log_tail(30)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fast shutdown (SIGINT to the postmaster's PID), bounded; SIGKILL after 20 s.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut server) = self.server.take() {
            server.stop(Signal::INT, Duration::from_secs(20))?;
        }
        Ok(())
    }

    /// Starts the stopped server again on the same port with the same data.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop()?;
        self.spawn_and_wait().await
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://jobs@127.0.0.1:PORT/jobs` (no password: that is in [`Self::password_file`]).
    pub fn database_url(&self) -> String {
        format!("postgres://jobs@127.0.0.1:{}/jobs", self.port)
    }

    pub fn password_file(&self) -> &Path {
        &self.password_file
    }

    /// The services' database settings for this server.
    pub fn database_args(&self) -> anyhow::Result<DatabaseArgs> {
        DatabaseArgs::new(&self.database_url(), Some(self.password_file.clone()))
            .map_err(anyhow::Error::msg)
    }

    /// A pool of the `jobs` role on a migrated schema.
    pub async fn migrated_pool(&self) -> anyhow::Result<db::Pool> {
        let pool = db::pool(&self.database_args()?)?;
        let mut conn = db::get(&pool).await?;
        migrate::run(&mut conn).await?;
        Ok(pool)
    }

    /// A superuser connection to `database`.
    pub async fn admin(&self, database: &str) -> anyhow::Result<Client> {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .dbname(database);
        config
            .password(&self.admin_password)
            .connect_timeout(Duration::from_secs(2));
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// Rotates the `jobs` role's password as `pipelines/rotate-db-password.sh` does: new random
    /// password, its SCRAM verifier computed here, `ALTER ROLE`, then an atomic file replace.
    /// `store_delay` between the two stands for the secret store's propagation (ESO sync plus the
    /// kubelet's refresh in a cluster): new connections made meanwhile fail with the old password.
    pub async fn rotate_password(&self, store_delay: Duration) -> anyhow::Result<()> {
        let password = random_secret();
        let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
        let admin = self.admin("postgres").await?;
        admin
            .batch_execute(&format!("ALTER ROLE jobs PASSWORD {}", quote(&verifier)))
            .await?;
        tokio::time::sleep(store_delay).await;
        let tmp = self
            .password_file
            .with_extension(format!("new.{}", std::process::id()));
        std::fs::write(&tmp, &password)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&tmp, &self.password_file)?;
        Ok(())
    }

    /// The end of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// `PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`, else the `PATH` entry with both tools.
fn find_bin() -> Option<PathBuf> {
    let has_tools = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Some(PathBuf::from(dir)).filter(|d| has_tools(d));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| has_tools(bin))
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).find(|d| has_tools(d))
}

/// As root: the uid and gid of the `postgres` OS user (PostgreSQL refuses to run as root).
fn server_user() -> anyhow::Result<Option<(u32, u32)>> {
    if !rustix::process::geteuid().is_root() {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() > 3 && fields[0] == "postgres" {
            return Ok(Some((fields[2].parse()?, fields[3].parse()?)));
        }
    }
    bail!(
        "running as root: PostgreSQL needs an unprivileged OS user named 'postgres' (apt-get install postgresql creates it)"
    )
}

fn as_user(cmd: &mut Command, run_as: Option<(u32, u32)>) {
    if let Some((uid, gid)) = run_as {
        cmd.gid(gid).uid(uid);
    }
}

fn chown(path: &Path, run_as: Option<(u32, u32)>) -> std::io::Result<()> {
    match run_as {
        Some((uid, gid)) => std::os::unix::fs::chown(path, Some(uid), Some(gid)),
        None => Ok(()),
    }
}

fn dir_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

fn random_secret() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A single-quoted SQL literal.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
