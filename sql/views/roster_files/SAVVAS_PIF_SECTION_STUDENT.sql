-- SAVVAS PIF_SECTION_STUDENT.txt: active students in their sections.
SELECT DISTINCT
  CONCAT(sec.Course_Number, '.', sec.Section_ID, '.', e.Student_Number) AS section_student_code,
  e.Student_Number AS student_code,
  sec.Section_ID AS native_section_code,
  FORMAT_DATE('%Y-%m-%d', e.DateEnrolled) AS date_start,
  FORMAT_DATE('%Y-%m-%d', sec.Term_End) AS date_end,
  CAST(EXTRACT(YEAR FROM sec.Term_Start) AS STRING) AS school_year
FROM `{project}.{source}.enrollments` AS e
JOIN `{project}.{source}.sections` AS sec ON sec.Section_ID = e.Section_ID
JOIN `{project}.{source}.students` AS st ON st.Student_Number = e.Student_Number
WHERE st.Enroll_Status = 0
