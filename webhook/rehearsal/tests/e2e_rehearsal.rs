//! End to end: the real dev (and stage) overlays rendered with `kubectl kustomize`, the real
//! `portcullis` binary started by `rehearse` exactly as the rendered Deployment says, images
//! pushed to a real loopback registry and signed with `portcullis sign`, a ClusterImagePolicy
//! added to the rendered policies ConfigMap with `--configmap` (so admitted Pods are pinned),
//! then the table checked: everything admitted and pinned, the cases denied with their reasons,
//! and with the webhook stopped, dev (failurePolicy Ignore) admitting and stage (Fail) denying.
//!
//! The `portcullis` binary: cargo gives a test the path of its own crate's binaries only, and a
//! nested `cargo build` would wait on the build-directory lock the running `cargo test` holds.
//! So the test uses `$PORTCULLIS_BIN`, else `target/debug/portcullis` (built by `cargo test
//! --workspace`, or `cargo build -p portcullis-webhook`), and fails, naming the command, when
//! that binary is missing or older than the webhook's sources. Missing tools (`kubectl`,
//! `docker-registry`) are failures too: `make bootstrap` installs them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use portcullis_testkit::{Registry, push_image, tool, workspace_root};
use serde_json::Value;

const RUN_TIMEOUT: Duration = Duration::from_secs(240);

fn newest_source(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        let t = if p.is_dir() {
            newest_source(&p)
        } else {
            entry.metadata().unwrap().modified().unwrap()
        };
        newest = newest.max(t);
    }
    newest
}

fn portcullis_bin() -> PathBuf {
    let root = workspace_root();
    let bin = std::env::var_os("PORTCULLIS_BIN")
        .map_or_else(|| root.join("target/debug/portcullis"), PathBuf::from);
    let built = bin
        .metadata()
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is missing: run `cargo build -p portcullis-webhook` (or set PORTCULLIS_BIN)",
                bin.display()
            )
        });
    for src in ["webhook/src", "policies/src", "verifier/src"] {
        assert!(
            newest_source(&root.join(src)) <= built,
            "{} is older than {src}: run `cargo build -p portcullis-webhook` (or set PORTCULLIS_BIN)",
            bin.display()
        );
    }
    bin
}

/// kubectl renders deploy/ (`tool` fails the test, naming `make bootstrap`, when it is missing).
fn kubectl() -> PathBuf {
    tool("kubectl")
}

fn render(dir: &Path, out: &Path) {
    let o = std::process::Command::new(kubectl())
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::write(out, o.stdout).unwrap();
}

/// `path` relative to `from` (both absolute): kustomize refuses absolute resource paths.
fn relative(from: &Path, path: &Path) -> String {
    let up = "../".repeat(from.components().count() - 1);
    format!("{up}{}", path.display().to_string().trim_start_matches('/'))
}

fn portcullis(bin: &Path, args: &[&str]) {
    let o = std::process::Command::new(bin)
        .args(args)
        .env("PORTCULLIS_PASSWORD", "rehearsal")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "portcullis {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    results: Vec<Value>,
}

async fn rehearse(args: &[String], work: &Path) -> Run {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rehearse"))
        .args(args)
        .arg("--work-dir")
        .arg(work)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let read = |mut r: Box<dyn tokio::io::AsyncRead + Unpin + Send>| {
        tokio::spawn(async move {
            let mut s = String::new();
            tokio::io::AsyncReadExt::read_to_string(&mut r, &mut s)
                .await
                .unwrap();
            s
        })
    };
    let (out, err) = (read(Box::new(stdout)), read(Box::new(stderr)));
    let status = tokio::time::timeout(RUN_TIMEOUT, child.wait())
        .await
        .expect("rehearse did not finish in time")
        .unwrap();
    let (stdout, stderr) = (out.await.unwrap(), err.await.unwrap());
    let results = std::fs::read(work.join("results.json"))
        .ok()
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap_or_default();
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
        results,
    }
}

fn select<'a>(results: &'a [Value], rendering: &str, phase: &str) -> Vec<&'a Value> {
    results
        .iter()
        .filter(|r| r["rendering"] == rendering && r["phase"] == phase)
        .collect()
}

