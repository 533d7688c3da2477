-- Clever students.csv: active students only (each upload is a full snapshot). DOB MM/DD/YYYY.
SELECT
  st.SchoolID AS School_id,
  st.Student_Number AS Student_id,
  st.Student_Number AS Student_number,
  st.State_StudentNumber AS State_id,
  st.Last_Name AS Last_name,
  st.Middle_Name AS Middle_name,
  st.First_Name AS First_name,
  CASE st.Grade_Level WHEN -1 THEN 'PreKindergarten' WHEN 0 THEN 'Kindergarten' ELSE CAST(st.Grade_Level AS STRING) END AS Grade,
  st.Gender AS Gender,
  FORMAT_DATE('%m/%d/%Y', st.DOB) AS DOB,
  st.Home_Language AS Home_language,
  st.ELL AS Ell_status,
  st.Email AS Student_email
FROM `{project}.{source}.students` AS st
WHERE st.Enroll_Status = 0
