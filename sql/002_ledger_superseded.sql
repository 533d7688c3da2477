-- A reload of a changed file for the same run date marks the earlier success 'superseded'
-- in the same transaction that records the new one (one success per job, item, date remains).
ALTER TABLE dba.tDataLoads DROP CONSTRAINT IF EXISTS tdataloads_status_check;
ALTER TABLE dba.tDataLoads ADD CONSTRAINT tdataloads_status_check
    CHECK (status IN ('started', 'succeeded', 'failed', 'skipped', 'superseded'));
