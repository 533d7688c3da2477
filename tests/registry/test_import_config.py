"""dba.tImportConfig rows as the feeds importer reads them: good rows pass, every bad row is
refused with its row and rule (the others carry on), and nothing hostile reaches SQL."""
from pipelines.feed_files import import_config_rows
from registry.import_config import check_rows
from targets.postgres import PostgresClient

GOOD = {"job_name": "client_weekly", "filename_regex": r"^events_\d{8}\.xlsx$", "source_dir": "feeds/inbound",
        "file_type": "xlsx", "target_schema": "feeds", "target_table": "events", "load_mode": "upsert",
        "key_columns": ["event_id"], "notify": "client@firm.example, ops@firm.example"}
BAD = [
    ({"target_table": "events; DROP TABLE dba.tdataloads"}, "target_table: 'events; DROP TABLE"),
    ({"target_table": "Events"}, "'Events' is not a plain lower-case identifier (table"),
    ({"target_schema": "dba"}, "schema 'dba' is not one the feeds may load into (feeds)"),
    ({"filename_regex": "events_(\\d+.xlsx"}, "is not a regular expression: missing ), unterminated subpattern"),
    ({"load_mode": "upsert", "key_columns": None}, "load_mode 'upsert' needs key_columns"),
    ({"key_columns": ["event_id", "x\" OR 1=1 --"]}, "is not a plain lower-case identifier (key column"),
    ({"notify": "client at firm"}, "'client at firm' is not an e-mail address"),
    ({"encoding": "klingon-8"}, "unknown encoding 'klingon-8'"),
    ({"source_dir": "../../etc"}, "'../../etc' climbs out of its folder"),
]


def test_rows_from_the_table_are_checked_one_by_one(pg_settings):
    client = PostgresClient(pg_settings)
    client.migrate()
    rows = [GOOD] + [dict(GOOD, job_name=f"bad_{n}", **change) for n, (change, _) in enumerate(BAD)]
    with client.transaction() as cur:
        for row in rows:
            cols = list(row)
            cur.execute(f"INSERT INTO dba.timportconfig ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
                        [row[c] for c in cols])
    good, refused = check_rows(import_config_rows(client), schemas={"feeds"})
    assert [g.job_name for g in good] == ["client_weekly"]
    assert good[0].recipients == ["client@firm.example", "ops@firm.example"] and good[0].max_rejects == 0
    assert good[0].pattern.match("events_20261124.xlsx")
    assert len(refused) == len(BAD)
    for (change, expected), message in zip(BAD, refused):
        assert message.startswith("tImportConfig row ") and "(bad_" in message, message
        assert expected in message, (expected, message)
    # a value the table's own checks would stop is refused here too (rows may come from elsewhere)
    _, refused = check_rows([dict(GOOD, config_id=99, load_mode="merge", file_type="docx")], schemas={"feeds"})
    assert "load_mode: Input should be 'append', 'replace' or 'upsert'" in refused[0]
    assert "file_type: Input should be 'xls', 'xlsx', 'xlsb', 'ods', 'csv' or 'txt'" in refused[0]
