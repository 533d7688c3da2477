"""``./run.sh status [--date D] [--days N]``: what ran, what failed and what was sent, from the
ledger (dba.tDataLoads). Ids, file names, counts and rules only — never row contents."""
from __future__ import annotations

import argparse
import datetime as dt
import sys

from pipelines.base import today
from targets.postgres import PostgresClient


def report(client: PostgresClient, day: dt.date, days: int = 1) -> str:
    since = day - dt.timedelta(days=days - 1)
    client.ensure_schema()
    with client.transaction() as cur:
        cur.execute("SELECT job_name, count(*) FILTER (WHERE status = 'succeeded'),"
                    " count(*) FILTER (WHERE status = 'failed'), coalesce(sum(rows) FILTER (WHERE status = 'succeeded'), 0),"
                    " max(finished_at) FROM dba.tdataloads WHERE run_date BETWEEN %s AND %s GROUP BY 1 ORDER BY 1",
                    (since, day))
        jobs = cur.fetchall()
        cur.execute("SELECT job_name, item, run_date, finished_at, error FROM dba.tdataloads WHERE status = 'failed'"
                    " AND run_date BETWEEN %s AND %s AND NOT EXISTS (SELECT 1 FROM dba.tdataloads s WHERE"
                    " s.job_name = dba.tdataloads.job_name AND s.item = dba.tdataloads.item AND s.run_date ="
                    " dba.tdataloads.run_date AND s.status = 'succeeded') ORDER BY finished_at", (since, day))
        failed = cur.fetchall()
        cur.execute("SELECT job_name, item, destination, rows, bytes, finished_at FROM dba.tdataloads WHERE"
                    " direction = 'out' AND status = 'succeeded' AND run_date BETWEEN %s AND %s ORDER BY finished_at",
                    (since, day))
        sent = cur.fetchall()
    span = f"{day}" if days == 1 else f"{since} to {day}"
    lines = [f"Status for {span} (dba.tDataLoads)", "", "What ran:"]
    lines += [f"  {job:28} {ok:4} succeeded {bad:3} failed {rows:>10} rows   last {at:%Y-%m-%d %H:%M}"
              for job, ok, bad, rows, at in jobs] or ["  nothing"]
    lines += ["", "Still failing (no success since):"]
    lines += [f"  {job} {item} ({run_date}, {at:%H:%M}): {error}" for job, item, run_date, at, error in failed] \
        or ["  nothing"]
    lines += ["", "What was sent:"]
    lines += [f"  {at:%H:%M} {job:20} {item:32} {rows if rows is not None else '-':>8} rows {size or 0:>10} bytes -> {dest}"
              for job, item, dest, rows, size, at in sent] or ["  nothing"]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="run.sh status")
    ap.add_argument("--date", type=dt.date.fromisoformat, default=None)
    ap.add_argument("--days", type=int, default=1)
    args = ap.parse_args(argv)
    print(report(PostgresClient.from_config(), args.date or today(), args.days))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
