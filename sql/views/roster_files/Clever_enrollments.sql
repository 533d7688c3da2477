-- Clever enrollments.csv: one row per active student per section.
SELECT DISTINCT
  sec.SchoolID AS School_id,
  e.Section_ID AS Section_id,
  e.Student_Number AS Student_id
FROM `{project}.{source}.enrollments` AS e
JOIN `{project}.{source}.sections` AS sec ON sec.Section_ID = e.Section_ID
JOIN `{project}.{source}.students` AS st ON st.Student_Number = e.Student_Number
WHERE st.Enroll_Status = 0
