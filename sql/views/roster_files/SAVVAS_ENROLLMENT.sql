-- SAVVAS ENROLLMENT.txt: active students' school enrollments this year (every student_code must be
-- in STUDENT.txt, which holds active students only; a withdrawn student drops out of both).
SELECT
  CONCAT(st.Student_Number, '.', st.SchoolID, '.', CAST(EXTRACT(YEAR FROM st.EntryDate) AS STRING)) AS native_enrollment_code,
  st.Student_Number AS student_code,
  CAST(EXTRACT(YEAR FROM st.EntryDate) AS STRING) AS school_year,
  st.SchoolID AS school_code,
  CASE st.Grade_Level WHEN -1 THEN 'PK' WHEN 0 THEN 'KG' ELSE LPAD(CAST(st.Grade_Level AS STRING), 2, '0') END AS grade_code,
  FORMAT_DATE('%Y-%m-%d', st.EntryDate) AS date_enrolled,
  CASE WHEN st.Enroll_Status = 0 THEN NULL ELSE FORMAT_DATE('%Y-%m-%d', st.ExitDate) END AS date_withdrawn
FROM `{project}.{source}.students` AS st
WHERE st.Enroll_Status = 0
