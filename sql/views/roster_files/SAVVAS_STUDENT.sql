-- SAVVAS STUDENT.txt: active students; dob yyyy-mm-dd; SSO login (federated_id) = e-mail.
SELECT
  st.Student_Number AS student_code,
  st.Last_Name AS last_name,
  st.First_Name AS first_name,
  st.Middle_Name AS middle_name,
  st.Gender AS gender_code,
  FORMAT_DATE('%Y-%m-%d', st.DOB) AS dob,
  st.Email AS email,
  st.Student_Number AS student_number,
  st.Email AS username,
  CAST(NULL AS STRING) AS password,
  st.Email AS federated_id
FROM `{project}.{source}.students` AS st
WHERE st.Enroll_Status = 0
