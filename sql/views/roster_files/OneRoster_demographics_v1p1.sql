-- OneRoster 1.1 demographics.csv: each active student's birth date and sex (M male, F female;
-- 1.1 has no other value: X is left empty); the sourcedId is the student's (stu-<number>).
SELECT
  CONCAT('stu-', st.Student_Number) AS sourcedId,
  CAST(NULL AS STRING) AS status,
  CAST(NULL AS STRING) AS dateLastModified,
  FORMAT_DATE('%Y-%m-%d', st.DOB) AS birthDate,
  CASE st.Gender WHEN 'M' THEN 'male' WHEN 'F' THEN 'female' END AS sex,
  CAST(NULL AS STRING) AS americanIndianOrAlaskaNative,
  CAST(NULL AS STRING) AS asian,
  CAST(NULL AS STRING) AS blackOrAfricanAmerican,
  CAST(NULL AS STRING) AS nativeHawaiianOrOtherPacificIslander,
  CAST(NULL AS STRING) AS white,
  CAST(NULL AS STRING) AS demographicRaceTwoOrMoreRaces,
  CAST(NULL AS STRING) AS hispanicOrLatinoEthnicity,
  CAST(NULL AS STRING) AS countryOfBirthCode,
  CAST(NULL AS STRING) AS stateOfBirthAbbreviation,
  CAST(NULL AS STRING) AS cityOfBirth,
  CAST(NULL AS STRING) AS publicSchoolResidenceStatus
FROM `{project}.{source}.students` AS st
WHERE st.Enroll_Status = 0
