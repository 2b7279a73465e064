//! Versioned schema migrations: plain SQL files embedded in the binaries.
//!
//! `jobs-api migrate` (and `jobs-worker migrate`) call [`run`]. Each migration runs in its own
//! transaction and is recorded in `schema_migrations` with a SHA-256 of its text; a recorded
//! migration whose text changed is an error (edit by adding a new file, never in place).
//! Concurrent runs — two pods of the migration Job, or a developer and CI — serialise on a
//! transaction-scoped advisory lock and re-check what is applied after taking it. Versions in the
//! database that this binary does not know are tolerated (an older binary during a rollout).
//! There are no down migrations: schema changes are expand/contract.

use sha2::{Digest, Sha256};
use tokio_postgres::Client;
use tracing::info;

use crate::db::DbError;

/// Advisory lock key serialising migration runs ("jobs" in ASCII).
const LOCK_KEY: i64 = 0x6a6f6273;

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// All migrations, in order.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "jobs",
    sql: include_str!("../migrations/0001_jobs.sql"),
}];

/// Errors of a migration run.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("migration {version} ({name}) failed")]
    Failed {
        version: i32,
        name: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error(
        "migration {version} ({name}) was changed after it was applied (checksum {recorded} in the database, {embedded} in this binary)"
    )]
    Changed {
        version: i32,
        name: &'static str,
        recorded: String,
        embedded: String,
    },
}

impl From<tokio_postgres::Error> for MigrateError {
    fn from(e: tokio_postgres::Error) -> Self {
        MigrateError::Db(DbError::Postgres(e))
    }
}

fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// Applies every pending migration; returns the versions applied by this call.
pub async fn run(client: &mut Client) -> Result<Vec<i32>, MigrateError> {
    run_set(client, MIGRATIONS).await
}

/// The `migrate` command of both services: applies every pending migration through a pooled
/// connection and logs the versions it applied.
pub async fn command(pool: &crate::db::Pool) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let mut conn = crate::db::get(pool)
        .await
        .context("connecting to the database")?;
    let applied = run(&mut conn).await?;
    tracing::info!(applied = ?applied, "Migrations complete");
    Ok(())
}

async fn run_set(client: &mut Client, migrations: &[Migration]) -> Result<Vec<i32>, MigrateError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             checksum   text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    tx.commit().await?;

    let mut applied = Vec::new();
    for m in migrations {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .await?;
        let embedded = checksum(m.sql);
        let recorded = tx
            .query_opt(
                "SELECT checksum FROM schema_migrations WHERE version = $1",
                &[&m.version],
            )
            .await?;
        if let Some(row) = recorded {
            let recorded: String = row.try_get(0)?;
            if recorded != embedded {
                return Err(MigrateError::Changed {
                    version: m.version,
                    name: m.name,
                    recorded,
                    embedded,
                });
            }
            continue;
        }
        tx.batch_execute(m.sql)
            .await
            .map_err(|source| MigrateError::Failed {
                version: m.version,
                name: m.name,
                source,
            })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &embedded],
        )
        .await?;
        tx.commit().await?;
        info!(version = m.version, name = m.name, "Applied migration");
        applied.push(m.version);
    }
    Ok(applied)
}

/// Test hook: runs an arbitrary migration set (to prove the checksum guard). Hidden from docs.
#[doc(hidden)]
pub async fn run_migrations(
    client: &mut Client,
    migrations: &[Migration],
) -> Result<Vec<i32>, MigrateError> {
    run_set(client, migrations).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_increasing_and_files_not_empty() {
        let mut last = 0;
        for m in MIGRATIONS {
            assert!(m.version > last, "migration {} out of order", m.version);
            assert!(
                m.sql.contains("CREATE"),
                "migration {} looks empty",
                m.version
            );
            last = m.version;
        }
    }

    #[test]
    fn checksum_is_stable() {
        assert_eq!(checksum("SELECT 1"), checksum("SELECT 1"));
        assert_ne!(checksum("SELECT 1"), checksum("SELECT 2"));
    }
}
