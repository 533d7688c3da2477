-- Schema dba: the load ledger, the feed import registry and the run log.
-- Names are unquoted, so `dba.tDataLoads` in hand-written SQL finds dba.tdataloads.
CREATE SCHEMA IF NOT EXISTS dba;

CREATE TABLE IF NOT EXISTS dba.tDataLoads (
    load_id      bigserial PRIMARY KEY,
    run_uuid     uuid        NOT NULL,
    job_name     text        NOT NULL,
    item         text        NOT NULL,
    run_date     date        NOT NULL,
    direction    text        NOT NULL CHECK (direction IN ('in', 'out', 'load')),
    source       text,
    destination  text,
    status       text        NOT NULL CHECK (status IN ('started', 'succeeded', 'failed', 'skipped')),
    rows         bigint,
    bytes        bigint,
    sha256       text,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    error        text
);
-- At most one success per (job, item, run date): a racing second load fails and rolls back
-- its data with it, so a load happens exactly once.
CREATE UNIQUE INDEX IF NOT EXISTS tdataloads_one_success
    ON dba.tDataLoads (job_name, item, run_date) WHERE status = 'succeeded';
CREATE INDEX IF NOT EXISTS tdataloads_job_date ON dba.tDataLoads (job_name, run_date);

CREATE TABLE IF NOT EXISTS dba.tImportConfig (
    config_id       serial PRIMARY KEY,
    job_name        text    NOT NULL,
    filename_regex  text    NOT NULL,
    source_dir      text    NOT NULL,
    processing_dir  text,
    archive_dir     text,
    error_dir       text,
    file_type       text    NOT NULL CHECK (file_type IN ('xls', 'xlsx', 'csv', 'txt')),
    convert_to_csv  boolean NOT NULL DEFAULT false,
    sheet           text,
    header_row      integer NOT NULL DEFAULT 1,
    delimiter       text    NOT NULL DEFAULT ',',
    encoding        text    NOT NULL DEFAULT 'utf-8',
    target_schema   text    NOT NULL,
    target_table    text    NOT NULL,
    load_mode       text    NOT NULL DEFAULT 'append' CHECK (load_mode IN ('append', 'replace', 'upsert')),
    key_columns     text[],
    active          boolean NOT NULL DEFAULT true,
    notify          text,
    UNIQUE (job_name, filename_regex)
);

CREATE TABLE IF NOT EXISTS dba.tLogEntry (
    log_id         bigserial PRIMARY KEY,
    logged_at      timestamptz      NOT NULL,
    run_uuid       uuid             NOT NULL,
    process_type   text             NOT NULL,
    stepcounter    integer          NOT NULL,
    username       text,
    step_runtime   double precision,
    total_runtime  double precision,
    level          text             NOT NULL,
    message        text             NOT NULL,
    UNIQUE (run_uuid, stepcounter)
);
CREATE INDEX IF NOT EXISTS tlogentry_logged_at ON dba.tLogEntry (logged_at);
