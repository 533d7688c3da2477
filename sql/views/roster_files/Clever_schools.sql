-- Clever schools.csv: one row per school. Grades: PreKindergarten, Kindergarten, 1..12.
SELECT
  s.School_Number AS School_id,
  s.Name AS School_name,
  s.School_Number AS School_number,
  CASE s.Low_Grade WHEN -1 THEN 'PreKindergarten' WHEN 0 THEN 'Kindergarten' ELSE CAST(s.Low_Grade AS STRING) END AS Low_grade,
  CASE s.High_Grade WHEN -1 THEN 'PreKindergarten' WHEN 0 THEN 'Kindergarten' ELSE CAST(s.High_Grade AS STRING) END AS High_grade,
  s.Principal_Email AS Principal_email,
  s.Address AS School_address,
  s.City AS School_city,
  s.State AS School_state,
  s.Zip AS School_zip,
  s.Phone AS School_phone
FROM `{project}.{source}.schools` AS s
