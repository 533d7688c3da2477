-- PowerSchool import (PS_imports): each active student's Google address from the Clever IDM export.
SELECT
  CAST(g.SIS_ID AS STRING) AS Student_Number,
  g.Email AS Email_Address
FROM `{project}.{source}.google_accounts` AS g
JOIN `{project}.{source}.students` AS st ON st.Student_Number = CAST(g.SIS_ID AS STRING)
WHERE st.Enroll_Status = 0
