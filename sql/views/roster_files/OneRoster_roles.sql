-- OneRoster 1.2 roles.csv: a student's role at their school (rol-stu-<number>-<school>); a
-- teacher's at each school they teach at, primary at the home school (rol-tch-<number>-<school>).
SELECT
  r.sourcedId AS sourcedId,
  CAST(NULL AS STRING) AS status,
  CAST(NULL AS STRING) AS dateLastModified,
  r.userSourcedId AS userSourcedId,
  r.roleType AS roleType,
  r.role AS role,
  CAST(NULL AS STRING) AS beginDate,
  CAST(NULL AS STRING) AS endDate,
  r.orgSourcedId AS orgSourcedId,
  CAST(NULL AS STRING) AS userProfileSourcedId
FROM (
  SELECT CONCAT('rol-stu-', st.Student_Number, '-', st.SchoolID) AS sourcedId,
         CONCAT('stu-', st.Student_Number) AS userSourcedId, 'primary' AS roleType, 'student' AS role,
         CONCAT('sch-', st.SchoolID) AS orgSourcedId
  FROM `{project}.{source}.students` AS st
  WHERE st.Enroll_Status = 0
  UNION ALL
  SELECT CONCAT('rol-tch-', t.Teacher_Number, '-', t.SchoolID), CONCAT('tch-', t.Teacher_Number),
         CASE WHEN t.Is_Home_School = 1 THEN 'primary' ELSE 'secondary' END, 'teacher', CONCAT('sch-', t.SchoolID)
  FROM `{project}.{source}.teachers` AS t
) AS r
