-- OneRoster courses.csv: a course per school and course number (crs-<school>-<course number>),
-- in the school year; grades from its sections (CEDS: PK, KG, 01..12).
SELECT
  CONCAT('crs-', sec.SchoolID, '-', sec.Course_Number) AS sourcedId,
  CAST(NULL AS STRING) AS status,
  CAST(NULL AS STRING) AS dateLastModified,
  (SELECT CONCAT('sy-', CAST(EXTRACT(YEAR FROM MAX(y.Term_End)) AS STRING)) FROM `{project}.{source}.sections` AS y) AS schoolYearSourcedId,
  MIN(sec.Course_Name) AS title,
  sec.Course_Number AS courseCode,
  STRING_AGG(DISTINCT CASE sec.Grade_Level WHEN '' THEN NULL WHEN '-1' THEN 'PK' WHEN '0' THEN 'KG' ELSE LPAD(sec.Grade_Level, 2, '0') END, ',' ORDER BY CASE sec.Grade_Level WHEN '' THEN NULL WHEN '-1' THEN 'PK' WHEN '0' THEN 'KG' ELSE LPAD(sec.Grade_Level, 2, '0') END) AS grades,
  CONCAT('sch-', sec.SchoolID) AS orgSourcedId,
  CAST(NULL AS STRING) AS subjects,
  CAST(NULL AS STRING) AS subjectCodes
FROM `{project}.{source}.sections` AS sec
GROUP BY sec.SchoolID, sec.Course_Number
