-- Runaway/missing episodes of youth in DFPS conservatorship that began in the report period.
-- Oracle-style binds (:period_start, :period_end); the same SQL runs on PostgreSQL for tests.
SELECT r.person_id, r.last_name, r.first_name, r.birth_date, r.sex, r.county, r.runaway_date
FROM impact.runaway_episodes r
WHERE r.runaway_date BETWEEN :period_start AND :period_end
ORDER BY r.person_id, r.runaway_date
