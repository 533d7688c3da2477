-- SAVVAS SCHOOL.txt. Grades: PK, KG, 01..12.
SELECT
  s.School_Number AS school_code,
  s.Name AS school_name,
  '{district_code}' AS district_code,
  CASE s.Low_Grade WHEN -1 THEN 'PK' WHEN 0 THEN 'KG' ELSE LPAD(CAST(s.Low_Grade AS STRING), 2, '0') END AS grade_start,
  CASE s.High_Grade WHEN -1 THEN 'PK' WHEN 0 THEN 'KG' ELSE LPAD(CAST(s.High_Grade AS STRING), 2, '0') END AS grade_end,
  s.Address AS address_1,
  CAST(NULL AS STRING) AS address_2,
  s.City AS city,
  s.State AS state,
  s.Zip AS zip,
  s.Phone AS phone
FROM `{project}.{source}.schools` AS s
