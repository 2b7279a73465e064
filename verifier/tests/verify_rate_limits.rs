//! A rate-limited registry is paused for as a whole: requests stay close to the number needed,
//! none waits past its deadline, the refusal names the host; a verification cut off by its
//! caller's deadline runs on (bounded in number and lifetime) and answers the retry from the cache.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use portcullis_verifier::cosign::sign::sign_image;
use portcullis_verifier::{
    Authority, BackgroundConfig, CacheConfig, ImageRef, ImageRequirement, PrivateKey,
    RegistryClient, RegistryConfig, RegistryError, Verifier, VerifyError,
};
use support::{Env, requirement, soon};
use tokio::time::Instant;

/// `n` distinct images in `env`, each signed by `key`, named by tag through the proxy.
async fn signed_images(env: &Env, key: &PrivateKey, n: usize) -> Vec<ImageRef> {
    let mut images = Vec::new();
    for i in 0..n {
        let image = env
            .push(
                &format!("storm/app{i}"),
                "v1",
                format!("rate-{i}").as_bytes(),
            )
            .await;
        sign_image(&env.client, &image, key, soon()).await.unwrap();
        images.push(image);
    }
    images
}

/// A fresh client (own pauses, tokens, connection pool) with at most `per_host` requests in
/// flight to the proxy.
fn client(env: &Env, per_host: usize) -> RegistryClient {
    RegistryClient::new(RegistryConfig {
        insecure: vec![env.proxy.addr()],
        backoff: Duration::from_millis(20),
        max_concurrent_per_host: per_host,
        ..RegistryConfig::default()
    })
    .unwrap()
}

fn verifier(env: &Env, background: BackgroundConfig) -> Verifier {
    Verifier::new(client(env, 4), CacheConfig::default()).with_background(background, None)
}

fn image_requirement(key: &PrivateKey) -> Arc<ImageRequirement> {
    Arc::new(ImageRequirement::from(Authority::Keys(
        (*requirement(&[key], 1)).clone(),
    )))
}

/// Runs every image's verification at once, each with `budget`; each verdict with whether it
/// came before its deadline.
async fn verify_all(
    verifier: &Verifier,
    images: &[ImageRef],
    req: &Arc<ImageRequirement>,
    budget: Duration,
) -> Vec<(portcullis_verifier::Verdict, bool)> {
    let calls = images.iter().map(|image| {
        let (v, image, req) = (verifier.clone(), image.clone(), Arc::clone(req));
        tokio::spawn(async move {
            let deadline = Instant::now() + budget;
            let verdict = v.verify_or_continue(&image, req, deadline).await;
            (verdict, Instant::now() <= deadline)
        })
    });
    futures::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

/// Polls (at most 30 s) until `done` holds.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    for _ in 0..300 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 30 s");
}

#[tokio::test]
async fn a_throttled_registry_gets_close_to_the_requests_needed_and_every_image_verifies() {
    let env = Env::start().await;
    let key = PrivateKey::generate();
    let images = signed_images(&env, &key, 12).await;
    let req = image_requirement(&key);

    // What verifying them needs, unthrottled (a fresh verifier: nothing cached).
    env.proxy.clear_requests();
    let baseline = verify_all(
        &verifier(&env, BackgroundConfig::default()),
        &images,
        &req,
        Duration::from_secs(20),
    )
    .await;
    assert!(baseline.iter().all(|(v, _)| v.is_ok()), "{baseline:?}");
    let needed = env.proxy.requests().len();
    assert!(needed >= 3 * images.len(), "{needed}");

    // The same through a rate limit of 20 requests a second, Retry-After: 1.
    env.proxy.clear_requests();
    env.proxy.throttle_above(Some((20, 1)));
    let throttled = verify_all(
        &verifier(&env, BackgroundConfig::default()),
        &images,
        &req,
        Duration::from_secs(25),
    )
    .await;
    let refused = env.proxy.throttled();
    env.proxy.throttle_above(None);
    for (verdict, in_time) in &throttled {
        assert!(verdict.is_ok(), "{verdict:?}");
        assert!(in_time, "answered after its deadline");
    }
    let sent = env.proxy.requests().len();
    assert!(
        refused > 0,
        "the limit was never reached: the test proves nothing"
    );
    assert!(
        sent * 2 <= needed * 3,
        "{sent} requests for the {needed} needed ({refused} refused with 429)"
    );
}

#[tokio::test]
async fn a_pause_past_the_deadline_is_named_at_once_and_nothing_more_is_sent() {
    let env = Env::start().await;
    let key = PrivateKey::generate();
    let images = signed_images(&env, &key, 6).await;
    let req = image_requirement(&key);
    let verifier = verifier(&env, BackgroundConfig::default());

    env.proxy.clear_requests();
    // The first request is refused for half a minute: the host is paused past every deadline.
    env.proxy.fail_next(1, 429, Some(30));
    let answers = verify_all(&verifier, &images, &req, Duration::from_secs(5)).await;
    for (verdict, in_time) in &answers {
        assert!(in_time, "answered after its deadline");
        match verdict.as_ref() {
            Err(VerifyError::Registry {
                source:
                    RegistryError::Paused {
                        registry,
                        status: 429,
                        left_ms,
                    },
                ..
            }) => {
                assert_eq!(registry, &env.proxy.addr());
                assert!(*left_ms > 5_000 && *left_ms <= 30_000, "{left_ms}");
            }
            other => panic!("expected the pause named, got {other:?}"),
        }
        let reason = verdict.as_ref().as_ref().unwrap_err().to_string();
        assert!(
            reason.contains(&format!(
                "registry {} answered 429 (rate limited)",
                env.proxy.addr()
            )),
            "{reason}"
        );
    }
    // Only requests already in flight when the 429 came in were sent (at most the 4 slots).
    let sent = env.proxy.requests().len();
    assert!(
        (1..=4).contains(&sent),
        "{sent}: {:?}",
        env.proxy.requests()
    );
}

