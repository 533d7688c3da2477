-- Clever staff.csv: non-teaching staff.
SELECT
  sf.SchoolID AS School_id,
  sf.Staff_Number AS Staff_id,
  sf.Email AS Staff_email,
  sf.First_Name AS First_name,
  sf.Last_Name AS Last_name,
  sf.Title AS Title
FROM `{project}.{source}.staff` AS sf
