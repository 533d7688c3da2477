-- The feeds importer (issue 10): how many rejected rows a load may have before it stops, and
-- the spreadsheet types the converter reads besides xls and xlsx.
ALTER TABLE dba.tImportConfig ADD COLUMN IF NOT EXISTS max_rejects integer NOT NULL DEFAULT 0
    CHECK (max_rejects >= 0);
ALTER TABLE dba.tImportConfig DROP CONSTRAINT IF EXISTS timportconfig_file_type_check;
ALTER TABLE dba.tImportConfig ADD CONSTRAINT timportconfig_file_type_check
    CHECK (file_type IN ('xls', 'xlsx', 'xlsb', 'ods', 'csv', 'txt'));
