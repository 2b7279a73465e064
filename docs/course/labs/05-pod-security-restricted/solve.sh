#!/usr/bin/env bash
# Lab 05 reference solution: restricted at the pod level, the container's own settings, and the
# cache on an emptyDir (it is a cache: losing it with the pod is fine; a hostPath is a way out of
# the container onto the node).
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
cat >"$LAB_HOME/deployment.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: jobs-api
  namespace: jobs
  labels:
    app.kubernetes.io/name: jobs-api
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: jobs-api
  template:
    metadata:
      labels:
        app.kubernetes.io/name: jobs-api
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: api
          image: registry.example.com/jobs/api@sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270
          ports:
            - name: http
              containerPort: 8080
          securityContext:
            allowPrivilegeEscalation: false
            capabilities:
              drop: [ALL]
          volumeMounts:
            - name: cache
              mountPath: /var/cache/jobs
      volumes:
        - name: cache
          emptyDir:
            sizeLimit: 256Mi
YAML
