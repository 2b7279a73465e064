-- 0001: jobs and their attempt log.
-- Written expand/contract: later migrations add columns and indexes before code uses them and
-- drop them only after no running version reads them (see deploy/base/workloads/migrate-job.yaml).

CREATE TABLE jobs (
    id              uuid PRIMARY KEY,                 -- UUIDv7: time-ordered, the list cursor
    kind            text NOT NULL CHECK (kind IN ('hash', 'summarise')),
    payload         text NOT NULL CHECK (octet_length(payload) <= 65536),
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts    integer NOT NULL CHECK (max_attempts BETWEEN 1 AND 10),
    run_after       timestamptz NOT NULL DEFAULT now(),   -- not before (retry backoff)
    locked_by       text,                                 -- worker holding the claim
    locked_until    timestamptz,                          -- lease: expired claims are taken over
    result          jsonb,
    last_error      text,
    idempotency_key text UNIQUE,
    request_hash    text,                                 -- SHA-256 of the normalised request
    trace_context   jsonb NOT NULL DEFAULT '{}'::jsonb,   -- W3C traceparent/tracestate of the creator
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    CONSTRAINT jobs_claim_consistent
        CHECK ((status = 'running') = (locked_by IS NOT NULL AND locked_until IS NOT NULL))
);

-- What the claim query scans: due queued jobs, and running jobs whose lease expired.
CREATE INDEX jobs_queued_run_after ON jobs (run_after) WHERE status = 'queued';
CREATE INDEX jobs_running_locked_until ON jobs (locked_until) WHERE status = 'running';
-- Keyset pagination filtered by status (unfiltered pages use the primary key).
CREATE INDEX jobs_status_id ON jobs (status, id);

-- One row per claim: who ran which attempt and how it ended (NULL outcome: in progress).
CREATE TABLE job_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt     integer NOT NULL,
    worker      text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    outcome     text CHECK (outcome IN ('succeeded', 'retry', 'failed', 'released', 'expired')),
    error       text
);
CREATE INDEX job_attempts_job_id ON job_attempts (job_id);
-- A job completes at most once, whatever the workers do.
CREATE UNIQUE INDEX job_attempts_one_success ON job_attempts (job_id) WHERE outcome = 'succeeded';
