#!/usr/bin/env bash
# Lab 09 reference solution: the page of the SRE workbook's multiwindow, multi-burn-rate alert
# (as in observability/prometheus/rules/jobs-api-slo.yml): 2 % of the budget in 1 h (14.4x) seen
# over 1 h and 5 m, or 5 % in 6 h (6x) seen over 6 h and 30 m; the short window makes it stop soon
# after the errors do. And a test with a page, a quiet blip and a quiet slow burn.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
cat >"$LAB_HOME/rules/jobs-api-slo.alerts.yml" <<'YAML'
# Alerts on the jobs API availability SLO: 99.9 % of requests answer without a 5xx, over 30 days
# (an error budget of 0.1 %). Page: 2 % of the budget spent in 1 h (burn rate 14.4) or 5 % in
# 6 h (burn rate 6), each confirmed by a short window (5 m, 30 m) so the page ends with the errors.
groups:
  - name: jobs-api-slo.alerts
    rules:
      - alert: JobsApiAvailabilityBudgetBurnFast
        expr: |
          (
            slo:error_ratio:rate1h{slo="jobs-api-availability"} > (14.4 * 0.001)
            and slo:error_ratio:rate5m{slo="jobs-api-availability"} > (14.4 * 0.001)
          )
          or
          (
            slo:error_ratio:rate6h{slo="jobs-api-availability"} > (6 * 0.001)
            and slo:error_ratio:rate30m{slo="jobs-api-availability"} > (6 * 0.001)
          )
        for: 2m
        labels:
          severity: critical
          team: workloads
          service: jobs-api
        annotations:
          summary: The jobs API is burning its availability error budget fast.
          runbook_url: https://github.com/portcullis-dev/portcullis/blob/main/docs/runbooks/JobsApiAvailabilityBudgetBurnFast.md
YAML
cat >"$LAB_HOME/tests/jobs-api-slo.alerts.test.yml" <<'YAML'
# Unit tests of ../rules/jobs-api-slo.alerts.yml:  promtool test rules tests/jobs-api-slo.alerts.test.yml
# yamllint disable rule:line-length
rule_files:
  - ../rules/jobs-api-slo.recording.yml
  - ../rules/jobs-api-slo.alerts.yml
evaluation_interval: 1m
tests:
  - name: 5 % errors (50x the budget) - page
    interval: 1m
    input_series:
      - series: 'http_requests_total{namespace="jobs", job="jobs-api", status="200"}'
        values: '0+950x60'
      - series: 'http_requests_total{namespace="jobs", job="jobs-api", status="500"}'
        values: '0+50x60'
    alert_rule_test:
      - eval_time: 1m  # pending: for 2m
        alertname: JobsApiAvailabilityBudgetBurnFast
        exp_alerts: []
      - eval_time: 10m
        alertname: JobsApiAvailabilityBudgetBurnFast
        exp_alerts:
          - exp_labels:
              severity: critical
              team: workloads
              service: jobs-api
              namespace: jobs
              job: jobs-api
              slo: jobs-api-availability
            exp_annotations:
              summary: The jobs API is burning its availability error budget fast.
              runbook_url: https://github.com/portcullis-dev/portcullis/blob/main/docs/runbooks/JobsApiAvailabilityBudgetBurnFast.md
  - name: a 5-minute blip of 5 % after two clean hours - no page
    interval: 1m
    input_series:
      - series: 'http_requests_total{namespace="jobs", job="jobs-api", status="200"}'
        values: '0+1000x120 120950+950x5 125700+1000x30'
      - series: 'http_requests_total{namespace="jobs", job="jobs-api", status="500"}'
        values: '0x120 50+50x5 250x30'
    alert_rule_test:
      - eval_time: 125m
        alertname: JobsApiAvailabilityBudgetBurnFast
        exp_alerts: []
  - name: 0.4 % errors (4x) - a ticket, not a page
    interval: 1m
    input_series:
      - series: 'http_requests_total{namespace="jobs", job="jobs-api", status="200"}'
        values: '0+996x60'
      - series: 'http_requests_total{namespace="jobs", job="jobs-api", status="500"}'
        values: '0+4x60'
    alert_rule_test:
      - eval_time: 60m
        alertname: JobsApiAvailabilityBudgetBurnFast
        exp_alerts: []
YAML
