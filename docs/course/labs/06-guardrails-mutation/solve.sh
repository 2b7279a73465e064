#!/usr/bin/env bash
# Lab 06 reference solution: the builder sized to what it needs and within the namespace's
# bounds (request ≤ limit ≤ 4 × request), the init container given the CPU limit the namespace
# demands, the log-shipper only the CPU limit (the defaults add no CPU limit; its memory stays
# the defaults'), and the record of what log-shipper then runs with: its CPU request is its limit
# (the API server copies it; the webhook adds no CPU request where a limit is set), its memory
# the defaults' 128Mi request and 512Mi limit.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
cat >"$LAB_HOME/deployment.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: report-builder
  namespace: reports
  labels:
    app.kubernetes.io/name: report-builder
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: report-builder
  template:
    metadata:
      labels:
        app.kubernetes.io/name: report-builder
    spec:
      initContainers:
        - name: fetch-dataset
          image: registry.example.com/reports/fetch-dataset:1.4.2
          resources:
            requests:
              cpu: 250m
              memory: 1Gi
            limits:
              cpu: 500m
              memory: 1Gi
      containers:
        - name: builder
          image: registry.example.com/reports/builder:2.3.0
          resources:
            requests:
              cpu: 500m
              memory: 1536Mi
            limits:
              cpu: "1"
              memory: 2Gi
        - name: log-shipper
          image: registry.example.com/reports/log-shipper:0.9.1
          resources:
            limits:
              cpu: 200m
YAML
cat >"$LAB_HOME/log-shipper.yaml" <<'YAML'
# What the log-shipper container runs with once admitted.
requests:
  cpu: 200m      # no CPU request is defaulted where a CPU limit exists: the API server copies the limit
  memory: 128Mi  # secure-defaults
limits:
  cpu: 200m      # written in deployment.yaml: the defaults add no CPU limit
  memory: 512Mi  # secure-defaults
YAML
