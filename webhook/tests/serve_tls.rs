//! End to end over real TLS against the real `portcullis serve` binary, called the way the API
//! server calls it: the test CA as the only trust root, the Service DNS name as server name,
//! `?timeout=10s` on the URL. Proves decisions with the shipped restricted policy, policy hot
//! reload (a broken file keeps the last good set), certificate rotation without dropping
//! connections, and SIGTERM draining in-flight reviews to exit 0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod serve_support;

use serde_json::Value;
use serve_support::*;

const VALIDATE: &str = "/validate?timeout=10s";

#[tokio::test]
async fn decisions_over_tls_as_the_api_server_calls() {
    let work = Workdir::new();
    let server = work.start(&[]);

    let (status, body) = server.readyz().await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("[+]policies ok: 1 policies"), "{body}");
    assert_eq!(http_get(server.admin, "/livez").await.unwrap().0, 200);

    let mut client = work.connect(&server).await;
    assert_eq!(client.peer_cert, work.cert_der);
    let ok = client
        .review(VALIDATE, &review_for("e2e-ok", &compliant_pod()))
        .await;
    assert_eq!(ok["allowed"], true, "{ok}");
    let root = client
        .review(VALIDATE, &review_for("e2e-root", &root_pod()))
        .await;
    assert_eq!(root["allowed"], false, "{root}");
    let message = root["status"]["message"].as_str().unwrap();
    assert!(message.contains("pod-security-restricted"), "{message}");

    // /mutate answers with a patch (or none) that applies and leaves a valid Pod.
    let pod = root_pod();
    let mutated = client
        .review("/mutate?timeout=10s", &review_for("e2e-mutate", &pod))
        .await;
    let patched = apply_patch(&mutated, &pod);
    serde_json::from_value::<k8s_openapi::api::core::v1::Pod>(patched).unwrap();

    // Garbage gets an HTTP error, and the connection stays usable.
    let (status, _) = client.post(VALIDATE, b"{not json".to_vec()).await.unwrap();
    assert_eq!(status, 400);
    let again = client
        .review(VALIDATE, &review_for("e2e-again", &compliant_pod()))
        .await;
    assert_eq!(again["allowed"], true);

    // A client trusting another CA refuses the server.
    let other = Pki::new();
    assert!(
        Client::connect(server.admission, &other.ca_pem())
            .await
            .is_err()
    );

    let metrics = server.metrics().await;
    for needle in [
        "portcullis_admission_reviews_total{webhook=\"validate\",operation=\"CREATE\",kind=\"Pod\",decision=\"denied\"} 1",
        "portcullis_admission_reviews_total{webhook=\"validate\",operation=\"CREATE\",kind=\"Pod\",decision=\"allowed\"} 2",
        "portcullis_admission_review_duration_seconds_count{webhook=\"validate\"}",
        "portcullis_policy_results_total{policy=\"pod-security-restricted\"",
        "portcullis_policy_reloads_total{result=\"success\"} 1",
        "portcullis_admission_reviews_in_flight 0",
    ] {
        assert!(metrics.contains(needle), "{needle} not in\n{metrics}");
    }
    // JSON logs carry the review uid.
    let logs = server.log_text();
    let uid_line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "Denied");
    let uid_line = uid_line.unwrap_or_else(|| panic!("no Denied log line:\n{logs}"));
    assert!(uid_line.to_string().contains("e2e-root"), "{uid_line}");
}

