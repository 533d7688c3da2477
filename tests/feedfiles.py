"""The Feeds tests' shared setup: a test database as the Feeds database (with the tables and
tImportConfig rows the tests use), dropped files aged past the settle window, a watcher pass
under a RunReport as ./run.sh runs it."""
import os

import luigi
import luigi.configuration
import openpyxl
import pytest

from pipelines.base import data_dir
from pipelines.failures import RunReport
from pipelines.feeds import WatchFeeds
from targets import clock
from tests.ledger import open_ledger

ROWS = ("INSERT INTO dba.timportconfig (job_name, filename_regex, source_dir, file_type, sheet, header_row,"
        " delimiter, target_schema, target_table, load_mode, key_columns, max_rejects, notify) VALUES"
        " ('events', 'events_\\d{8}\\.xlsx', 'feeds/inbound', 'xlsx', 'Events', 2, ',', 'feeds', 'events', 'upsert',"
        "  '{event_id}', 1, 'ops@example.org'),"
        " ('clients', 'clients_.*\\.csv', 'feeds/inbound', 'csv', NULL, 1, ';', 'feeds', 'clients', 'append', NULL, 0,"
        "  'clients@example.org'),"
        " ('bad', 'bad_.*', 'feeds/inbound', 'csv', NULL, 1, ',', 'pg_catalog', 'pg_class', 'append', NULL, 0, NULL)")


@pytest.fixture
def feeds(stack_config, pg_settings):
    parser = luigi.configuration.get_config()
    for key, value in (("dbname", pg_settings.dbname), ("user", "postgres"), ("password", "${PG_PASSWORD}")):
        parser.set("feeds_db", key, value)
    client = open_ledger(pg_settings, migrate=True)
    with client.transaction() as cur:
        cur.execute("CREATE SCHEMA feeds; CREATE TABLE feeds.events (event_id integer PRIMARY KEY, company text NOT"
                    " NULL, starts date, ticker text); CREATE TABLE feeds.clients (client_id text NOT NULL, name text,"
                    " joined date)")
        cur.execute(ROWS)
    inbox = data_dir() / "feeds" / "inbound"
    inbox.mkdir(parents=True)
    yield client, inbox
    client.db.close()


def age(path, seconds=120):
    t = clock.now().timestamp() - seconds
    os.utime(path, (t, t))
    return path


def events_workbook(path, rows, sheet="Events"):
    book = openpyxl.Workbook()
    book.active.title = "Cover"
    book.active.append(["nothing here"])
    ws = book.create_sheet(sheet)
    ws.append(["Company events, week 48"])  # a title row: the header is row 2
    ws.append(["Event ID", "Company", "Starts", "Ticker"])
    for r in rows:
        ws.append(list(r))
    book.save(path)
    return age(path)


def table(client, query):
    with client.transaction() as cur:
        cur.execute(query)
        return cur.fetchall()


def watch_pass():
    with RunReport("./run.sh luigi --module pipelines.feeds WatchFeeds", mail=False):
        return luigi.build([WatchFeeds()], local_scheduler=True)




def write(path, text):
    path.write_text(text)
    return path
