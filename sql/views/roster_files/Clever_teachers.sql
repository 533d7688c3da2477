-- Clever teachers.csv: a teacher at several schools appears once, under the home school.
SELECT
  t.SchoolID AS School_id,
  t.Teacher_Number AS Teacher_id,
  t.Teacher_Number AS Teacher_number,
  t.Email AS Teacher_email,
  t.First_Name AS First_name,
  t.Last_Name AS Last_name,
  t.Title AS Title
FROM `{project}.{source}.teachers` AS t
WHERE t.Is_Home_School = 1
