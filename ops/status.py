"""``./run.sh status [--date D] [--days N] [--json]``: what ran, what failed and what was sent,
from the ledger (dba.tDataLoads), and, from the schedule, the runs that should have started
but never did. Ids, file names, counts and rules only — never row contents.

- *Runs*: each configured slot of schedule.toml against the ``run`` rows ``./run.sh luigi``
  writes: when it was due, when it started, how it ended; a due run with no start within
  ``GRACE`` is **missed** (cron or the machine was down; ``./run.sh luigi`` was never called).
- *What ran*: per job, successes, failures and rows of the period, and the age of its last
  success ever.
- *Still failing*, *What was sent*, *Paused*, *Operator actions*.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import luigi.configuration

from pipelines.base import timezone, today
from pipelines.pauses import describe, pause_dir
from registry.schedule import fire_times, load_schedule
from targets import clock
from targets.postgres import PostgresClient

GRACE = dt.timedelta(minutes=30)
CHART_DAYS = 30
HIDDEN = ("run", "operator")  # jobs with their own sections


def age(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes // 1440} days"


def runs(client: PostgresClient, day: dt.date, now: dt.datetime, zone: str, sections: set[str] | None) -> list[dict]:
    """Each configured slot's runs due on ``day`` (up to ``now``) and what became of them."""
    import zoneinfo
    tz = zoneinfo.ZoneInfo(zone)
    start = dt.datetime.combine(day, dt.time(0), tz)
    with client.transaction() as cur:
        cur.execute("SELECT split_part(item, ' ', 1), started_at, status, note FROM dba.tdataloads WHERE job_name ="
                    " 'run' AND started_at >= %s AND started_at < %s ORDER BY started_at",
                    (start - GRACE, start + dt.timedelta(days=1) + GRACE))
        started = cur.fetchall()
    out = []
    for slot in load_schedule().slot:
        if sections is not None and any(n not in sections for n in slot.needs):
            continue
        due = [t for t in fire_times(slot.cron, day, zone) if t <= now]
        mine = [(at, status, note) for task, at, status, note in started if task == slot.task]
        missed = [t for t in due if t + GRACE < now and not any(t - dt.timedelta(minutes=1) <= at <= t + GRACE
                                                                 for at, _, _ in mine)]
        last = mine[-1] if mine else None
        out.append({"task": slot.task, "cron": slot.cron, "due": len(due), "started": len(mine),
                    "missed": [t.isoformat() for t in missed],
                    "last_start": last[0].astimezone(tz).isoformat() if last else None,
                    "last_status": last[1] if last else None, "last_note": last[2] if last else None})
    return out


