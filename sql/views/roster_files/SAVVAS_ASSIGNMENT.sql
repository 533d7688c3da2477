-- SAVVAS ASSIGNMENT.txt: teachers' school assignments (all their schools).
SELECT
  CONCAT(t.Teacher_Number, '.', t.SchoolID) AS native_assignment_code,
  t.Teacher_Number AS staff_code,
  (SELECT CAST(EXTRACT(YEAR FROM MIN(Term_Start)) AS STRING) FROM `{project}.{source}.sections`) AS school_year,
  t.SchoolID AS institution_code,
  (SELECT FORMAT_DATE('%Y-%m-%d', MIN(Term_Start)) FROM `{project}.{source}.sections`) AS date_start,
  (SELECT FORMAT_DATE('%Y-%m-%d', MAX(Term_End)) FROM `{project}.{source}.sections`) AS date_end,
  t.Title AS position_code
FROM `{project}.{source}.teachers` AS t
