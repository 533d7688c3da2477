-- OneRoster orgs.csv: the district (luigi.cfg [district]) and its schools, each school under the
-- district. sourcedIds are natural keys: dist-<district code>, sch-<school number>.
SELECT
  o.sourcedId AS sourcedId,
  CAST(NULL AS STRING) AS status,
  CAST(NULL AS STRING) AS dateLastModified,
  o.name AS name,
  o.type AS type,
  o.identifier AS identifier,
  o.parentSourcedId AS parentSourcedId
FROM (
  SELECT CONCAT('dist-', '{district_code}') AS sourcedId, '{district_name}' AS name, 'district' AS type,
         '{district_code}' AS identifier, CAST(NULL AS STRING) AS parentSourcedId
  UNION ALL
  SELECT CONCAT('sch-', s.School_Number), s.Name, 'school', s.School_Number, CONCAT('dist-', '{district_code}')
  FROM `{project}.{source}.schools` AS s
) AS o
