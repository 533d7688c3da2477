-- OneRoster enrollments.csv: each active student in each of their sections
-- (enr-<section id>-stu-<student number>) and each section's teachers, the lead primary
-- (enr-<section id>-tch-<teacher number>).
SELECT
  e.sourcedId AS sourcedId,
  CAST(NULL AS STRING) AS status,
  CAST(NULL AS STRING) AS dateLastModified,
  e.classSourcedId AS classSourcedId,
  e.schoolSourcedId AS schoolSourcedId,
  e.userSourcedId AS userSourcedId,
  e.role AS role,
  e.isPrimary AS `primary`,
  e.beginDate AS beginDate,
  e.endDate AS endDate
FROM (
  SELECT DISTINCT CONCAT('enr-', en.Section_ID, '-stu-', en.Student_Number) AS sourcedId,
         CONCAT('cls-', en.Section_ID) AS classSourcedId, CONCAT('sch-', sec.SchoolID) AS schoolSourcedId,
         CONCAT('stu-', en.Student_Number) AS userSourcedId, 'student' AS role, 'false' AS isPrimary,
         FORMAT_DATE('%Y-%m-%d', en.DateEnrolled) AS beginDate, FORMAT_DATE('%Y-%m-%d', en.DateLeft) AS endDate
  FROM `{project}.{source}.enrollments` AS en
  JOIN `{project}.{source}.sections` AS sec ON sec.Section_ID = en.Section_ID
  JOIN `{project}.{source}.students` AS st ON st.Student_Number = en.Student_Number
  WHERE st.Enroll_Status = 0
  UNION ALL
  SELECT CONCAT('enr-', stt.Section_ID, '-tch-', stt.Teacher_Number), CONCAT('cls-', stt.Section_ID),
         CONCAT('sch-', sec.SchoolID), CONCAT('tch-', stt.Teacher_Number), 'teacher',
         CASE WHEN stt.Role = 'Lead' THEN 'true' ELSE 'false' END,
         CAST(NULL AS STRING), CAST(NULL AS STRING)
  FROM `{project}.{source}.section_teachers` AS stt
  JOIN `{project}.{source}.sections` AS sec ON sec.Section_ID = stt.Section_ID
) AS e
