-- County -> DFPS region lookup.
SELECT c.county, c.region
FROM impact.county_region c
