//! Configuration from the environment, validated once at start.
//!
//! Every setting is a clap flag that is also an environment variable (`APP_…`, plus the standard
//! `OTEL_…` ones), grouped in argument structs that the binaries flatten: [`DatabaseArgs`],
//! [`AdminArgs`], [`TelemetryArgs`], [`ShutdownArgs`]. Parsers name the variable in their error
//! ("APP_LISTEN must be …"), so a bad deployment fails at start with a message that says which
//! variable to fix. Files named by variables (the password file) are checked by
//! [`DatabaseArgs::validate`] before anything listens. Nothing here reads the environment after
//! start, except the password file, which [`crate::db`] re-reads on every new connection.

use std::{net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use clap::Args;

/// The settings both services take: admin listener, database, telemetry and shutdown timing.
#[derive(Clone, Debug, Args)]
pub struct ServiceArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    #[command(flatten)]
    pub shutdown: ShutdownArgs,
}

/// PostgreSQL connection settings.
#[derive(Clone, Debug, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL without a password, e.g. postgres://jobs@postgres.jobs.svc:5432/jobs
    // The empty default goes through the parser, which reports the missing variable by name.
    #[arg(long, env = "APP_DATABASE_URL", value_parser = database_url, default_value = "", hide_default_value = true)]
    pub database_url: tokio_postgres::Config,
    /// File holding the database password; re-read on every new connection.
    #[arg(long, env = "APP_DATABASE_PASSWORD_FILE")]
    pub database_password_file: Option<PathBuf>,
    /// Maximum connections in the pool.
    #[arg(long, env = "APP_DATABASE_POOL_SIZE", default_value = "16",
          value_parser = bounded("APP_DATABASE_POOL_SIZE", 1, 1000))]
    pub database_pool_size: u64,
    /// Connections older than this are closed and replaced (and re-authenticate).
    #[arg(long, env = "APP_DATABASE_MAX_LIFETIME", default_value = "30m",
          value_parser = duration("APP_DATABASE_MAX_LIFETIME"))]
    pub database_max_lifetime: Duration,
    /// Bound on connecting and on waiting for a free pooled connection.
    #[arg(long, env = "APP_DATABASE_CONNECT_TIMEOUT", default_value = "5s",
          value_parser = duration("APP_DATABASE_CONNECT_TIMEOUT"))]
    pub database_connect_timeout: Duration,
}

impl DatabaseArgs {
    /// Settings for `url` (no password in it) and an optional password file, defaults otherwise.
    pub fn new(url: &str, password_file: Option<PathBuf>) -> Result<Self, String> {
        Ok(Self {
            database_url: database_url(url)?,
            database_password_file: password_file,
            database_pool_size: 16,
            database_max_lifetime: Duration::from_secs(30 * 60),
            database_connect_timeout: Duration::from_secs(5),
        })
    }

    /// Checks what a parser cannot: the password file exists, is readable and not empty.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(path) = &self.database_password_file {
            match std::fs::read_to_string(path) {
                Ok(s) if s.trim_end_matches(['\r', '\n']).is_empty() => {
                    return Err(format!(
                        "APP_DATABASE_PASSWORD_FILE {}: file is empty",
                        path.display()
                    ));
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(format!(
                        "APP_DATABASE_PASSWORD_FILE {}: {e}",
                        path.display()
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The plaintext admin listener (`/livez`, `/readyz`, `/metrics`).
#[derive(Clone, Debug, Args)]
pub struct AdminArgs {
    /// Address of the admin listener.
    #[arg(long, env = "APP_ADMIN_LISTEN", default_value = "0.0.0.0:9090",
          value_parser = socket_addr("APP_ADMIN_LISTEN"))]
    pub admin_listen: SocketAddr,
}

/// Logs and traces.
#[derive(Clone, Debug, Args)]
pub struct TelemetryArgs {
    /// OTLP/gRPC collector, e.g. http://otel-collector.monitoring.svc:4317; unset: no export.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_parser = otlp_endpoint)]
    pub otlp_endpoint: Option<String>,
    /// Service name on exported spans (default: the binary's name).
    #[arg(long, env = "OTEL_SERVICE_NAME")]
    pub otel_service_name: Option<String>,
    /// Log filter in tracing-subscriber's EnvFilter syntax.
    #[arg(long, env = "APP_LOG", default_value = "info")]
    pub log: String,
    /// Log format: json (one object per line) or text.
    #[arg(long, env = "APP_LOG_FORMAT", default_value = "json", value_parser = ["json", "text"])]
    pub log_format: String,
}

/// Shutdown timing. Together they must stay below the pod's terminationGracePeriodSeconds minus
/// its preStop sleep (30 s - 5 s in deploy/base/workloads).
#[derive(Clone, Debug, Args)]
pub struct ShutdownArgs {
    /// After SIGTERM: how long readiness fails before the listener stops accepting.
    #[arg(long, env = "APP_SHUTDOWN_GRACE", default_value = "3s",
          value_parser = duration("APP_SHUTDOWN_GRACE"))]
    pub shutdown_grace: Duration,
    /// Bound on finishing in-flight requests (API) or jobs (worker) after that.
    #[arg(long, env = "APP_DRAIN_TIMEOUT", default_value = "15s",
          value_parser = duration("APP_DRAIN_TIMEOUT"))]
    pub drain_timeout: Duration,
}

