-- OneRoster users.csv (1.1 and 1.2 columns; an export takes its version's): active students
-- (stu-<student number>) and teachers (tch-<teacher number>, once, with every school they teach
-- at, the home school first). username: the e-mail address, else the number.
SELECT
  u.sourcedId AS sourcedId,
  CAST(NULL AS STRING) AS status,
  CAST(NULL AS STRING) AS dateLastModified,
  'true' AS enabledUser,
  u.orgSourcedIds AS orgSourcedIds,
  u.role AS role,
  u.username AS username,
  u.userIds AS userIds,
  u.givenName AS givenName,
  u.familyName AS familyName,
  u.middleName AS middleName,
  u.identifier AS identifier,
  u.email AS email,
  CAST(NULL AS STRING) AS sms,
  CAST(NULL AS STRING) AS phone,
  CAST(NULL AS STRING) AS agentSourcedIds,
  u.grades AS grades,
  CAST(NULL AS STRING) AS password,
  CAST(NULL AS STRING) AS userMasterIdentifier,
  CAST(NULL AS STRING) AS resourceSourcedIds,
  CAST(NULL AS STRING) AS preferredGivenName,
  CAST(NULL AS STRING) AS preferredMiddleName,
  CAST(NULL AS STRING) AS preferredFamilyName,
  u.primaryOrgSourcedId AS primaryOrgSourcedId,
  CAST(NULL AS STRING) AS pronouns
FROM (
  SELECT CONCAT('stu-', st.Student_Number) AS sourcedId, CONCAT('sch-', st.SchoolID) AS orgSourcedIds,
         'student' AS role, COALESCE(NULLIF(st.Email, ''), st.Student_Number) AS username,
         CONCAT('{SIS:', st.Student_Number, '}') AS userIds, st.First_Name AS givenName, st.Last_Name AS familyName,
         NULLIF(st.Middle_Name, '') AS middleName, st.Student_Number AS identifier, NULLIF(st.Email, '') AS email,
         CASE st.Grade_Level WHEN -1 THEN 'PK' WHEN 0 THEN 'KG' ELSE LPAD(CAST(st.Grade_Level AS STRING), 2, '0') END AS grades,
         CONCAT('sch-', st.SchoolID) AS primaryOrgSourcedId
  FROM `{project}.{source}.students` AS st
  WHERE st.Enroll_Status = 0
  UNION ALL
  SELECT CONCAT('tch-', t.Teacher_Number),
         STRING_AGG(CONCAT('sch-', t.SchoolID), ',' ORDER BY t.Is_Home_School DESC, t.SchoolID),
         'teacher', COALESCE(NULLIF(MAX(t.Email), ''), t.Teacher_Number),
         CONCAT('{SIS:', t.Teacher_Number, '}'), MAX(t.First_Name), MAX(t.Last_Name), CAST(NULL AS STRING),
         t.Teacher_Number, NULLIF(MAX(t.Email), ''), CAST(NULL AS STRING),
         CONCAT('sch-', MAX(CASE WHEN t.Is_Home_School = 1 THEN t.SchoolID END))
  FROM `{project}.{source}.teachers` AS t
  GROUP BY t.Teacher_Number
) AS u
