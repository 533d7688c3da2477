"""The feeds importer's upsert vs the hand-written baseline, on a private embedded PostgreSQL:

    ./run.sh bench import [--rows 1000000] [--repeat 3]

A CSV of ``--rows`` rows (12 columns; half its keys already in the table with other values,
half new) is upserted into the same table state each time, through

- ours: ``targets.feed_loader.load_feed`` (header mapping, the staging table filled by COPY
  with ON_ERROR ignore, the empty-key check, the upsert, the counts and the ledger row, in one
  transaction);
- the baseline: one ``psql`` session running ``BEGIN``, the same staging table, ``\\copy`` of
  the file into it, the same ``INSERT ... ON CONFLICT`` statement, ``COMMIT``.

Medians of ``--repeat`` runs, alternating who goes first; the last line is
``import_ratio=X`` (our rows/s / the baseline's; goal ≥ 0.9).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from psycopg2 import sql

from bench import private_postgres
from targets.feed_loader import FeedPart, insert_statement, load_feed, stage_statement
from targets.ledger import Ledger, LedgerEntry
from targets.postgres import PostgresClient

COLUMNS = [("event_id", "bigint"), ("company", "text"), ("ticker", "text"), ("starts", "date"),
           ("ends", "date"), ("city", "text"), ("country", "text"), ("seats", "integer"),
           ("fee", "numeric(10,2)"), ("contact", "text"), ("private", "boolean"), ("updated", "timestamp")]
SETUP = ("DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench; CREATE TABLE bench.events ("
         + ", ".join(f"{n} {t}" + (" PRIMARY KEY" if n == "event_id" else "") for n, t in COLUMNS)
         + "); CREATE TABLE bench.events_start (LIKE bench.events)")
RESET = "TRUNCATE bench.events; INSERT INTO bench.events SELECT * FROM bench.events_start; ANALYZE bench.events"


def _row(rng: random.Random, key: int, version: int) -> str:
    start = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(0, 360))
    return (f"{key},Company {key % 9973} Inc.,T{key % 997:04d},{start},{start + dt.timedelta(days=2)},"
            f"\"City, {rng.randint(1, 500)}\",US,{rng.randint(10, 900)},{rng.randint(0, 99999) / 100:.2f},"
            f"ir{key}@example.org,{'true' if rng.random() < 0.1 else 'false'},2026-11-{version:02d} 08:00:00\n")


def _write(tmp: Path, rows: int) -> tuple[Path, Path]:
    """(the rows already in the table: every even key, the file: every key, half of them new)."""
    rng = random.Random(10)
    header = ",".join(n.replace("_", " ").title() for n, _ in COLUMNS) + "\n"  # mapped: "Event Id" -> event_id
    start, feed = tmp / "start.csv", tmp / "events.csv"
    with open(start, "w") as a, open(feed, "w") as b:
        a.write(header)
        b.write(header)
        for key in range(1, rows + 1):
            if key % 2 == 0:
                a.write(_row(rng, key, 1))
            b.write(_row(rng, key, 2))
    return start, feed


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        tmp = Path(tmp)
        with private_postgres(tmp) as (settings, psql, env):
            client = PostgresClient(settings)
            client.migrate()
            ledger = Ledger(client)
            start, feed = _write(tmp, args.rows)
            with client.transaction() as cur:
                cur.execute(SETUP)
                with open(start) as fh:
                    cur.copy_expert("COPY bench.events_start FROM STDIN WITH (FORMAT csv, HEADER true)", fh)
            names = [n for n, _ in COLUMNS]
            stage = sql.Identifier("feed_stage_0")
            conn = settings.connect()
            script = tmp / "baseline.sql"
            script.write_text("\n".join([
                "BEGIN;",
                stage_statement(stage, COLUMNS).as_string(conn) + ";",
                f"\\copy feed_stage_0 ({', '.join(names)}) FROM '{feed}' WITH (FORMAT csv, HEADER true)",
                insert_statement(sql.Identifier("bench", "events"), stage, names, "upsert", ["event_id"])
                .as_string(conn) + ";",
                "COMMIT;", ""]))
            conn.close()
            def baseline(_):
                subprocess.run(psql + ["-o", os.devnull, "-f", str(script)], check=True, env=env)

            def ours(i):
                result = load_feed(ledger, [FeedPart(feed)], "bench", "events", "upsert", ["event_id"],
                                   LedgerEntry("bench_import", f"run{i}", dt.date.today()))
                assert (result.inserted, result.updated, len(result.rejects)) == \
                    (args.rows - args.rows // 2, args.rows // 2, 0), result.note()

            def timed(fn, i):
                with client.transaction() as cur:
                    cur.execute(RESET)
                t0 = time.perf_counter()
                fn(i)
                return time.perf_counter() - t0

            timed(baseline, "warm-up")  # one untimed run of each warms the server
            timed(ours, "warm-up")
            t_base, t_ours = [], []
            for i in range(args.repeat):
                pair = [(t_base, baseline), (t_ours, ours)]
                for times, fn in (pair if i % 2 == 0 else pair[::-1]):
                    times.append(timed(fn, i))
            base_rate = args.rows / statistics.median(t_base)
            ours_rate = args.rows / statistics.median(t_ours)
            mb = feed.stat().st_size / 1e6
            print(f"{args.rows:,} rows x {len(COLUMNS)} columns ({mb:.0f} MB CSV), half updates, half inserts; "
                  f"median of {args.repeat}")
            print(f"psql \\copy + INSERT ... ON CONFLICT: {base_rate:12,.0f} rows/s "
                  f"({statistics.median(t_base):.2f} s)")
            print(f"ours (load_feed, ledger included): {ours_rate:12,.0f} rows/s ({statistics.median(t_ours):.2f} s)")
            client.close()
            print(f"import_ratio={ours_rate / base_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
