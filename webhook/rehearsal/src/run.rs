//! The rehearsal from flags to exit status: read the renderings, the workloads and the cases;
//! per rendering start the webhook as its Deployment says (printing every substitution), replay
//! every rendered pod-carrying object and every case, optionally stop the webhook and replay
//! again; then print the table and summary and write the JSON files.
//!
//! Input problems (unreadable manifests, configurations the API server would refuse, unknown
//! objects or namespaces, bad flags) are [`Failure::Input`] (exit 2); a webhook that cannot be
//! started is [`Failure::Runtime`] (exit 1), as is any unmet expectation.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, anyhow};

use crate::cases::{CasesFile, Expectation, variant};
use crate::cli::{Args, Pins};
use crate::launch::{self, Overrides, Target, Webhook};
use crate::manifests::{Namespaces, Stream, kind, name, namespace};
use crate::pki::LocalCa;
use crate::replay::{Phase, Submission, replay};
use crate::report::{self, Outcome};
use crate::review::{Kind, UserInfo};
use crate::targets::HttpCaller;
use crate::webhooks;

/// Why the rehearsal could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("bad input: {0:#}")]
    Input(anyhow::Error),
    #[error("{0:#}")]
    Runtime(anyhow::Error),
}

fn input<E: Into<anyhow::Error>>(e: E) -> Failure {
    Failure::Input(e.into())
}

