-- Conservatorship and placement of each person (the sa_98 extract).
SELECT s.person_id, s.conservatorship, s.placement_type
FROM impact.sa_98_data s
