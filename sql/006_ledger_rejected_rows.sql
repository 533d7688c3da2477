-- The feeds importer (issue 10): a load that went ahead with some rows rejected (within its
-- tImportConfig max_rejects) says how many, beside the rows it loaded.
ALTER TABLE dba.tDataLoads ADD COLUMN IF NOT EXISTS rejected bigint CHECK (rejected >= 0);
