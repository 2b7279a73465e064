#!/usr/bin/env bash
# Lab 13 reference solution: each workload fixed the way its team should have written it (the
# restricted securityContext on each pod and container; orders-db's data directory owned through
# fsGroup instead of a privileged root init container; the export without the node's network and
# logs), then the audit run again over the fixed manifests for the evidence: the HTML report and
# the JSON lines results.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source=docs/course/labs/13-compliance-audit/audit.sh
. "$LAB_DIR/audit.sh"
m="$LAB_HOME/manifests"
cat >"$m/storefront.yaml" <<'YAML'
# The shop's web front end.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: storefront
  namespace: shop
  labels:
    app.kubernetes.io/name: storefront
spec:
  replicas: 3
  selector:
    matchLabels:
      app.kubernetes.io/name: storefront
  template:
    metadata:
      labels:
        app.kubernetes.io/name: storefront
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: web
          image: registry.example.com/shop/storefront:3.8.1
          ports:
            - name: http
              containerPort: 8080
          resources:
            requests:
              cpu: 200m
              memory: 256Mi
            limits:
              memory: 512Mi
          securityContext:
            allowPrivilegeEscalation: false
            capabilities:
              drop: [ALL]
YAML
cat >"$m/orders-db.yaml" <<'YAML'
# The orders database: one replica, its data on a volume claim owned through fsGroup.
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: orders-db
  namespace: shop
  labels:
    app.kubernetes.io/name: orders-db
spec:
  serviceName: orders-db
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: orders-db
  template:
    metadata:
      labels:
        app.kubernetes.io/name: orders-db
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 999
        runAsGroup: 999
        fsGroup: 999
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: postgres
          image: registry.example.com/shop/postgres:15.10
          ports:
            - name: postgres
              containerPort: 5432
          resources:
            requests:
              cpu: 500m
              memory: 1Gi
            limits:
              memory: 2Gi
          securityContext:
            allowPrivilegeEscalation: false
            capabilities:
              drop: [ALL]
          volumeMounts:
            - name: data
              mountPath: /var/lib/postgresql/data
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: [ReadWriteOnce]
        resources:
          requests:
            storage: 20Gi
YAML
cat >"$m/nightly-export.yaml" <<'YAML'
# Every night: the day's orders exported for accounting.
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly-export
  namespace: shop
  labels:
    app.kubernetes.io/name: nightly-export
spec:
  schedule: "30 1 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          securityContext:
            runAsNonRoot: true
            runAsUser: 10001
            seccompProfile:
              type: RuntimeDefault
          containers:
            - name: export
              image: registry.example.com/shop/exporter:1.2.0
              args: [--since=24h, --out=/export]
              resources:
                requests:
                  cpu: 100m
                  memory: 128Mi
                limits:
                  memory: 256Mi
              securityContext:
                allowPrivilegeEscalation: false
                capabilities:
                  drop: [ALL]
              volumeMounts:
                - name: export
                  mountPath: /export
          volumes:
            - name: export
              emptyDir: {}
YAML
mkdir -p "$LAB_HOME/evidence"
lab_audit html "$m" >"$LAB_HOME/evidence/audit.html"
lab_audit jsonl "$m" >"$LAB_HOME/evidence/audit.jsonl"
