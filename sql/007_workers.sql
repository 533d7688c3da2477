-- Several workers (issue 14): `--workers N` runs tasks in processes of their own, and workers on
-- several hosts share one ledger. Each ledger row says which process wrote it (host:pid), and
-- a run's log lines are numbered per process (they were numbered per run: the lines of a
-- run's other processes were lost as duplicates).
ALTER TABLE dba.tDataLoads ADD COLUMN IF NOT EXISTS worker text;
ALTER TABLE dba.tLogEntry ADD COLUMN IF NOT EXISTS pid integer NOT NULL DEFAULT 0;
ALTER TABLE dba.tLogEntry DROP CONSTRAINT IF EXISTS tlogentry_run_uuid_stepcounter_key;
ALTER TABLE dba.tLogEntry ADD CONSTRAINT tlogentry_run_uuid_pid_stepcounter_key UNIQUE (run_uuid, pid, stepcounter);
