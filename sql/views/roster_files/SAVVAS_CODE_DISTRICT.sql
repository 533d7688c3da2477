-- SAVVAS CODE_DISTRICT.txt: the district (values from luigi.cfg [district]); school year = the year it starts.
SELECT
  '{district_code}' AS district_code,
  '{district_name}' AS district_name,
  '{district_address}' AS address_1,
  CAST(NULL AS STRING) AS address_2,
  '{district_city}' AS city,
  '{district_state}' AS state,
  '{district_zip}' AS zip,
  '{district_phone}' AS phone,
  CAST((SELECT EXTRACT(YEAR FROM MIN(Term_Start)) FROM `{project}.{source}.sections`) AS STRING) AS current_school_year