// === parsers ===

/// Parses a PostgreSQL URL (or key=value string) and rejects one carrying a password.
pub fn database_url(s: &str) -> Result<tokio_postgres::Config, String> {
    if s.is_empty() {
        return Err("APP_DATABASE_URL is required (postgres://USER@HOST:PORT/DATABASE)".into());
    }
    let config = tokio_postgres::Config::from_str(s)
        .map_err(|e| format!("APP_DATABASE_URL is not a PostgreSQL URL ({e})"))?;
    if config.get_password().is_some() {
        return Err(
            "APP_DATABASE_URL must not contain a password: put it in the file named by \
                    APP_DATABASE_PASSWORD_FILE"
                .into(),
        );
    }
    if config.get_user().is_none() {
        return Err("APP_DATABASE_URL must name a user (postgres://USER@host:port/db)".into());
    }
    if config.get_hosts().is_empty() {
        return Err("APP_DATABASE_URL must name a host".into());
    }
    Ok(config)
}

fn otlp_endpoint(s: &str) -> Result<String, String> {
    if s.starts_with("http://") || s.starts_with("https://") {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "OTEL_EXPORTER_OTLP_ENDPOINT must start with http:// or https://, got {s:?}"
        ))
    }
}

/// A parser for a socket address that names `var` in its error.
pub fn socket_addr(
    var: &'static str,
) -> impl Fn(&str) -> Result<SocketAddr, String> + Clone + Send + Sync + 'static {
    move |s| {
        s.parse()
            .map_err(|e| format!("{var} must be an address such as 0.0.0.0:8080 ({e})"))
    }
}

/// A parser for an integer in `min..=max` that names `var` in its error.
pub fn bounded(
    var: &'static str,
    min: u64,
    max: u64,
) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    move |s| match s.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{var} must be an integer from {min} to {max}, got {s:?}"
        )),
    }
}

/// A parser for a duration ("250ms", "5s", "2m", "1h"; a bare number is seconds).
pub fn duration(
    var: &'static str,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |s| {
        parse_duration(s)
            .ok_or_else(|| format!("{var} must be a duration such as 500ms, 5s or 2m, got {s:?}"))
    }
}

fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number.parse().ok()?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_duration("-1s"), None);
        let err = duration("APP_DRAIN_TIMEOUT")("soon").unwrap_err();
        assert!(
            err.starts_with("APP_DRAIN_TIMEOUT must be a duration"),
            "{err}"
        );
    }

    #[test]
    fn database_url_rejects_passwords_and_names_the_variable() {
        let ok = database_url("postgres://jobs@db.example:5432/jobs").unwrap();
        assert_eq!(ok.get_user(), Some("jobs"));
        let err = database_url("postgres://jobs:secret@db:5432/jobs").unwrap_err();
        assert!(err.contains("APP_DATABASE_PASSWORD_FILE"), "{err}");
        let err = database_url("postgres://db:5432/jobs").unwrap_err();
        assert!(err.contains("must name a user"), "{err}");
    }

    #[test]
    fn addresses_and_bounds_name_the_variable() {
        let err = socket_addr("APP_LISTEN")("localhost").unwrap_err();
        assert!(err.starts_with("APP_LISTEN must be an address"), "{err}");
        assert_eq!(bounded("N", 1, 10)("10"), Ok(10));
        assert!(
            bounded("N", 1, 10)("11")
                .unwrap_err()
                .starts_with("N must be an integer")
        );
    }

    #[test]
    fn password_file_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        let mut args =
            DatabaseArgs::new("postgres://jobs@127.0.0.1/jobs", Some(path.clone())).unwrap();
        assert!(
            args.validate()
                .unwrap_err()
                .contains("APP_DATABASE_PASSWORD_FILE")
        );
        std::fs::write(&path, "\n").unwrap();
        assert!(args.validate().unwrap_err().contains("empty"));
        std::fs::write(&path, "s3cret\n").unwrap();
        args.validate().unwrap();
        args.database_password_file = None;
        args.validate().unwrap();
    }
}