def collect(client: PostgresClient, day: dt.date, days: int = 1, now: dt.datetime | None = None,
            sections: set[str] | None = None) -> dict:
    """Everything ``status`` shows, as data (``--json`` prints it)."""
    now = now or clock.now()
    since = day - dt.timedelta(days=days - 1)
    client.ensure_schema()
    with client.transaction() as cur:
        cur.execute("SELECT job_name, count(*) FILTER (WHERE status = 'succeeded'),"
                    " count(*) FILTER (WHERE status = 'failed'), coalesce(sum(rows) FILTER (WHERE status = 'succeeded'), 0),"
                    " max(finished_at) FROM dba.tdataloads WHERE run_date BETWEEN %s AND %s AND job_name <> ALL(%s)"
                    " GROUP BY 1 ORDER BY 1", (since, day, list(HIDDEN)))
        jobs = cur.fetchall()
        cur.execute("SELECT job_name, max(finished_at) FROM dba.tdataloads WHERE status = 'succeeded'"
                    " AND job_name <> ALL(%s) GROUP BY 1", (list(HIDDEN),))
        last_ok = dict(cur.fetchall())
        cur.execute("SELECT job_name, item, run_date, finished_at, error FROM dba.tdataloads WHERE status = 'failed'"
                    " AND run_date BETWEEN %s AND %s AND job_name <> ALL(%s) AND NOT EXISTS (SELECT 1 FROM"
                    " dba.tdataloads s WHERE s.job_name = dba.tdataloads.job_name AND s.item = dba.tdataloads.item"
                    " AND s.run_date = dba.tdataloads.run_date AND s.status = 'succeeded') ORDER BY finished_at",
                    (since, day, list(HIDDEN)))
        failed = cur.fetchall()
        cur.execute("SELECT job_name, item, destination, rows, bytes, finished_at FROM dba.tdataloads WHERE"
                    " direction = 'out' AND status = 'succeeded' AND run_date BETWEEN %s AND %s ORDER BY finished_at",
                    (since, day))
        sent = cur.fetchall()
        cur.execute("SELECT item, source, note, finished_at FROM dba.tdataloads WHERE job_name = 'operator'"
                    " AND run_date BETWEEN %s AND %s ORDER BY finished_at", (since, day))
        actions = cur.fetchall()
        cur.execute("SELECT job_name, run_date, coalesce(sum(rows), 0) FROM dba.tdataloads WHERE direction = 'out'"
                    " AND status = 'succeeded' AND run_date BETWEEN %s AND %s AND job_name NOT LIKE '%%_resend'"
                    " GROUP BY 1, 2 ORDER BY 1, 2", (day - dt.timedelta(days=CHART_DAYS - 1), day))
        chart: dict[str, dict[str, int]] = {}
        for job, run_date, rows in cur.fetchall():
            chart.setdefault(job, {})[run_date.isoformat()] = int(rows)
    zone = timezone()
    pauses = {}
    if pause_dir().is_dir():
        pauses = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(pause_dir().glob("*.json"))}
    return {
        "date": day.isoformat(), "since": since.isoformat(), "now": now.isoformat(), "zone": zone,
        "jobs": [{"job": j, "succeeded": ok, "failed": bad, "rows": rows, "last": at.isoformat() if at else None,
                  "last_success": last_ok[j].isoformat() if last_ok.get(j) else None,
                  "last_success_age": age(now - last_ok[j]) if last_ok.get(j) else None}
                 for j, ok, bad, rows, at in jobs],
        "failing": [{"job": j, "item": i, "run_date": d.isoformat(), "at": at.isoformat() if at else None,
                     "error": e} for j, i, d, at, e in failed],
        "sent": [{"job": j, "item": i, "destination": dest, "rows": r, "bytes": b, "at": at.isoformat()}
                 for j, i, dest, r, b, at in sent],
        "runs": runs(client, day, now, zone, sections),
        "paused": pauses,
        "rows_sent": chart,
        "actions": [{"what": i.split(" @")[0], "by": (src or "").removeprefix("user "), "note": n,
                     "at": at.isoformat() if at else None} for i, src, n, at in actions],
    }


def text(data: dict) -> str:
    import zoneinfo
    tz = zoneinfo.ZoneInfo(data["zone"])

    def local(iso: str | None, fmt: str = "%H:%M") -> str:
        return dt.datetime.fromisoformat(iso).astimezone(tz).strftime(fmt) if iso else "-"

    span = data["date"] if data["since"] == data["date"] else f"{data['since']} to {data['date']}"
    lines = [f"Status for {span} (dba.tDataLoads; times {data['zone']}, now {local(data['now'], '%Y-%m-%d %H:%M %Z')})",
             "", "Runs (schedule.toml against ./run.sh luigi's run rows):"]
    for r in data["runs"]:
        if not r["due"] and not r["started"]:
            continue
        how = f"last started {local(r['last_start'])}, {r['last_status']} ({r['last_note'] or 'running'})" \
            if r["last_start"] else "never started"
        line = f"  {r['cron']:16} {r['task']:28} due {r['due']:3}, started {r['started']:3}; {how}"
        if r["missed"]:
            shown = ", ".join(local(t) for t in r["missed"][-3:])
            line += f"\n  {'':16} MISSED {len(r['missed'])}: {shown} (cron or the machine was down: " \
                    f"./run.sh luigi --module ... {r['task']} runs it now)"
        lines.append(line)
    lines += ["", "What ran:"]
    lines += [f"  {j['job']:28} {j['succeeded']:4} succeeded {j['failed']:3} failed {j['rows']:>10} rows   "
              f"last {local(j['last'], '%Y-%m-%d %H:%M')}   last success {j['last_success_age'] or 'never'} ago"
              .replace("never ago", "never") for j in data["jobs"]] or ["  nothing"]
    lines += ["", "Still failing (no success since):"]
    lines += [f"  {f['job']} {f['item']} ({f['run_date']}, {local(f['at'])}): {f['error']}" for f in data["failing"]] \
        or ["  nothing"]
    lines += ["", "What was sent:"]
    lines += [f"  {local(s['at'])} {s['job']:20} {s['item']:32} {s['rows'] if s['rows'] is not None else '-':>8} rows "
              f"{s['bytes'] or 0:>10} bytes -> {s['destination']}" for s in data["sent"]] or ["  nothing"]
    if data["paused"]:
        lines += ["", "Paused:"] + [f"  {describe(flow, info)}" for flow, info in data["paused"].items()]
    if data["actions"]:
        lines += ["", "Operator actions:"]
        lines += [f"  {local(a['at'])} {a['by']}: {a['what']} ({a['note'] or ''})" for a in data["actions"]]
    return "\n".join(lines)


