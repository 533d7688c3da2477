-- SAVVAS PIF_SECTION_STAFF.txt: one row per teacher of a section; the lead is teacher of record.
SELECT
  CONCAT(sec.Section_ID, '.', stt.Teacher_Number) AS section_teacher_code,
  stt.Teacher_Number AS staff_code,
  sec.Section_ID AS native_section_code,
  FORMAT_DATE('%Y-%m-%d', sec.Term_Start) AS date_start,
  FORMAT_DATE('%Y-%m-%d', sec.Term_End) AS date_end,
  CAST(EXTRACT(YEAR FROM sec.Term_Start) AS STRING) AS school_year,
  CASE WHEN stt.Role = 'Lead' THEN 'true' ELSE 'false' END AS teacher_of_record
FROM `{project}.{source}.section_teachers` AS stt
JOIN `{project}.{source}.sections` AS sec ON sec.Section_ID = stt.Section_ID
