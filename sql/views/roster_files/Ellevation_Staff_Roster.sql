-- Ellevation Staff-Roster.csv (headers agreed at onboarding; no public spec): every school a teacher works at.
SELECT
  t.Teacher_Number AS StaffID,
  t.Last_Name AS LastName,
  t.First_Name AS FirstName,
  t.Email AS Email,
  t.SchoolID AS SchoolCode,
  t.Title AS Role
FROM `{project}.{source}.teachers` AS t
