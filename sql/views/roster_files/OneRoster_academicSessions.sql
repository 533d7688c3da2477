-- OneRoster academicSessions.csv: the school year (sy-<year it ends>) and each term the sections
-- run in (term-<start>-<end>, YYYYMMDD), each term under its school year.
SELECT
  a.sourcedId AS sourcedId,
  CAST(NULL AS STRING) AS status,
  CAST(NULL AS STRING) AS dateLastModified,
  a.title AS title,
  a.type AS type,
  FORMAT_DATE('%Y-%m-%d', a.startDate) AS startDate,
  FORMAT_DATE('%Y-%m-%d', a.endDate) AS endDate,
  a.parentSourcedId AS parentSourcedId,
  CAST(a.schoolYear AS STRING) AS schoolYear
FROM (
  SELECT CONCAT('sy-', CAST(EXTRACT(YEAR FROM MAX(sec.Term_End)) AS STRING)) AS sourcedId,
         CONCAT(CAST(EXTRACT(YEAR FROM MIN(sec.Term_Start)) AS STRING), '-',
                CAST(EXTRACT(YEAR FROM MAX(sec.Term_End)) AS STRING)) AS title,
         'schoolYear' AS type, MIN(sec.Term_Start) AS startDate, MAX(sec.Term_End) AS endDate,
         CAST(NULL AS STRING) AS parentSourcedId, EXTRACT(YEAR FROM MAX(sec.Term_End)) AS schoolYear
  FROM `{project}.{source}.sections` AS sec
  UNION ALL
  SELECT DISTINCT CONCAT('term-', FORMAT_DATE('%Y%m%d', t.Term_Start), '-', FORMAT_DATE('%Y%m%d', t.Term_End)),
         CONCAT('Term ', FORMAT_DATE('%Y-%m-%d', t.Term_Start), ' to ', FORMAT_DATE('%Y-%m-%d', t.Term_End)),
         'term', t.Term_Start, t.Term_End,
         (SELECT CONCAT('sy-', CAST(EXTRACT(YEAR FROM MAX(y.Term_End)) AS STRING))
          FROM `{project}.{source}.sections` AS y),
         (SELECT EXTRACT(YEAR FROM MAX(y.Term_End)) FROM `{project}.{source}.sections` AS y)
  FROM `{project}.{source}.sections` AS t
) AS a
