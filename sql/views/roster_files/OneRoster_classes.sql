-- OneRoster classes.csv: a class per section (cls-<section id>), homeroom for HR, in its term.
SELECT
  CONCAT('cls-', sec.Section_ID) AS sourcedId,
  CAST(NULL AS STRING) AS status,
  CAST(NULL AS STRING) AS dateLastModified,
  CONCAT(sec.Course_Name, ' - ', sec.Section_Number) AS title,
  CASE sec.Grade_Level WHEN '' THEN NULL WHEN '-1' THEN 'PK' WHEN '0' THEN 'KG' ELSE LPAD(sec.Grade_Level, 2, '0') END AS grades,
  CONCAT('crs-', sec.SchoolID, '-', sec.Course_Number) AS courseSourcedId,
  sec.Section_Number AS classCode,
  CASE WHEN sec.Course_Number = 'HR' THEN 'homeroom' ELSE 'scheduled' END AS classType,
  CAST(NULL AS STRING) AS location,
  CONCAT('sch-', sec.SchoolID) AS schoolSourcedId,
  CONCAT('term-', FORMAT_DATE('%Y%m%d', sec.Term_Start), '-', FORMAT_DATE('%Y%m%d', sec.Term_End)) AS termSourcedIds,
  CAST(NULL AS STRING) AS subjects,
  CAST(NULL AS STRING) AS subjectCodes,
  NULLIF(sec.Period, '') AS periods
FROM `{project}.{source}.sections` AS sec