/// Runs the rehearsal; `Ok(true)` when every expectation held.
pub async fn run(args: Args) -> Result<bool, Failure> {
    let renderings = args
        .webhooks
        .iter()
        .map(|w| {
            let (label, path) = match w.split_once('=') {
                Some((l, p)) => (l.to_string(), PathBuf::from(p)),
                None => {
                    let p = PathBuf::from(w);
                    let stem = p
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    (stem, p)
                }
            };
            Stream::read(&path).map(|s| (label, s))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(input)?;
    for (i, (label, _)) in renderings.iter().enumerate() {
        if label.is_empty() || renderings[..i].iter().any(|(l, _)| l == label) {
            return Err(input(anyhow!(
                "rendering label {label:?} is empty or used twice"
            )));
        }
    }
    let workloads = args
        .workloads
        .iter()
        .map(|p| Stream::read(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(input)?;
    let cases = match &args.cases {
        Some(p) => CasesFile::read(p).map_err(Failure::Input)?,
        None => CasesFile::default(),
    };
    let pinned = match args.pins {
        Some(p) => p == Pins::Required,
        None => cases.pinned.unwrap_or(true),
    };
    let (dep_ns, dep_name) = args.deployment.split_once('/').ok_or_else(|| {
        input(anyhow!(
            "--deployment {:?} is not NAMESPACE/NAME",
            args.deployment
        ))
    })?;
    let user = user_info(&args);

    // The rendered objects to admit, in stream order.
    let objects: Vec<(Kind, serde_json::Value)> = workloads
        .iter()
        .flat_map(|s| s.objects.iter())
        .filter_map(|o| Kind::of(o).map(|k| (k, o.clone())))
        .collect();
    if objects.is_empty() {
        return Err(input(anyhow!(
            "no pod-carrying object (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod, ReplicationController) in the workloads"
        )));
    }
    for c in &cases.cases {
        if !c.renderings.is_empty()
            && c.renderings
                .iter()
                .any(|r| !renderings.iter().any(|(l, _)| l == r))
        {
            return Err(input(anyhow!(
                "case {:?} names a rendering that is not given: {:?}",
                c.name,
                c.renderings
            )));
        }
    }

    std::fs::create_dir_all(&args.work_dir)
        .map_err(|e| Failure::Runtime(anyhow!("creating {}: {e}", args.work_dir.display())))?;
    let work_dir = args
        .work_dir
        .canonicalize()
        .map_err(|e| Failure::Runtime(e.into()))?;
    let mut outcomes: Vec<Outcome> = Vec::new();
    for (label, stream) in &renderings {
        let hooks = webhooks::load(stream).map_err(input)?;
        let namespaces = Namespaces::collect(std::iter::once(stream).chain(workloads.iter()));
        for (k, o) in &objects {
            if namespaces.get(namespace(o)).is_none() {
                return Err(input(anyhow!(
                    "{} {}/{}: namespace {:?} is not rendered (known: {})",
                    k.name(),
                    namespace(o),
                    name(o),
                    namespace(o),
                    namespaces.names().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        let dir = work_dir.join(label);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| Failure::Runtime(anyhow!("emptying {}: {e}", dir.display())))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| Failure::Runtime(e.into()))?;
        let ca = LocalCa::new(&format!("rehearse {label} CA")).map_err(Failure::Runtime)?;
        let target = Target {
            namespace: dep_ns,
            name: dep_name,
            container: args.container.as_deref(),
        };
        let overrides = Overrides {
            configmaps: args.configmaps.clone(),
            serve_args: args.serve_args.clone(),
            env: args.env.clone(),
        };
        let plan = launch::plan(
            stream,
            &target,
            &args.portcullis,
            &dir,
            &overrides,
            &ca,
            &mut portcullis_testkit::free_port,
        )
        .with_context(|| format!("rendering {label} ({})", stream.origin))
        .map_err(Failure::Input)?;
        let (caller, endpoint_lines) = HttpCaller::resolve(&hooks, &plan, stream, &ca.pem());
        println!(
            "\n== {label}: {} (Deployment {dep_ns}/{dep_name}) ==",
            stream.origin
        );
        for s in plan.substitutions.iter().chain(endpoint_lines.iter()) {
            println!("substitution: {s}");
        }
        let mut webhook = Webhook::start(&plan, &dir, Duration::from_secs(args.ready_timeout))
            .await
            .with_context(|| format!("starting the webhook of rendering {label}"))
            .map_err(Failure::Runtime)?;
        println!(
            "started: {} {} (pid {}), log {}",
            plan.program.display(),
            plan.args.join(" "),
            webhook.pid(),
            webhook.log_path().display()
        );

        let phases = async {
            let up = Phase {
                rendering: label,
                name: "up",
                hooks: &hooks,
                namespaces: &namespaces,
                caller: &caller,
                dry_run: args.dry_run,
                expand: !args.no_controllers,
            };
            for (k, o) in &objects {
                let s =
                    Submission::object(*k, o.clone(), &user, Some(Expectation::admitted(pinned)));
                replay(&up, s, &mut outcomes).await;
            }
            for (c, k, o) in case_objects(&cases, label, &objects, false)? {
                let s = Submission::case(c, k, o, &user, pinned);
                replay(&up, s, &mut outcomes).await;
            }
            let down_cases = case_objects(&cases, label, &objects, true)?;
            if args.webhook_down || !down_cases.is_empty() {
                webhook
                    .stop(Duration::from_secs(args.stop_timeout))
                    .await
                    .map_err(Failure::Runtime)?;
                println!("stopped: pid {} (webhook down)", webhook.pid());
                let down = Phase { name: "down", ..up };
                if args.webhook_down {
                    for (k, o) in &objects {
                        let s = Submission::object(*k, o.clone(), &user, None);
                        replay(&down, s, &mut outcomes).await;
                    }
                }
                for (c, k, o) in down_cases {
                    let s = Submission::case(c, k, o, &user, false);
                    replay(&down, s, &mut outcomes).await;
                }
            }
            Ok::<(), Failure>(())
        }
        .await;
        // Stopped on every path, errors included (and killed on drop if this fails).
        let stopped = webhook.stop(Duration::from_secs(args.stop_timeout)).await;
        phases?;
        stopped.map_err(Failure::Runtime)?;
    }

    print!("{}", report::table(&outcomes));
    println!();
    report::write_json(&work_dir, &outcomes).map_err(Failure::Runtime)?;
    println!("reviews and responses: {}", display(&work_dir));
    println!("{}", report::summary(&outcomes));
    Ok(outcomes.iter().all(|o| o.verdict.is_ok()))
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

fn user_info(args: &Args) -> UserInfo {
    if !args.groups.is_empty() {
        return UserInfo {
            username: args.user.clone(),
            groups: args.groups.clone(),
        };
    }
    match args
        .user
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'))
    {
        Some((ns, sa)) => UserInfo::service_account(ns, sa),
        None => UserInfo {
            username: args.user.clone(),
            groups: vec!["system:authenticated".into()],
        },
    }
}

type CaseObject<'a> = (&'a crate::cases::Case, Kind, serde_json::Value);

/// The cases of `rendering` for the up (`down == false`) or down phase, with their variants.
fn case_objects<'a>(
    cases: &'a CasesFile,
    rendering: &str,
    objects: &[(Kind, serde_json::Value)],
    down: bool,
) -> Result<Vec<CaseObject<'a>>, Failure> {
    let mut out = Vec::new();
    for c in cases.cases.iter().filter(|c| {
        c.webhook_down == down
            && (c.renderings.is_empty() || c.renderings.iter().any(|r| r == rendering))
    }) {
        let mut parts = c.object.splitn(3, '/');
        let (k, ns, n) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let (kind_of, rendered) = objects
            .iter()
            .find(|(_, o)| kind(o) == k && namespace(o) == ns && name(o) == n)
            .ok_or_else(|| {
                input(anyhow!(
                    "case {:?}: no rendered {} in the workloads",
                    c.name,
                    c.object
                ))
            })?;
        out.push((c, *kind_of, variant(c, rendered).map_err(Failure::Input)?));
    }
    Ok(out)
}