def html(data: dict) -> str:
    """The same page as HTML (``--html FILE``), with the rows sent per vendor job over the last
    30 days as bars; ids, counts and rules only."""
    from html import escape
    day = dt.date.fromisoformat(data["date"])
    dates = [(day - dt.timedelta(days=CHART_DAYS - 1 - i)).isoformat() for i in range(CHART_DAYS)]
    charts = []
    for job, by_day in sorted(data["rows_sent"].items()):
        top = max(by_day.values()) or 1
        bars = "".join(
            f"<div class='bar' title='{d}: {by_day.get(d, 0):,} rows' style='height:{max(1, by_day.get(d, 0) * 60 // top)}px"
            f"{';background:#ccc' if d not in by_day else ''}'></div>" for d in dates)
        charts.append(f"<tr><th>{escape(job)}</th><td><div class='chart'>{bars}</div></td>"
                      f"<td>{sum(by_day.values()):,} rows in {len(by_day)} days</td></tr>")
    missed = [r for r in data["runs"] if r["missed"]]
    body = [f"<h1>Status for {escape(data['date'])}</h1><p>Times {escape(data['zone'])}; made {escape(data['now'])}</p>",
            "<h2>Missed runs</h2>" + ("<ul>" + "".join(
                f"<li><b>{escape(r['task'])}</b> ({escape(r['cron'])}): {len(r['missed'])} missed, last due "
                f"{escape(r['missed'][-1])}</li>" for r in missed) + "</ul>" if missed else "<p>none</p>"),
            "<h2>Still failing</h2>" + ("<table>" + "".join(
                f"<tr><td>{escape(f['job'])}</td><td>{escape(f['item'])}</td><td>{escape(f['run_date'])}</td>"
                f"<td>{escape(f['error'] or '')}</td></tr>" for f in data["failing"]) + "</table>"
                if data["failing"] else "<p>nothing</p>"),
            f"<h2>Rows sent per vendor, last {CHART_DAYS} days</h2><table>{''.join(charts) or '<tr><td>nothing sent'}"
            "</table>",
            "<h2>What ran</h2><table><tr><th>job</th><th>succeeded</th><th>failed</th><th>rows</th>"
            "<th>last success</th></tr>" + "".join(
                f"<tr><td>{escape(j['job'])}</td><td>{j['succeeded']}</td><td>{j['failed']}</td><td>{j['rows']:,}</td>"
                f"<td>{escape(j['last_success_age'] or 'never')}</td></tr>" for j in data["jobs"]) + "</table>",
            "<h2>What was sent</h2><table>" + "".join(
                f"<tr><td>{escape(x['job'])}</td><td>{escape(x['item'])}</td><td>{x['rows'] if x['rows'] is not None else '-'}"
                f"</td><td>{escape(x['destination'] or '')}</td></tr>" for x in data["sent"]) + "</table>"]
    style = ("body{font-family:sans-serif}table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left}"
             ".chart{display:flex;align-items:flex-end;height:62px;gap:1px}.bar{width:8px;background:#2a7}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>district-etl status {escape(data['date'])}"
            f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>")


def report(client: PostgresClient, day: dt.date, days: int = 1) -> str:
    return text(collect(client, day, days))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="run.sh status")
    ap.add_argument("--date", type=dt.date.fromisoformat, default=None)
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="the same as JSON, for scripts and monitoring")
    ap.add_argument("--html", metavar="FILE", help="also write the page as HTML, with the 30-day chart")
    args = ap.parse_args(argv)
    data = collect(PostgresClient.from_config(), args.date or today(), args.days,
                   sections=set(luigi.configuration.get_config().sections()))
    print(json.dumps(data, indent=2, default=str) if args.json else text(data))
    if args.html:
        from targets.local import atomic_path
        with atomic_path(args.html) as tmp:
            Path(tmp).write_text(html(data), encoding="utf-8")
        print(f"HTML page: {args.html}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    from ops import one_line_errors
    sys.exit(one_line_errors("status", main)(sys.argv[1:]))
