//! Every endpoint of jobs-api against a real PostgreSQL: create/get/list, field-level
//! validation errors, idempotency (replay and conflict), keyset pagination over all pages,
//! OpenAPI, the admin endpoints and graceful shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

mod support;

use std::collections::HashSet;

use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_get_and_errors() {
    let mut api = support::TestApi::start().await;

    let (status, job) = api
        .post_job(
            json!({"kind": "hash", "payload": "abc", "maxAttempts": 5}),
            None,
        )
        .await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["status"], "queued");
    assert_eq!(job["kind"], "hash");
    assert_eq!(job["maxAttempts"], 5);
    assert_eq!(job["attempts"], 0);
    let id = job["id"].as_str().unwrap().to_owned();

    let (status, got) = api.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got, job);

    let (status, body) = api
        .get("/v1/jobs/0190c8f0-0000-7000-8000-000000000000")
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("job not found"))
    );
    let (status, body) = api.get("/v1/jobs/not-a-uuid").await;
    assert_eq!((status, body["field"].as_str()), (400, Some("id")));

    // Validation: status 400 and the offending field, table-driven.
    let big = "x".repeat(64 * 1024 + 1);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"payload": "x"}), "kind"),
        (json!({"kind": "compress", "payload": "x"}), "kind"),
        (json!({"kind": "hash"}), "payload"),
        (json!({"kind": "hash", "payload": ["x"]}), "payload"),
        (json!({"kind": "hash", "payload": big}), "payload"),
        (
            json!({"kind": "hash", "payload": "x", "maxAttempts": 0}),
            "maxAttempts",
        ),
        (
            json!({"kind": "hash", "payload": "x", "maxAttempts": 11}),
            "maxAttempts",
        ),
        (
            json!({"kind": "hash", "payload": "x", "colour": "red"}),
            "colour",
        ),
        (json!(["hash"]), "body"),
    ];
    for (body, field) in cases {
        let (status, err) = api.post_job(body.clone(), None).await;
        assert_eq!(status, 400, "{body}: {err}");
        assert_eq!(err["field"], field, "{body}: {err}");
        assert!(err["error"].as_str().unwrap().starts_with(field), "{err}");
    }
    let resp = api
        .http
        .post(format!("{}/v1/jobs", api.base))
        .body("kind=hash")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
    let (status, err) = api
        .post_job(json!({"kind": "hash", "payload": "x"}), Some("has space"))
        .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (400, Some("Idempotency-Key"))
    );

    // Nothing invalid was stored.
    let (_, page) = api.get("/v1/jobs?limit=100").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);

    let (status, doc) = api.get("/openapi.json").await;
    assert_eq!(status, 200);
    for path in ["/v1/jobs", "/v1/jobs/{id}"] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["paths"]["/v1/jobs"]["post"]["requestBody"].is_object());
    assert_eq!(
        doc["components"]["schemas"]["Kind"]["enum"],
        json!(["hash", "summarise"])
    );

    assert_eq!(api.admin_get("/livez").await.0, 200);
    assert_eq!(api.admin_get("/readyz").await.0, 200);
    let (status, metrics) = api.admin_get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"http_requests_total{method="POST",route="/v1/jobs",status="201"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"route="/v1/jobs/{id}",status="404"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"http_request_duration_seconds_count{method="GET",route="/v1/jobs/{id}"} 3"#
        ),
        "{metrics}"
    );

    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_replays_and_conflicts() {
    let api = support::TestApi::start().await;
    let body = json!({"kind": "summarise", "payload": "a b a"});
    let (s1, first) = api.post_job(body.clone(), Some("order-1")).await;
    assert_eq!(s1, 201);
    let (s2, again) = api.post_job(body.clone(), Some("order-1")).await;
    assert_eq!(s2, 200);
    assert_eq!(again["id"], first["id"]);
    // The default made explicit is the same request.
    let (s3, same) = api
        .post_job(
            json!({"kind": "summarise", "payload": "a b a", "maxAttempts": 3}),
            Some("order-1"),
        )
        .await;
    assert_eq!((s3, &same["id"]), (200, &first["id"]));
    let (s4, err) = api
        .post_job(
            json!({"kind": "summarise", "payload": "other"}),
            Some("order-1"),
        )
        .await;
    assert_eq!(s4, 409, "{err}");
    assert_eq!(err["field"], "Idempotency-Key");
    let (s5, other) = api.post_job(body.clone(), Some("order-2")).await;
    assert_eq!(s5, 201);
    assert_ne!(other["id"], first["id"]);

    // Concurrent first uses of one key: exactly one job.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (http, base) = (api.http.clone(), api.base.clone());
        tasks.push(tokio::spawn(async move {
            let resp = http
                .post(format!("{base}/v1/jobs"))
                .header("Idempotency-Key", "race")
                .json(&json!({"kind": "hash", "payload": "race"}))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap();
            (status, body["id"].as_str().unwrap().to_owned())
        }));
    }
    let mut ids = HashSet::new();
    let mut created = 0;
    for t in tasks {
        let (status, id) = t.await.unwrap();
        assert!(status == 200 || status == 201, "{status}");
        created += usize::from(status == 201);
        ids.insert(id);
    }
    assert_eq!((created, ids.len()), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_walks_every_job_once() {
    let api = support::TestApi::start().await;
    let total = 57;
    let mut created = Vec::new();
    for (i, job) in jobs_common::fixtures::jobs(3, total)
        .into_iter()
        .enumerate()
    {
        let (status, body) = api
            .post_job(json!({"kind": job.kind.as_str(), "payload": job.payload, "maxAttempts": job.max_attempts}), None)
            .await;
        assert_eq!(status, 201, "job {i}: {body}");
        created.push(body["id"].as_str().unwrap().to_owned());
    }
    // One job failed, to have something to filter on.
    let client = api.pg.admin("jobs").await.unwrap();
    client
        .execute(
            "UPDATE jobs SET status = 'failed' WHERE id = $1::text::uuid",
            &[&created[10]],
        )
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page_no in 0.. {
        assert!(page_no < 20, "pagination does not end");
        let path = match &cursor {
            Some(c) => format!("/v1/jobs?limit=10&cursor={c}"),
            None => "/v1/jobs?limit=10".to_owned(),
        };
        let (status, page) = api.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 10);
        seen.extend(items.iter().map(|j| j["id"].as_str().unwrap().to_owned()));
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a job appeared twice");
    assert_eq!(seen.len(), total, "a job was skipped");
    let mut newest_first = created.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first, "not newest first");

    let (_, failed) = api.get("/v1/jobs?status=failed").await;
    let items = failed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], created[10].as_str());
    assert!(failed["nextCursor"].is_null());
    let (_, queued) = api.get("/v1/jobs?status=queued&limit=100").await;
    assert_eq!(queued["items"].as_array().unwrap().len(), total - 1);
    for (q, field) in [
        ("limit=0", "limit"),
        ("status=done", "status"),
        ("cursor=zzz", "cursor"),
        ("sort=asc", "sort"),
    ] {
        let (status, err) = api.get(&format!("/v1/jobs?{q}")).await;
        assert_eq!((status, err["field"].as_str()), (400, Some(field)), "{q}");
    }
}
