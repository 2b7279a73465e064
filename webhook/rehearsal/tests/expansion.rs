//! Controller → child expansion on the repository's own workload manifests: names, labels,
//! ownerReferences, namespaces and the controllers' users, from the admitted parent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_rehearsal::controllers::{children, persist, template_hash};
use portcullis_rehearsal::manifests::{Stream, str_at};
use portcullis_rehearsal::review::{Kind, display_name};
use serde_json::{Value, json};

fn base(file: &str) -> Stream {
    let text = std::fs::read_to_string(
        portcullis_testkit::workspace_root()
            .join("deploy/base/workloads")
            .join(file),
    )
    .unwrap();
    Stream::parse(file, &text).unwrap()
}

fn one(kind: Kind, parent: &Value) -> portcullis_rehearsal::controllers::Child {
    let mut c = children(kind, parent);
    assert_eq!(c.len(), 1, "{kind:?} makes one child");
    c.remove(0)
}

/// [`one`], checked to be requested by `controller`'s service account in kube-system.
fn made_by(
    kind: Kind,
    parent: &Value,
    controller: &str,
) -> portcullis_rehearsal::controllers::Child {
    let c = one(kind, parent);
    assert_eq!(
        c.user.username,
        format!("system:serviceaccount:kube-system:{controller}")
    );
    c
}

#[test]
fn deployment_to_replicaset_to_pod_from_the_admitted_object() {
    let s = base("api.yaml");
    let mut d = s.find("Deployment", "jobs", "jobs-api").unwrap().clone();
    // As admitted: a mutating webhook pinned the image.
    d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("r/api:1@sha256:aa");
    let d = persist(&d);
    let rs = made_by(Kind::Deployment, &d, "deployment-controller");
    assert_eq!(rs.kind, Kind::ReplicaSet);
    let hash = template_hash(d.pointer("/spec/template").unwrap());
    assert_eq!(
        str_at(&rs.object, "/metadata/name"),
        format!("jobs-api-{hash}")
    );
    assert_eq!(str_at(&rs.object, "/metadata/namespace"), "jobs");
    assert_eq!(
        str_at(&rs.object, "/metadata/labels/pod-template-hash"),
        hash
    );
    assert_eq!(
        str_at(&rs.object, "/spec/selector/matchLabels/pod-template-hash"),
        hash
    );
    assert_eq!(
        str_at(
            &rs.object,
            "/spec/template/metadata/labels/pod-template-hash"
        ),
        hash
    );
    assert_eq!(
        str_at(&rs.object, "/metadata/ownerReferences/0/kind"),
        "Deployment"
    );
    assert_eq!(
        rs.object["metadata"]["ownerReferences"][0]["uid"],
        d["metadata"]["uid"]
    );
    assert_eq!(
        rs.object["metadata"]["ownerReferences"][0]["controller"],
        true
    );
    Kind::ReplicaSet.check_typed(&rs.object).unwrap();

    let rs = persist(&rs.object);
    let pod = made_by(Kind::ReplicaSet, &rs, "replicaset-controller");
    assert_eq!(pod.kind, Kind::Pod);
    assert_eq!(pod.user.groups[1], "system:serviceaccounts:kube-system");
    // Created with generateName: the request has no name yet, as the API server sends it.
    assert_eq!(str_at(&pod.object, "/metadata/name"), "");
    assert_eq!(
        str_at(&pod.object, "/metadata/generateName"),
        format!("jobs-api-{hash}-")
    );
    assert!(display_name(Kind::Pod, &pod.object).ends_with(&format!("jobs-api-{hash}-…")));
    assert_eq!(
        str_at(&pod.object, "/metadata/labels/app.kubernetes.io~1name"),
        "jobs-api"
    );
    assert_eq!(
        str_at(&pod.object, "/metadata/labels/pod-template-hash"),
        hash
    );
    assert_eq!(
        str_at(&pod.object, "/spec/containers/0/image"),
        "r/api:1@sha256:aa"
    );
    assert_eq!(str_at(&pod.object, "/spec/serviceAccountName"), "jobs-api");
    Kind::Pod.check_typed(&pod.object).unwrap();
    // Stored: the name is generated from the prefix.
    let stored = persist(&pod.object);
    let name = str_at(&stored, "/metadata/name");
    assert!(
        name.starts_with(&format!("jobs-api-{hash}-"))
            && name.len() == format!("jobs-api-{hash}-").len() + 5,
        "{name}"
    );
}

#[test]
fn statefulset_pod_gets_ordinal_name_and_claims() {
    let s = base("postgres.yaml");
    let sts = persist(s.find("StatefulSet", "jobs", "postgres").unwrap());
    let pod = made_by(Kind::StatefulSet, &sts, "statefulset-controller");
    assert_eq!(str_at(&pod.object, "/metadata/name"), "postgres-0");
    assert_eq!(
        str_at(
            &pod.object,
            "/metadata/labels/statefulset.kubernetes.io~1pod-name"
        ),
        "postgres-0"
    );
    assert_eq!(str_at(&pod.object, "/spec/hostname"), "postgres-0");
    assert_eq!(str_at(&pod.object, "/spec/subdomain"), "postgres");
    let volumes = pod.object["spec"]["volumes"].as_array().unwrap();
    let data = volumes.iter().find(|v| v["name"] == "data").unwrap();
    assert_eq!(
        data["persistentVolumeClaim"]["claimName"],
        "data-postgres-0"
    );
    Kind::Pod.check_typed(&pod.object).unwrap();
}

#[test]
fn job_pod_and_cronjob_job() {
    let s = base("migrate-job.yaml");
    let job = persist(s.find("Job", "jobs", "jobs-migrate").unwrap());
    let pod = made_by(Kind::Job, &job, "job-controller");
    assert_eq!(
        str_at(
            &pod.object,
            "/metadata/labels/batch.kubernetes.io~1job-name"
        ),
        "jobs-migrate"
    );
    assert_eq!(
        pod.object["metadata"]["labels"]["batch.kubernetes.io/controller-uid"],
        job["metadata"]["uid"]
    );
    assert_eq!(str_at(&pod.object, "/spec/restartPolicy"), "Never");

    let cron = persist(&json!({"apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "jobs"},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"metadata": {"labels": {"app": "n"}},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "r/x:1"}]}}}}}}));
    let j = made_by(Kind::CronJob, &cron, "cronjob-controller");
    assert_eq!(j.kind, Kind::Job);
    assert!(str_at(&j.object, "/metadata/name").starts_with("nightly-"));
    assert_eq!(str_at(&j.object, "/metadata/labels/app"), "n");
    assert_eq!(
        str_at(&j.object, "/metadata/ownerReferences/0/kind"),
        "CronJob"
    );
    Kind::Job.check_typed(&j.object).unwrap();
    let pod = one(Kind::Job, &persist(&j.object));
    assert_eq!(str_at(&pod.object, "/spec/containers/0/image"), "r/x:1");
}

#[test]
fn daemonset_pod_tolerates_node_conditions_and_pods_have_no_children() {
    let ds = persist(&json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "jobs"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "r/x:1"}]}}}}));
    let pod = made_by(Kind::DaemonSet, &ds, "daemon-set-controller");
    let tolerations = pod.object["spec"]["tolerations"].as_array().unwrap();
    assert!(
        tolerations
            .iter()
            .any(|t| t["key"] == "node.kubernetes.io/unreachable")
    );
    assert!(children(Kind::Pod, &persist(&pod.object)).is_empty());
}
