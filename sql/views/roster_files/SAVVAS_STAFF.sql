-- SAVVAS STAFF.txt: every teacher once.
SELECT
  t.Teacher_Number AS staff_code,
  t.Last_Name AS last_name,
  t.First_Name AS first_name,
  t.Email AS email,
  t.Teacher_Number AS staff_number,
  t.Email AS username,
  CAST(NULL AS STRING) AS password,
  t.Email AS federated_id
FROM `{project}.{source}.teachers` AS t
WHERE t.Is_Home_School = 1