fn pod_images(r: &Value) -> Vec<String> {
    r["finalObject"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["image"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_and_stage_renderings_admit_pin_and_follow_their_failure_policy() {
    let bin = portcullis_bin();
    let root = workspace_root();
    let registry = Registry::start()
        .await
        .expect("docker-registry is needed (make bootstrap)");
    let reg = registry.addr();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();

    // Images named as the rendering names them, in the loopback registry; all signed but one.
    let api = push_image(&reg, "portcullis-dev/jobs-api", "0.1.0", b"jobs-api")
        .await
        .unwrap();
    let worker = push_image(&reg, "portcullis-dev/jobs-worker", "0.1.0", b"jobs-worker")
        .await
        .unwrap();
    let postgres = push_image(&reg, "library/postgres", "17.6-bookworm", b"postgres")
        .await
        .unwrap();
    push_image(&reg, "portcullis-dev/unsigned", "0.1.0", b"unsigned")
        .await
        .unwrap();
    let key = t.join("release");
    portcullis(
        &bin,
        &["keygen", "--output-key-prefix", key.to_str().unwrap()],
    );
    for image in [
        "portcullis-dev/jobs-api:0.1.0",
        "portcullis-dev/jobs-worker:0.1.0",
        "library/postgres:17.6-bookworm",
    ] {
        portcullis(
            &bin,
            &[
                "sign",
                "--key",
                &format!("{}.key", key.display()),
                "--allow-http-registry",
                &format!("{reg}/{image}"),
            ],
        );
    }
    let pem = std::fs::read_to_string(format!("{}.pub", key.display())).unwrap();
    let policy = t.join("rehearsal-images.yaml");
    std::fs::write(
        &policy,
        format!(
            "apiVersion: policy.portcullis.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: {{name: rehearsal-images}}\n\
             spec:\n  mode: enforce\n  images: [\"{reg}/**\"]\n  authorities:\n    keys:\n      - name: rehearsal\n        pem: |\n{}\
             \x20 mutateDigest: true\n",
            pem.lines().map(|l| format!("          {l}\n")).collect::<String>()
        ),
    )
    .unwrap();

    // Renderings: the dev and stage webhook overlays as they are, the dev workloads with their
    // images moved to the loopback registry and pinned to the pushed digests (a kustomization on
    // top, as promotion does).
    render(
        &root.join("deploy/overlays/dev/webhook"),
        &t.join("dev-webhook.yaml"),
    );
    render(
        &root.join("deploy/overlays/stage/webhook"),
        &t.join("stage-webhook.yaml"),
    );
    let k = t.join("workloads");
    std::fs::create_dir(&k).unwrap();
    std::fs::write(
        k.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {}\nimages:\n\
             \x20 - {{name: ghcr.io/portcullis-dev/jobs-api, newName: {reg}/portcullis-dev/jobs-api, digest: '{api}'}}\n\
             \x20 - {{name: ghcr.io/portcullis-dev/jobs-worker, newName: {reg}/portcullis-dev/jobs-worker, digest: '{worker}'}}\n\
             \x20 - {{name: docker.io/library/postgres, newName: {reg}/library/postgres}}\n",
            relative(&k, &root.join("deploy/overlays/dev/workloads"))
        ),
    )
    .unwrap();
    render(&k, &t.join("dev-workloads.yaml"));

    let cases = t.join("cases.yaml");
    std::fs::write(
        &cases,
        format!(
            "cases:\n\
             - name: runs as root\n  object: Deployment/jobs/jobs-api\n  expect: deny\n  reason: runAsNonRoot\n\
             \x20 patch:\n  - {{op: replace, path: /spec/template/spec/securityContext/runAsNonRoot, value: false}}\n\
             \x20 - {{op: replace, path: /spec/template/spec/securityContext/runAsUser, value: 0}}\n\
             \x20 - {{op: replace, path: /spec/template/spec/containers/0/securityContext/runAsNonRoot, value: false}}\n\
             \x20 - {{op: replace, path: /spec/template/spec/containers/0/securityContext/runAsUser, value: 0}}\n\
             - name: unsigned image\n  object: Deployment/jobs/jobs-worker\n  expect: deny\n  reason: unsigned\n\
             \x20 images: {{{reg}/portcullis-dev/jobs-worker: '{reg}/portcullis-dev/unsigned:0.1.0'}}\n\
             - name: worker pinned to its digest\n  object: Deployment/jobs/jobs-worker\n  digest: '{worker}'\n\
             - name: migration while the webhook is down\n  object: Job/jobs/jobs-migrate\n  webhookDown: true\n\
             \x20 renderings: [stage]\n  expect: deny\n  reason: 'failed calling webhook \"mutate.portcullis.dev\"'\n"
        ),
    )
    .unwrap();

    let s = |p: &Path| p.display().to_string();
    let args: Vec<String> = [
        "--webhook".into(),
        format!("dev={}", s(&t.join("dev-webhook.yaml"))),
        "--webhook".into(),
        format!("stage={}", s(&t.join("stage-webhook.yaml"))),
        "--workloads".into(),
        s(&t.join("dev-workloads.yaml")),
        "--portcullis".into(),
        s(&bin),
        "--configmap".into(),
        format!(
            "portcullis-system/portcullis-policies/rehearsal-images.yaml={}",
            s(&policy)
        ),
        "--serve-arg".into(),
        format!("--allow-http-registry {reg} --shutdown-grace 0s --log-format text"),
        "--cases".into(),
        s(&cases),
        "--webhook-down".into(),
    ]
    .into();
    let work = t.join("work");
    let run = rehearse(&args, &work).await;
    let all = format!("stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_eq!(run.code, 0, "{all}");

    // Substitutions are printed, one per line, before the table.
    for expected in [
        "substitution: arg 0.0.0.0:8443 -> 127.0.0.1:",
        "substitution: arg 0.0.0.0:8080 -> 127.0.0.1:",
        "substitution: arg /etc/portcullis/tls/tls.crt -> ",
        "substitution: Secret portcullis-system/portcullis-tls generated in place of cert-manager's Certificate portcullis-serving",
        "substitution: ConfigMap portcullis-system/portcullis-policies-",
        "key rehearsal-images.yaml added by",
        "substitution: serve args appended: --allow-http-registry",
        "substitution: caBundle of MutatingWebhookConfiguration/portcullis (mutate.portcullis.dev) <- the local CA",
        "substitution: clientConfig.service portcullis-system/portcullis:443/validate (validate.portcullis.dev) -> 127.0.0.1:",
    ] {
        assert!(run.stdout.contains(expected), "missing {expected:?}\n{all}");
    }
    assert!(!run.stdout.contains("0.0.0.0:8443 -> 0.0.0.0"), "{all}");
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("rehearsal: ") && l.ends_with(" 0 not")),
        "{all}"
    );

    for rendering in ["dev", "stage"] {
        // Up: the four rendered workloads, their ReplicaSets and Pods, all admitted; Pods pinned
        // to the digests that were pushed and signed.
        let up: Vec<&Value> = select(&run.results, rendering, "up")
            .into_iter()
            .filter(|r| r["case"].is_null())
            .collect();
        let objects: Vec<&str> = up.iter().map(|r| r["object"].as_str().unwrap()).collect();
        assert_eq!(up.len(), 10, "{rendering}: {objects:?}");
        assert!(
            up.iter().all(|r| r["allowed"] == true && r["ok"] == true),
            "{rendering}: {objects:?}"
        );
        let pods: Vec<&&Value> = up
            .iter()
            .filter(|r| r["object"].as_str().unwrap().starts_with("Pod/"))
            .collect();
        assert_eq!(pods.len(), 4, "{objects:?}");
        for pod in &pods {
            let via = pod["via"].as_str().unwrap();
            let want = if via.contains("jobs-worker") {
                &worker
            } else if via.contains("postgres") {
                &postgres
            } else {
                &api
            };
            for image in pod_images(pod) {
                assert!(
                    image.ends_with(&format!("@{want}")),
                    "{via}: {image} not pinned to {want}"
                );
            }
            // The workloads come pinned from the rendering; PostgreSQL's tag is pinned by /mutate.
            if via.contains("postgres") {
                assert!(
                    pod["calls"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|c| c["webhook"] == "mutate.portcullis.dev"
                            && c["decision"] == "patched"),
                    "{via}: /mutate did not pin the tag"
                );
            }
        }
        let rs_pod = pods
            .iter()
            .find(|p| {
                p["via"]
                    .as_str()
                    .unwrap()
                    .starts_with("pod of Deployment/jobs-api, via ReplicaSet/jobs-api-")
            })
            .unwrap();
        let user = &rs_pod["finalObject"]["metadata"]["ownerReferences"][0]["kind"];
        assert_eq!(user, "ReplicaSet");

        // Cases, with the webhook up.
        let case = |name: &str| {
            run.results
                .iter()
                .find(|r| r["rendering"] == rendering && r["case"] == name && r["via"].is_null())
                .unwrap()
        };
        // A denied case's message.
        let denial = |name: &str| {
            let r = case(name);
            assert_eq!(r["allowed"], false, "{r}");
            r["message"].as_str().unwrap().to_string()
        };
        let root = denial("runs as root");
        assert!(
            root.starts_with("admission webhook \"validate.portcullis.dev\" denied the request: "),
            "{root}"
        );
        let unsigned = denial("unsigned image");
        assert!(unsigned.contains("mutate.portcullis.dev"), "{unsigned}");
        assert_eq!(case("worker pinned to its digest")["ok"], true);
    }

    // Down: dev (Ignore) admits everything, with failed-open calls; stage (Fail) denies every
    // rendered object with the API server's message, so no controller creates anything.
    let dev_down = select(&run.results, "dev", "down");
    assert_eq!(dev_down.len(), 10);
    for r in &dev_down {
        assert_eq!(r["allowed"], true, "{r}");
        let calls = r["calls"].as_array().unwrap();
        assert!(
            !calls.is_empty() && calls.iter().all(|c| c["decision"] == "failed-open"),
            "{r}"
        );
    }
    let stage_down: Vec<&Value> = select(&run.results, "stage", "down");
    let rendered_only: Vec<&&Value> = stage_down.iter().filter(|r| r["case"].is_null()).collect();
    assert_eq!(rendered_only.len(), 4, "{stage_down:?}");
    for r in rendered_only {
        assert_eq!(r["allowed"], false);
        let m = r["message"].as_str().unwrap();
        assert!(m.starts_with("Internal error occurred: failed calling webhook \"mutate.portcullis.dev\": failed to call webhook: Post \"https://portcullis.portcullis-system.svc:443/mutate?timeout=10s\": dial tcp 127.0.0.1:"), "{m}");
        assert!(m.ends_with("connect: connection refused"), "{m}");
    }
    assert!(
        stage_down
            .iter()
            .any(|r| r["case"] == "migration while the webhook is down" && r["ok"] == true)
    );
    assert!(
        select(&run.results, "dev", "down")
            .iter()
            .all(|r| r["case"].is_null())
    );
    // Reviews and responses were written.
    assert!(
        std::fs::read_dir(work.join("dev/up/reviews"))
            .unwrap()
            .count()
            >= 20
    );

    // The same run with an expectation that cannot hold exits 1 and says which.
    std::fs::write(&cases, "cases:\n- {name: wrongly expected, object: Deployment/jobs/jobs-api, expect: deny, reason: nope}\n").unwrap();
    let mut one: Vec<String> = args[4..].to_vec();
    one.retain(|a| a != "--webhook-down");
    one.extend([
        "--webhook".to_string(),
        format!("dev={}", s(&t.join("dev-webhook.yaml"))),
    ]);
    let failed = rehearse(&one, &t.join("work2")).await;
    assert_eq!(failed.code, 1, "{}\n{}", failed.stdout, failed.stderr);
    assert!(
        failed
            .stdout
            .contains("EXPECTATION FAILED: admitted, expected a denial"),
        "{}",
        failed.stdout
    );
    assert!(
        failed
            .stdout
            .contains("FAILED dev/up Deployment/jobs/jobs-api"),
        "{}",
        failed.stdout
    );
}

#[tokio::test]
async fn bad_input_exits_2_with_a_specific_message() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "kind: [unclosed\n").unwrap();
    let good = tmp.path().join("ns.yaml");
    std::fs::write(
        &good,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: jobs}\n",
    )
    .unwrap();
    let bad_input = |webhook: &Path| {
        let args = [
            "--webhook".to_string(),
            webhook.display().to_string(),
            "--workloads".into(),
            good.display().to_string(),
            "--portcullis".into(),
            "/nonexistent".into(),
        ];
        let work = tmp.path().join("w");
        async move { rehearse(&args, &work).await }
    };
    let run = bad_input(&bad).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("bad input") && run.stderr.contains("bad.yaml: not YAML"),
        "{}",
        run.stderr
    );

    let run = bad_input(&good).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("no pod-carrying object"),
        "{}",
        run.stderr
    );
}
