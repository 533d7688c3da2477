-- "Was this remote file (name, size, mtime) ever pulled?" looks up by job and item, any date.
CREATE INDEX IF NOT EXISTS tdataloads_job_item ON dba.tDataLoads (job_name, item) WHERE status = 'succeeded';
