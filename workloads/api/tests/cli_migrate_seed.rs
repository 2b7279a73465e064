//! The `jobs-api` binary: configuration errors name the variable, `migrate` is idempotent and
//! safe to run concurrently, a changed migration is refused, and `seed` loads deterministic
//! demo data once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

use std::process::{Command, Output};

use jobs_common::{
    db,
    migrate::{self, MIGRATIONS, MigrateError, Migration},
    testing::postgres::PgServer,
};

fn jobs_api(pg: Option<&PgServer>, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jobs-api"));
    cmd.env_clear().env("APP_LOG_FORMAT", "text").args(args);
    if let Some(pg) = pg {
        cmd.env("APP_DATABASE_URL", pg.database_url());
        cmd.env("APP_DATABASE_PASSWORD_FILE", pg.password_file());
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn configuration_errors_name_the_variable() {
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("APP_DATABASE_URL", "postgres://jobs:hunter2@db/jobs")],
            "APP_DATABASE_PASSWORD_FILE",
        ),
        (
            &[
                ("APP_DATABASE_URL", "postgres://jobs@db/jobs"),
                ("APP_LISTEN", "8080"),
            ],
            "APP_LISTEN",
        ),
        (
            &[
                ("APP_DATABASE_URL", "postgres://jobs@db/jobs"),
                ("APP_DRAIN_TIMEOUT", "soon"),
            ],
            "APP_DRAIN_TIMEOUT",
        ),
        (
            &[
                ("APP_DATABASE_URL", "postgres://jobs@db/jobs"),
                ("APP_DATABASE_PASSWORD_FILE", "/nonexistent/pw"),
            ],
            "APP_DATABASE_PASSWORD_FILE /nonexistent/pw",
        ),
    ];
    for (env, expected) in cases {
        let out = jobs_api(None, &["migrate"], env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{env:?} was accepted");
        assert!(stderr.contains(expected), "{env:?}: {stderr}");
    }
    let out = jobs_api(None, &["migrate"], &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("APP_DATABASE_URL"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_and_seed() {
    let pg = PgServer::start().await.unwrap();
    // Three concurrent runs: all succeed, the schema is applied once.
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let (url, file) = (pg.database_url(), pg.password_file().to_owned());
            std::thread::spawn(move || {
                Command::new(env!("CARGO_BIN_EXE_jobs-api"))
                    .env_clear()
                    .env("APP_DATABASE_URL", url)
                    .env("APP_DATABASE_PASSWORD_FILE", file)
                    .arg("migrate")
                    .output()
                    .unwrap()
            })
        })
        .collect();
    for run in runs {
        let out = run.join().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let admin = pg.admin("jobs").await.unwrap();
    let n: i64 = admin
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, MIGRATIONS.len() as i64);

    let pool = db::pool(&pg.database_args().unwrap()).unwrap();
    let mut conn = db::get(&pool).await.unwrap();
    assert!(
        migrate::run(&mut conn).await.unwrap().is_empty(),
        "a second run applied something"
    );
    let edited = [Migration {
        sql: "CREATE TABLE sneaky (id int)",
        ..MIGRATIONS[0]
    }];
    match migrate::run_migrations(&mut conn, &edited).await {
        Err(MigrateError::Changed { version: 1, .. }) => {}
        other => panic!("an edited migration was not refused: {other:?}"),
    }

    for _ in 0..2 {
        let out = jobs_api(Some(&pg), &["seed", "--count", "50", "--seed", "7"], &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rows = admin
        .query(
            "SELECT kind, payload FROM jobs ORDER BY idempotency_key",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 50, "seeding twice must not duplicate");
    let expected = jobs_common::fixtures::jobs(7, 50);
    let first: String = admin
        .query_one(
            "SELECT payload FROM jobs WHERE idempotency_key = 'seed-7-0'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(first, expected[0].payload);
}