#[tokio::test]
async fn broken_policy_keeps_the_last_good_set_and_a_fix_applies() {
    let work = Workdir::new();
    let server = work.start(&[]);
    let mut client = work.connect(&server).await;
    let root_review = review_for("reload-root", &root_pod());
    assert_eq!(
        client.review(VALIDATE, &root_review).await["allowed"],
        false
    );

    // A broken file: reported, and the restricted set stays in force.
    let broken = work.policies.join("zz-team.yaml");
    std::fs::write(
        &broken,
        "apiVersion: policy.portcullis.dev/v1alpha1\nkind: ClusterGuardrailPolicy\nmetadata: {name: team}\nspec:\n  mode: enforse\n",
    )
    .unwrap();
    let body = server.reload_error_reported("zz-team.yaml").await;
    assert_eq!(body.0, 200, "the last good set is still served: {}", body.1);
    assert!(body.1.contains("[+]policies ok: 1 policies"), "{}", body.1);
    assert_eq!(
        client.review(VALIDATE, &root_review).await["allowed"],
        false
    );
    let metrics = server.metrics().await;
    assert!(
        metric_value(
            &metrics,
            "portcullis_policy_reloads_total{result=\"error\"}"
        ) >= Some(1.0),
        "{metrics}"
    );

    // Fixed: baseline instead of restricted, and root pods are admitted.
    std::fs::write(&broken, BASELINE_POLICY).unwrap();
    std::fs::remove_file(work.policies.join("pod-security-restricted.yaml")).unwrap();
    let give_up = tokio::time::Instant::now() + EVENTUALLY;
    while client.review(VALIDATE, &root_review).await["allowed"] != true {
        assert!(
            tokio::time::Instant::now() < give_up,
            "the fixed policy set never applied"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, body) = server.readyz().await;
    assert_eq!(status, 200);
    assert!(!body.contains("policy-reload error"), "{body}");
    // The compliant pod is still fine under baseline.
    assert_eq!(
        client
            .review(VALIDATE, &review_for("reload-ok", &compliant_pod()))
            .await["allowed"],
        true
    );
}

#[tokio::test]
async fn rotated_certificate_is_served_without_dropping_connections() {
    let work = Workdir::new();
    let server = work.start(&[]);
    let ca = work.pki.ca_pem();
    let mut old = work.connect(&server).await;
    assert_eq!(old.peer_cert, work.cert_der);
    assert_eq!(
        old.review(VALIDATE, &review_for("rot-1", &compliant_pod()))
            .await["allowed"],
        true
    );

    let tls_dir = work.cert.parent().unwrap();
    let (_, _, new_der) = work.pki.write_leaf(tls_dir, "two");
    assert_ne!(new_der, work.cert_der);
    let mut fresh = eventually("new connections to see the new certificate", || {
        let (ca, new_der) = (ca.clone(), new_der.clone());
        let addr = server.admission;
        async move {
            let c = Client::connect(addr, &ca).await.unwrap();
            (c.peer_cert == new_der).then_some(c)
        }
    })
    .await;
    assert_eq!(
        fresh
            .review(VALIDATE, &review_for("rot-2", &compliant_pod()))
            .await["allowed"],
        true
    );
    // The keep-alive connection made before the rotation still works.
    assert_eq!(
        old.review(VALIDATE, &review_for("rot-3", &compliant_pod()))
            .await["allowed"],
        true
    );

    // A broken pair (key not matching) is reported; the new certificate stays in service.
    std::fs::write(&work.key, work.pki.leaf("stray").1).unwrap();
    let body = eventually("readyz to report the bad key", || async {
        let (_, body) = server.readyz().await;
        body.contains("tls reload error").then_some(body)
    })
    .await;
    assert!(body.contains("readyz check passed"), "{body}");
    let c = work.connect(&server).await;
    assert_eq!(c.peer_cert, new_der);
    let metrics = server.metrics().await;
    assert!(
        metric_value(&metrics, "portcullis_tls_reloads_total{result=\"error\"}") >= Some(1.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn sigterm_drains_in_flight_reviews_and_exits_0() {
    let work = Workdir::new();
    let mut server = work.start(&["--shutdown-grace", "300ms", "--drain-timeout", "20s"]);
    let ca = work.pki.ca_pem();

    // Several reviews whose bodies are only half sent: in flight on the server.
    let mut held = Vec::new();
    for i in 0..6 {
        let body =
            serde_json::to_vec(&review_for(&format!("drain-{i}"), &compliant_pod())).unwrap();
        let mut conn = RawTls::connect(server.admission, &ca).await.unwrap();
        let half = body.len() / 2;
        conn.write(&RawTls::head(VALIDATE, body.len()))
            .await
            .unwrap();
        conn.write(&body[..half]).await.unwrap();
        held.push((conn, body, half, format!("drain-{i}")));
    }
    eventually("all held reviews to be in flight", || async {
        let m = server.metrics().await;
        (metric_value(&m, "portcullis_admission_reviews_in_flight") == Some(6.0)).then_some(())
    })
    .await;

    server.signal("TERM");
    let body = eventually("readiness to fail", || async {
        let (status, body) = server.readyz().await;
        (status == 503).then_some(body)
    })
    .await;
    assert!(body.contains("shutdown"), "{body}");

    // Let the grace period pass and the listener close while the reviews are still in flight.
    eventually("the listener to close", || async {
        server
            .log_text()
            .contains("Admission listener closed")
            .then_some(())
    })
    .await;

    let mut failed = 0;
    for (mut conn, body, half, uid) in held {
        conn.write(&body[half..]).await.unwrap();
        match conn.read_response().await {
            Ok((200, bytes)) => {
                let response = response_of(&serde_json::from_slice(&bytes).unwrap(), &uid);
                assert_eq!(response["allowed"], true, "{response}");
            }
            other => {
                eprintln!("{uid}: {other:?}");
                failed += 1;
            }
        }
    }
    assert_eq!(
        failed,
        0,
        "reviews failed during the drain; logs:\n{}",
        server.log_text()
    );
    let status = server.wait_exit().await;
    assert_eq!(status.code(), Some(0), "logs:\n{}", server.log_text());
    assert!(
        server
            .log_text()
            .contains("Drained all admission connections")
    );
}

#[tokio::test]
async fn second_signal_aborts() {
    let work = Workdir::new();
    let mut server = work.start(&["--shutdown-grace", "60s"]);
    server.signal("TERM");
    eventually("readiness to fail", || async {
        (server.readyz().await.0 == 503).then_some(())
    })
    .await;
    server.signal("INT");
    let status = server.wait_exit().await;
    assert_eq!(status.code(), Some(130), "logs:\n{}", server.log_text());
}

/// The API server's client negotiates HTTP/2 when offered; both protocols must work.
#[tokio::test]
async fn http2_clients_are_served() {
    use http_body_util::{BodyExt as _, Full};
    use hyper::body::Bytes;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let work = Workdir::new();
    let server = work.start(&[]);
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(work.pki.ca_pem().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(server.admission)
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from(SERVICE_DNS).unwrap(),
            tcp,
        )
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    // Concurrent streams on the one connection.
    let mut answers = Vec::new();
    for (uid, pod) in [("h2-ok", compliant_pod()), ("h2-root", root_pod())] {
        let body = serde_json::to_vec(&review_for(uid, &pod)).unwrap();
        let request = hyper::Request::post(format!("https://{SERVICE_DNS}{VALIDATE}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        answers.push((uid, sender.send_request(request)));
    }
    let mut allowed = Vec::new();
    for (uid, answer) in answers {
        let response = answer.await.unwrap();
        assert_eq!(response.status(), 200);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let r = response_of(&serde_json::from_slice(&bytes).unwrap(), uid);
        allowed.push(r["allowed"].as_bool().unwrap());
    }
    assert_eq!(allowed, [true, false]);
}
