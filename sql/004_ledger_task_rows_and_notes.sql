-- Failures of any task are recorded (pipelines/failures.py), also of steps that move nothing
-- themselves (an export, a check): their rows have direction 'task'. A note says what is
-- special about a row, e.g. a resend of the current data for an earlier date.
ALTER TABLE dba.tDataLoads DROP CONSTRAINT IF EXISTS tdataloads_direction_check;
ALTER TABLE dba.tDataLoads ADD CONSTRAINT tdataloads_direction_check
    CHECK (direction IN ('in', 'out', 'load', 'task'));
ALTER TABLE dba.tDataLoads ADD COLUMN IF NOT EXISTS note text;
-- ./run.sh status and the failure mail look for failed rows by date and by run.
CREATE INDEX IF NOT EXISTS tdataloads_failed ON dba.tDataLoads (run_date) WHERE status = 'failed';
CREATE INDEX IF NOT EXISTS tdataloads_run ON dba.tDataLoads (run_uuid);
