-- SAVVAS PIF_SECTION.txt
SELECT
  sec.Section_ID AS native_section_code,
  sec.SchoolID AS school_code,
  FORMAT_DATE('%Y-%m-%d', sec.Term_Start) AS date_start,
  FORMAT_DATE('%Y-%m-%d', sec.Term_End) AS date_end,
  CAST(EXTRACT(YEAR FROM sec.Term_Start) AS STRING) AS school_year,
  sec.Course_Number AS course_number,
  sec.Course_Name AS course_name,
  CONCAT(sec.Course_Name, ' - ', sec.Section_Number) AS section_name,
  sec.Section_Number AS section_number
FROM `{project}.{source}.sections` AS sec
