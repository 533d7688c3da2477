-- OTUS_Attendance_Discipline.csv (no published Otus format: header to confirm with Otus).
-- Attendance (Present/Tardy/Absent) and discipline incidents, dates YYYY-MM-DD. Otus matches
-- rows to accounts by e-mail, so students without one are left out (they have no Otus account).
SELECT
  st.Email AS Student_Email,
  a.Student_Number AS SIS_ID,
  a.SchoolID AS School_ID,
  FORMAT_DATE('%Y-%m-%d', a.Att_Date) AS Date,
  'Attendance' AS Record_Type,
  CASE a.Att_Code WHEN 'P' THEN 'Present' WHEN 'T' THEN 'Tardy' WHEN 'A' THEN 'Absent' ELSE a.Att_Code END AS Status,
  CAST(NULL AS STRING) AS Note
FROM `{project}.{source}.attendance` AS a
JOIN `{project}.{source}.students` AS st ON st.Student_Number = a.Student_Number
WHERE st.Email IS NOT NULL
UNION ALL
SELECT
  st.Email AS Student_Email,
  d.Student_Number AS SIS_ID,
  d.SchoolID AS School_ID,
  FORMAT_DATE('%Y-%m-%d', d.Incident_Date) AS Date,
  'Discipline' AS Record_Type,
  d.Incident_Type AS Status,
  d.Action AS Note
FROM `{project}.{source}.discipline` AS d
JOIN `{project}.{source}.students` AS st ON st.Student_Number = d.Student_Number
WHERE st.Email IS NOT NULL
