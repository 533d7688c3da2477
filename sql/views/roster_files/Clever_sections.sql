-- Clever sections.csv: lead teacher in Teacher_id, a co-teacher in Teacher_2_id. Terms MM/DD/YYYY.
SELECT
  sec.SchoolID AS School_id,
  sec.Section_ID AS Section_id,
  lead.Teacher_Number AS Teacher_id,
  co.Teacher_Number AS Teacher_2_id,
  CONCAT(sec.Course_Name, ' - ', sec.Section_Number) AS Name,
  sec.Section_Number AS Section_number,
  CASE sec.Grade_Level WHEN '' THEN NULL WHEN '-1' THEN 'PreKindergarten' WHEN '0' THEN 'Kindergarten' ELSE sec.Grade_Level END AS Grade,
  sec.Course_Name AS Course_name,
  sec.Course_Number AS Course_number,
  sec.Period AS Period,
  CASE WHEN sec.Course_Number = 'HR' THEN 'Homeroom/advisory'
       WHEN sec.Course_Number IN ('ALG1', 'GEOM') OR STARTS_WITH(sec.Course_Number, 'MTH') THEN 'Math'
       WHEN sec.Course_Number IN ('BIO', 'CHEM') OR STARTS_WITH(sec.Course_Number, 'SCI') THEN 'Science'
       WHEN sec.Course_Number = 'USH' OR STARTS_WITH(sec.Course_Number, 'SS') THEN 'Social studies'
       WHEN STARTS_WITH(sec.Course_Number, 'ENG') OR STARTS_WITH(sec.Course_Number, 'ELA') THEN 'English/language arts'
       WHEN STARTS_WITH(sec.Course_Number, 'SPAN') THEN 'Language'
       WHEN sec.Course_Number = 'PE' THEN 'PE and health'
       WHEN sec.Course_Number = 'ART' THEN 'Arts and music'
       ELSE 'Other' END AS Subject,
  FORMAT_DATE('%m/%d/%Y', sec.Term_Start) AS Term_start,
  FORMAT_DATE('%m/%d/%Y', sec.Term_End) AS Term_end
FROM `{project}.{source}.sections` AS sec
LEFT JOIN `{project}.{source}.section_teachers` AS lead
  ON lead.Section_ID = sec.Section_ID AND lead.Role = 'Lead'
LEFT JOIN (
  SELECT Section_ID, MIN(Teacher_Number) AS Teacher_Number
  FROM `{project}.{source}.section_teachers`
  WHERE Role = 'Co-teacher'
  GROUP BY Section_ID
) AS co ON co.Section_ID = sec.Section_ID