#[tokio::test]
async fn a_verification_cut_off_by_its_deadline_finishes_and_the_retry_is_cached() {
    let env = Env::start().await;
    let key = PrivateKey::generate();
    let image = signed_images(&env, &key, 1).await.remove(0);
    let req = image_requirement(&key);
    let verifier = verifier(&env, BackgroundConfig::default());

    env.proxy.clear_requests();
    env.proxy.set_delay(Duration::from_millis(300));
    let deadline = Instant::now() + Duration::from_millis(200);
    let first = verifier
        .verify_or_continue(&image, Arc::clone(&req), deadline)
        .await;
    match first.as_ref() {
        Err(VerifyError::Deadline { registry, .. }) => assert_eq!(registry, &env.proxy.addr()),
        other => panic!("expected the deadline named, got {other:?}"),
    }
    let stats = verifier.background_stats();
    assert_eq!(stats.started.load(Ordering::Relaxed), 1);
    eventually("the background verification finishing", || {
        stats.finished.load(Ordering::Relaxed) == 1
    })
    .await;
    let sent = env.proxy.requests().len();
    assert!(sent >= 3, "{sent}");

    env.proxy.clear_requests();
    let retry = verifier
        .verify_or_continue(&image, req, Instant::now() + Duration::from_millis(200))
        .await;
    assert!(retry.is_ok(), "{retry:?}");
    assert_eq!(env.proxy.requests(), Vec::<(String, String)>::new());
    assert_eq!(
        stats.started.load(Ordering::Relaxed),
        1,
        "no new verification"
    );
}

#[tokio::test]
async fn background_verifications_are_capped_and_stopped_at_their_lifetime() {
    let env = Env::start().await;
    let key = PrivateKey::generate();
    let images = signed_images(&env, &key, 3).await;
    let req = image_requirement(&key);
    env.proxy.set_delay(Duration::from_millis(300));
    let cut_off = |v: &Verifier, image: &ImageRef| {
        let (v, image, req) = (v.clone(), image.clone(), Arc::clone(&req));
        async move {
            let deadline = Instant::now() + Duration::from_millis(100);
            let verdict = v.verify_or_continue(&image, req, deadline).await;
            assert!(
                matches!(verdict.as_ref(), Err(VerifyError::Deadline { .. })),
                "{verdict:?}"
            );
        }
    };

    // One may run on: the second cut-off verification is stopped.
    let capped = verifier(
        &env,
        BackgroundConfig {
            max_running: 1,
            max_lifetime: Duration::from_secs(30),
        },
    );
    cut_off(&capped, &images[0]).await;
    cut_off(&capped, &images[1]).await;
    let stats = capped.background_stats();
    assert_eq!(stats.started.load(Ordering::Relaxed), 1);
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 1);
    eventually("the one kept finishing", || {
        stats.finished.load(Ordering::Relaxed) == 1
    })
    .await;
    env.proxy.set_delay(Duration::ZERO);
    let repo_requests = |i: usize| {
        let repo = format!("/storm/app{i}/");
        env.proxy.count(move |_, path| path.contains(&repo))
    };
    env.proxy.clear_requests();
    for image in &images[..2] {
        let verdict = capped
            .verify_or_continue(image, Arc::clone(&req), soon())
            .await;
        assert!(verdict.is_ok(), "{verdict:?}");
    }
    assert_eq!(repo_requests(0), 0, "the kept one was cached");
    assert!(repo_requests(1) >= 3, "the dropped one had to verify again");

    // A lifetime shorter than the verification: it is stopped and nothing is cached.
    env.proxy.set_delay(Duration::from_millis(300));
    let short = verifier(
        &env,
        BackgroundConfig {
            max_running: 4,
            max_lifetime: Duration::from_millis(400),
        },
    );
    cut_off(&short, &images[2]).await;
    let stats = short.background_stats();
    assert_eq!(stats.started.load(Ordering::Relaxed), 1);
    eventually("the lifetime running out", || {
        stats.expired.load(Ordering::Relaxed) == 1
    })
    .await;
    assert_eq!(stats.finished.load(Ordering::Relaxed), 0);
    env.proxy.set_delay(Duration::ZERO);
    env.proxy.clear_requests();
    let verdict = short.verify_or_continue(&images[2], req, soon()).await;
    assert!(verdict.is_ok(), "{verdict:?}");
    assert!(
        repo_requests(2) >= 3,
        "an expired verification caches nothing"
    );
}

#[tokio::test]
async fn a_caller_dropped_before_its_deadline_leaves_nothing_running() {
    let env = Env::start().await;
    let key = PrivateKey::generate();
    let image = signed_images(&env, &key, 1).await.remove(0);
    let req = image_requirement(&key);
    let verifier = verifier(&env, BackgroundConfig::default());
    env.proxy.clear_requests();
    env.proxy.set_delay(Duration::from_millis(300));
    // The caller's own timeout fires before the deadline it gave: its future is dropped.
    let call = verifier.verify_or_continue(&image, req, soon());
    assert!(
        tokio::time::timeout(Duration::from_millis(100), call)
            .await
            .is_err()
    );
    let at_drop = env.proxy.requests().len();
    // Unstopped, the verification would make its next requests within this time.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        env.proxy.requests().len(),
        at_drop,
        "{:?}",
        env.proxy.requests()
    );
    assert!(at_drop <= 1, "{at_drop}");
    let stats = verifier.background_stats();
    assert_eq!(stats.started.load(Ordering::Relaxed), 0);
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 0);
}
