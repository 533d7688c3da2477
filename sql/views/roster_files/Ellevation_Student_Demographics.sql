-- Ellevation Student-Demographics.csv: English learners. GradeLevel Pre-K, K, 1..12; BirthDate MM/DD/YYYY.
SELECT
  st.Student_Number AS StudentID,
  st.State_StudentNumber AS StateID,
  st.Last_Name AS LastName,
  st.First_Name AS FirstName,
  st.Middle_Name AS MiddleName,
  'Yes' AS ActiveStatus,
  st.SchoolID AS SchoolCode,
  CASE st.Grade_Level WHEN -1 THEN 'Pre-K' WHEN 0 THEN 'K' ELSE CAST(st.Grade_Level AS STRING) END AS GradeLevel,
  st.Gender AS Gender,
  FORMAT_DATE('%m/%d/%Y', st.DOB) AS BirthDate,
  st.Home_Language AS HomeLanguage,
  st.Email AS Email
FROM `{project}.{source}.students` AS st
WHERE st.Enroll_Status = 0 AND st.ELL = 'Y'
