//! Shared by the API integration tests: a real PostgreSQL (a missing server fails the test,
//! naming the fix: `make bootstrap`), the API served in-process on loopback ports, and an
//! HTTP client. Each test gets its own server and database; everything stops on drop.

// Test support: failing loudly is the point.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use jobs_api::local::LocalApi;
use jobs_common::{Pool, config::DatabaseArgs, db, migrate, testing::postgres::PgServer};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct TestApi {
    pub pg: PgServer,
    pub pool: Pool,
    pub base: String,
    pub admin: String,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
    pub task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApi {
    /// Panics, naming the fix, when PostgreSQL is not installed.
    pub async fn start() -> TestApi {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tune: impl FnOnce(&mut DatabaseArgs)) -> TestApi {
        let pg = PgServer::start().await.expect("starting PostgreSQL");
        let mut args = pg.database_args().unwrap();
        tune(&mut args);
        let pool = db::pool(&args).unwrap();
        migrate::run(&mut db::get(&pool).await.unwrap())
            .await
            .unwrap();
        let local = LocalApi::start(pool.clone()).await.unwrap();
        TestApi {
            pg,
            pool,
            base: local.base,
            admin: local.admin,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            shutdown: local.shutdown,
            task: Some(local.task),
        }
    }

    pub async fn post_job(&self, body: Value, key: Option<&str>) -> (u16, Value) {
        let mut req = self.http.post(format!("{}/v1/jobs", self.base)).json(&body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        json_reply(req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        json_reply(self.fetch(&self.base, path).await).await
    }

    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        let resp = self.fetch(&self.admin, path).await;
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// GET `base` followed by `path`.
    async fn fetch(&self, base: &str, path: &str) -> reqwest::Response {
        self.http.get(format!("{base}{path}")).send().await.unwrap()
    }

    /// Stops the API the way SIGTERM would and waits for it.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .unwrap()
                .unwrap()
                .unwrap();
        }
    }
}

/// The status and the JSON body (`null` when the body is not JSON).
async fn json_reply(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}
