-- Several districts (issue 14): one installation serves several districts (./run.sh --district
-- NAME) with one ledger. Each row belongs to a district ('' where one district is served); the
-- ledger's verbs read their own district's rows only, and "at most one success" holds per
-- district: two districts send a file of the same name on the same night.
ALTER TABLE dba.tDataLoads ADD COLUMN IF NOT EXISTS district text NOT NULL DEFAULT '';
DROP INDEX IF EXISTS dba.tdataloads_one_success;
CREATE UNIQUE INDEX tdataloads_one_success
    ON dba.tDataLoads (district, job_name, item, run_date) WHERE status = 'succeeded';
DROP INDEX IF EXISTS dba.tdataloads_job_date;
CREATE INDEX tdataloads_job_date ON dba.tDataLoads (district, job_name, run_date);
DROP INDEX IF EXISTS dba.tdataloads_job_item;
CREATE INDEX tdataloads_job_item ON dba.tDataLoads (district, job_name, item) WHERE status = 'succeeded';
