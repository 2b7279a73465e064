//! PostgreSQL connection pool whose connections pick up a rotated password without a restart.
//!
//! A small [`deadpool`] manager: every new connection reads `APP_DATABASE_PASSWORD_FILE` afresh
//! (Kubernetes updates a whole-directory Secret mount in place), and a connection refused for a
//! bad password re-reads the file and retries once after a short pause — the window between
//! `ALTER ROLE … PASSWORD` and the new file appearing (see `pipelines/rotate-db-password.sh`).
//! Pooled connections are retired after `APP_DATABASE_MAX_LIFETIME`, so the pool as a whole moves
//! to the new password too. Existing sessions are unaffected by a password change in PostgreSQL.
//! Queries live in [`crate::jobs`]; this module knows nothing about the schema.
//! Connections are plaintext (`NoTls`): inside the cluster the NetworkPolicy restricts who may
//! reach the database; TLS to a managed database is not implemented.

use std::{path::PathBuf, time::Duration};

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use tokio_postgres::{Client, NoTls, error::SqlState};
use tracing::{debug, warn};

use crate::config::DatabaseArgs;

/// Pause before the single retry after an authentication failure.
const AUTH_RETRY_DELAY: Duration = Duration::from_millis(250);

/// The connection pool shared by request handlers, workers and health checks.
pub type Pool = managed::Pool<Manager>;
/// A pooled connection; dereferences to [`tokio_postgres::Client`].
pub type Conn = managed::Object<Manager>;

/// Errors of connecting, pooling and querying.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot read the database password from {path}")]
    PasswordFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    #[error("no database connection within {0:?}")]
    Timeout(Duration),
    #[error("the connection pool is closed")]
    Closed,
    #[error("unexpected value in column {column}: {value:?}")]
    Corrupt { column: &'static str, value: String },
    #[error("connection pool hook failed: {0}")]
    PoolHook(String),
}

impl DbError {
    /// Whether PostgreSQL rejected the credentials.
    pub fn is_auth_failure(&self) -> bool {
        matches!(self, DbError::Postgres(e)
            if e.code() == Some(&SqlState::INVALID_PASSWORD)
                || e.code() == Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION))
    }
}

/// Creates and recycles connections; see the module documentation.
#[derive(Debug)]
pub struct Manager {
    config: tokio_postgres::Config,
    password_file: Option<PathBuf>,
    max_lifetime: Duration,
}

impl Manager {
    pub fn new(args: &DatabaseArgs) -> Self {
        let mut config = args.database_url.clone();
        config.connect_timeout(args.database_connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name(env!("CARGO_PKG_NAME"));
        }
        Self {
            config,
            password_file: args.database_password_file.clone(),
            max_lifetime: args.database_max_lifetime,
        }
    }

    /// Opens one connection: reads the password file, and on an authentication failure reads
    /// it again and retries once.
    pub async fn connect(&self) -> Result<Client, DbError> {
        match self.try_connect().await {
            Err(e) if e.is_auth_failure() && self.password_file.is_some() => {
                warn!(error = %e, "Database authentication failed; re-reading the password file and retrying once");
                tokio::time::sleep(AUTH_RETRY_DELAY).await;
                self.try_connect().await
            }
            result => result,
        }
    }

    async fn try_connect(&self) -> Result<Client, DbError> {
        let mut config = self.config.clone();
        if let Some(path) = &self.password_file {
            let raw =
                tokio::fs::read_to_string(path)
                    .await
                    .map_err(|source| DbError::PasswordFile {
                        path: path.clone(),
                        source,
                    })?;
            config.password(raw.trim_end_matches(['\r', '\n']));
        }
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!(%error, "Database connection closed");
            }
        });
        Ok(client)
    }
}

impl managed::Manager for Manager {
    type Type = Client;
    type Error = DbError;

    async fn create(&self) -> Result<Client, DbError> {
        self.connect().await
    }

    async fn recycle(&self, client: &mut Client, metrics: &Metrics) -> RecycleResult<DbError> {
        if client.is_closed() {
            return Err(RecycleError::message("connection closed"));
        }
        if metrics.age() > self.max_lifetime {
            return Err(RecycleError::message(
                "connection reached its maximum lifetime",
            ));
        }
        Ok(())
    }
}

/// Builds the pool; connects lazily (nothing is dialled here).
pub fn pool(args: &DatabaseArgs) -> Result<Pool, anyhow::Error> {
    let timeout = args.database_connect_timeout;
    let size = usize::try_from(args.database_pool_size)?;
    Ok(Pool::builder(Manager::new(args))
        .max_size(size)
        .wait_timeout(Some(timeout))
        // Connecting may take one authentication retry on top of the connect timeout.
        .create_timeout(Some(timeout + timeout + AUTH_RETRY_DELAY))
        .recycle_timeout(Some(timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()?)
}

/// A connection from the pool, with pool errors folded into [`DbError`].
pub async fn get(pool: &Pool) -> Result<Conn, DbError> {
    pool.get().await.map_err(|e| match e {
        managed::PoolError::Backend(e) => e,
        managed::PoolError::Timeout(_) => {
            DbError::Timeout(pool.timeouts().wait.unwrap_or_default())
        }
        managed::PoolError::Closed | managed::PoolError::NoRuntimeSpecified => DbError::Closed,
        managed::PoolError::PostCreateHook(e) => DbError::PoolHook(e.to_string()),
    })
}

/// `SELECT 1` through the pool: what readiness checks.
pub async fn ping(pool: &Pool) -> Result<(), DbError> {
    let conn = get(pool).await?;
    conn.simple_query("SELECT 1").await?;
    Ok(())
}
