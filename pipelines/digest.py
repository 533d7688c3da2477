"""The day at a glance, from the ledger (dba.tDataLoads) and the schedule: what
``./run.sh status`` prints (text, ``--json``, ``--html FILE``) and what the daily digest mail
(``DailyDigest``, in schedule.toml after the last morning slot) sends to ``[smtp] operators``.
Ids, file names, counts and rules only, never row contents.

- *Runs*: each configured slot of schedule.toml against the ``run`` rows ``./run.sh luigi``
  writes: when it was due, when it started, how it ended; a due run with no start within
  ``GRACE`` is **missed** (cron or the machine was down; ``./run.sh luigi`` was never called);
  a time before the ledger's first row is not (the installation was not there yet).
- *Vendors*: per vendor the files sent for the day, their rows and bytes, and the ids added
  and removed since the last push (the push's ledger note), or why nothing went.
- *Still failing*, each with the command that reruns it (the failed run's own command, for
  its date); *What ran* per job with the age of its last success; *What was sent*;
  *Paused*; *Operator actions*; rows sent per vendor job over ``CHART_DAYS`` days (a PNG bar
  chart per job in the HTML, formats/png.py).

Rerun: ``./run.sh luigi --module pipelines.digest DailyDigest --date D`` (one mail per day:
its ledger row is its output; ``./run.sh clear digest --date D`` to send it again).
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import zoneinfo
from html import escape
from typing import Callable

import luigi
import luigi.configuration

from formats.png import bar_chart
from pipelines.base import DistrictTask, RunDateParameter, counted, timezone, vendors_file
from pipelines.pauses import describe, pause_dir
from registry.schedule import fire_times, load_schedule
from targets import clock
from targets.config import district, with_district
from targets.ledger import Ledger, LedgerTarget
from targets.smtp import Mailer

GRACE = dt.timedelta(minutes=30)
CHART_DAYS = 30
HIDDEN = ("run", "operator")  # jobs with their own sections
JOB = "digest"


def age(delta: dt.timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))  # a row stamped by a clock ahead of ours: "0 min"
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes // 1440} days"


def runs(ledger: Ledger, day: dt.date, now: dt.datetime, zone: str, sections: set[str] | None) -> list[dict]:
    """Each configured slot's runs due on ``day`` (up to ``now``) and what became of them."""
    tz = zoneinfo.ZoneInfo(zone)
    start = dt.datetime.combine(day, dt.time(0), tz)
    with ledger.transaction() as cur:
        cur.execute("SELECT split_part(item, ' ', 1), started_at, status, note FROM dba.tdataloads WHERE district = %s"
                    " AND job_name = 'run' AND started_at >= %s AND started_at < %s ORDER BY started_at",
                    (district(), start - GRACE, start + dt.timedelta(days=1) + GRACE))
        started = cur.fetchall()
        # due times before the ledger's first row are not missed: the installation was not there
        # yet (a fresh install, or a demo run at noon, would show every earlier slot as missed)
        cur.execute("SELECT min(started_at) FROM dba.tdataloads WHERE district = %s", (district(),))
        first = cur.fetchone()[0]
    out = []
    for slot in load_schedule().slot:
        if sections is not None and any(n not in sections for n in slot.needs):
            continue
        due = [t for t in fire_times(slot.cron, day, zone) if t <= now]
        mine = [(at, status, note) for task, at, status, note in started if task == slot.task]
        missed = [t for t in due if t + GRACE < now and first is not None and t >= first
                  and not any(t - dt.timedelta(minutes=1) <= at <= t + GRACE for at, _, _ in mine)]
        last = mine[-1] if mine else None
        out.append({"task": slot.task, "module": slot.module, "cron": slot.cron, "due": len(due),
                    "started": len(mine), "missed": [t.isoformat() for t in missed],
                    "last_start": last[0].astimezone(tz).isoformat() if last else None,
                    "last_status": last[1] if last else None, "last_note": last[2] if last else None})
    return out


def rerun_command(command: str | None, job: str, run_date: dt.date) -> str | None:
    """The failed run's own command for its date (a run without ``--date`` took the day it ran
    on); for a vendor push without a run row, the push's own command."""
    if command is None and job.startswith("push_"):
        command = f"./run.sh luigi --module pipelines.vendors VendorPush --vendor {job.removeprefix('push_')}"
    if command is None:
        return None
    words = command.split()
    if "--date" in words or "--from" in words:
        return command
    return f"{command} --date {run_date}"


def vendors(ledger: Ledger, day: dt.date, sections: set[str] | None) -> list[dict]:
    """Per configured vendor: the files sent for ``day`` (rows, bytes, ids added and removed
    since the last push), or why nothing was sent."""
    configured = [v for v in vendors_file().vendors.values()
                  if sections is None or f"sftp_{v.server}" in sections]
    with ledger.transaction() as cur:  # one query for every vendor's items of the day
        cur.execute("SELECT DISTINCT ON (job_name, item) job_name, item, status, rows, bytes, note, finished_at"
                    " FROM dba.tdataloads WHERE district = %s AND job_name = ANY(%s) AND run_date = %s"
                    " AND status IN ('succeeded', 'failed')"
                    " ORDER BY job_name, item, (status = 'succeeded') DESC, finished_at DESC",
                    (district(), [v.job for v in configured], day))
        by_job: dict[str, list[tuple]] = {}
        for job, *rest in cur.fetchall():
            by_job.setdefault(job, []).append(tuple(rest))
    out = []
    for v in configured:
        rows = by_job.get(v.job, [])
        sent = [{"item": i, "rows": r, "bytes": b, "note": n, "at": at.isoformat() if at else None}
                for i, s, r, b, n, at in rows if s == "succeeded"]
        failed = sorted(i for i, s, *_ in rows if s == "failed")
        state = ("sent" if sent and not failed and len(sent) >= len(v.items()) else
                 "FAILED" if failed else "partly sent" if sent else
                 "not due today" if not v.runs_on(day) else "nothing sent")
        out.append({"vendor": v.name, "job": v.job, "state": state, "files": sent, "failed": failed,
                    "rows": sum(f["rows"] or 0 for f in sent)})
    return out


def collect(ledger: Ledger, day: dt.date, days: int = 1, now: dt.datetime | None = None,
            sections: set[str] | None = None) -> dict:
    """Everything ``status`` and the digest show, as data (``--json`` prints it)."""
    now = now or clock.now()
    since = day - dt.timedelta(days=days - 1)
    ledger.ensure_schema()
    here = district()
    with ledger.transaction() as cur:
        cur.execute("SELECT job_name, count(*) FILTER (WHERE status = 'succeeded'),"
                    " count(*) FILTER (WHERE status = 'failed'), coalesce(sum(rows) FILTER (WHERE status = 'succeeded'), 0),"
                    " max(finished_at) FROM dba.tdataloads WHERE district = %s AND run_date BETWEEN %s AND %s"
                    " AND job_name <> ALL(%s) GROUP BY 1 ORDER BY 1", (here, since, day, list(HIDDEN)))
        jobs = cur.fetchall()
        cur.execute("SELECT job_name, max(finished_at) FROM dba.tdataloads WHERE district = %s"
                    " AND status = 'succeeded' AND job_name <> ALL(%s) GROUP BY 1", (here, list(HIDDEN)))
        last_ok = dict(cur.fetchall())
        cur.execute("SELECT f.job_name, f.item, f.run_date, f.finished_at, f.error, (SELECT r.source FROM"
                    " dba.tdataloads r WHERE r.run_uuid = f.run_uuid AND r.job_name = 'run' LIMIT 1)"
                    " FROM dba.tdataloads f WHERE f.district = %s AND f.status = 'failed' AND f.run_date BETWEEN %s AND %s"
                    " AND f.job_name <> ALL(%s) AND NOT EXISTS (SELECT 1 FROM dba.tdataloads s WHERE"
                    " s.district = f.district AND s.job_name = f.job_name AND s.item = f.item"
                    " AND s.run_date = f.run_date AND s.status = 'succeeded') ORDER BY f.finished_at",
                    (here, since, day, list(HIDDEN)))
        failed = cur.fetchall()
        cur.execute("SELECT job_name, item, destination, rows, bytes, finished_at, note FROM dba.tdataloads WHERE"
                    " district = %s AND direction = 'out' AND status = 'succeeded' AND run_date BETWEEN %s AND %s"
                    " ORDER BY finished_at", (here, since, day))
        sent = cur.fetchall()
        cur.execute("SELECT item, source, note, finished_at FROM dba.tdataloads WHERE district = %s"
                    " AND job_name = 'operator' AND run_date BETWEEN %s AND %s ORDER BY finished_at", (here, since, day))
        actions = cur.fetchall()
        cur.execute("SELECT job_name, run_date, coalesce(sum(rows), 0) FROM dba.tdataloads WHERE district = %s"
                    " AND direction = 'out' AND status = 'succeeded' AND run_date BETWEEN %s AND %s"
                    " AND job_name NOT LIKE '%%_resend' GROUP BY 1, 2 ORDER BY 1, 2",
                    (here, day - dt.timedelta(days=CHART_DAYS - 1), day))
        chart: dict[str, dict[str, int]] = {}
        for job, run_date, rows in cur.fetchall():
            chart.setdefault(job, {})[run_date.isoformat()] = int(rows)
    zone = timezone()
    pauses = {}
    if pause_dir().is_dir():
        pauses = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(pause_dir().glob("*.json"))}
    return {
        "district": here, "date": day.isoformat(), "since": since.isoformat(), "now": now.isoformat(), "zone": zone,
        "jobs": [{"job": j, "succeeded": ok, "failed": bad, "rows": rows, "last": at.isoformat() if at else None,
                  "last_success": last_ok[j].isoformat() if last_ok.get(j) else None,
                  "last_success_age": age(now - last_ok[j]) if last_ok.get(j) else None}
                 for j, ok, bad, rows, at in jobs],
        "failing": [{"job": j, "item": i, "run_date": d.isoformat(), "at": at.isoformat() if at else None,
                     "error": e, "rerun": rerun_command(cmd, j, d)} for j, i, d, at, e, cmd in failed],
        "sent": [{"job": j, "item": i, "destination": dest, "rows": r, "bytes": b, "at": at.isoformat(), "note": n}
                 for j, i, dest, r, b, at, n in sent],
        "runs": runs(ledger, day, now, zone, sections),
        "vendors": vendors(ledger, day, sections),
        "paused": pauses,
        "rows_sent": chart,
        "actions": [{"what": i.split(" @")[0], "by": (src or "").removeprefix("user "), "note": n,
                     "at": at.isoformat() if at else None} for i, src, n, at in actions],
    }


def _local(data: dict) -> Callable[..., str]:
    tz = zoneinfo.ZoneInfo(data["zone"])

    def local(iso: str | None, fmt: str = "%H:%M") -> str:
        return dt.datetime.fromisoformat(iso).astimezone(tz).strftime(fmt) if iso else "-"
    return local


def _missed_hint(r: dict) -> str:
    return f"./run.sh luigi --module {r['module']} {r['task']}"


def text(data: dict) -> str:
    local = _local(data)
    span = data["date"] if data["since"] == data["date"] else f"{data['since']} to {data['date']}"
    lines = [f"Status for {_of(data)}{span} (dba.tDataLoads; times {data['zone']}, now {local(data['now'], '%Y-%m-%d %H:%M %Z')})",
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
                    f"{_missed_hint(r)} runs it now)"
        lines.append(line)
    lines += ["", "Vendors:"]
    for v in data["vendors"]:
        lines.append(f"  {v['vendor']:12} {v['state']}" + (f": {counted(len(v['files']), 'file')}, "
                                                           f"{counted(v['rows'], 'row')}" if v["files"] else ""))
        lines += [f"    {f['item']:32} {counted(f['rows'], 'row') if f['rows'] is not None else '- rows':>13}  "
                  f"{f['note'] or ''}" for f in v["files"]]
        lines += [f"    {item:32} FAILED" for item in v["failed"]]
    if not data["vendors"]:
        lines.append("  none configured")
    lines += ["", "Still failing (no success since):"]
    lines += [f"  {f['job']} {f['item']} ({f['run_date']}, {local(f['at'])}): {f['error']}"
              + (f"\n    rerun: {f['rerun']}" if f["rerun"] else "") for f in data["failing"]] or ["  nothing"]
    lines += ["", "What ran:"]
    lines += [f"  {j['job']:28} {j['succeeded']:4} succeeded {j['failed']:3} failed {counted(j['rows'], 'row'):>15}   "
              f"last {local(j['last'], '%Y-%m-%d %H:%M')}   last success {j['last_success_age'] or 'never'} ago"
              .replace("never ago", "never") for j in data["jobs"]] or ["  nothing"]
    lines += ["", "What was sent:"]
    lines += [f"  {local(s['at'])} {s['job']:20} {s['item']:32} "
              f"{counted(s['rows'], 'row') if s['rows'] is not None else '- rows':>13} "
              f"{counted(s['bytes'] or 0, 'byte'):>16} -> {s['destination']}" for s in data["sent"]] or ["  nothing"]
    if data["paused"]:
        lines += ["", "Paused:"] + [f"  {describe(flow, info)}" for flow, info in data["paused"].items()]
    if data["actions"]:
        lines += ["", "Operator actions:"]
        lines += [f"  {local(a['at'])} {a['by']}: {a['what']} ({a['note'] or ''})" for a in data["actions"]]
    return with_district("\n".join(lines))


def _of(data: dict) -> str:
    """"district north, " where the installation serves several districts."""
    return f"district {data['district']}, " if data.get("district") else ""


def chart_days(data: dict) -> list[str]:
    day = dt.date.fromisoformat(data["date"])
    return [(day - dt.timedelta(days=CHART_DAYS - 1 - i)).isoformat() for i in range(CHART_DAYS)]


def charts(data: dict) -> dict[str, bytes]:
    """A PNG bar chart per job of the rows it sent each of the last ``CHART_DAYS`` days (a day
    without a push: a grey stub)."""
    days = chart_days(data)
    return {job: bar_chart([by_day.get(d) for d in days]) for job, by_day in sorted(data["rows_sent"].items())}


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def html(data: dict, images: dict[str, str] | None = None) -> str:
    """The same page as HTML, with the rows sent per vendor job over the last 30 days as bar
    charts: ``images`` maps each job to its chart's ``src`` (the mail's ``cid:`` parts; by
    default the PNG inline as a data URI, for a file)."""
    images = images if images is not None else {job: data_uri(png) for job, png in charts(data).items()}
    local = _local(data)
    days = chart_days(data)
    rows = []
    for job, by_day in sorted(data["rows_sent"].items()):
        top = max(by_day.values())
        rows.append(f"<tr><th>{escape(job)}</th><td><img src='{escape(images[job])}' alt='rows sent by {escape(job)}, "
                    f"{days[0]} to {days[-1]}: most {top:,} in a day'></td><td>{counted(sum(by_day.values()), 'row')} in "
                    f"{counted(len(by_day), 'day')}; most {top:,}</td></tr>")
    missed = [r for r in data["runs"] if r["missed"]]
    vendor_rows = "".join(
        f"<tr><th>{escape(v['vendor'])}</th><td>{escape(v['state'])}</td><td>"
        + "<br>".join(f"{escape(f['item'])}: {counted(f['rows'], 'row') if f['rows'] is not None else '- rows'}"
                      f"{' (' + escape(f['note']) + ')' if f['note'] else ''}" for f in v["files"])
        + "".join(f"<br><b>{escape(i)}: failed</b>" for i in v["failed"]) + "</td></tr>" for v in data["vendors"])
    body = [f"<h1>Status for {escape(_of(data))}{escape(data['date'])}</h1><p>Times {escape(data['zone'])}; made "
            f"{escape(local(data['now'], '%Y-%m-%d %H:%M %Z'))}</p>",
            # first when there are some; no heading to alarm anyone when there are none
            "<h2>Missed runs</h2><ul>" + "".join(
                f"<li><b>{escape(r['task'])}</b> ({escape(r['cron'])}): {len(r['missed'])} missed, last due "
                f"{escape(local(r['missed'][-1]))}; run it now: <code>{escape(_missed_hint(r))}</code></li>"
                for r in missed) + "</ul>" if missed else "",
            "<h2>Still failing</h2>" + ("<table>" + "".join(
                f"<tr><td>{escape(f['job'])}</td><td>{escape(f['item'])}</td><td>{escape(f['run_date'])}</td>"
                f"<td>{escape(f['error'] or '')}<br>rerun: <code>{escape(f['rerun'] or 'see the run log')}</code></td>"
                f"</tr>" for f in data["failing"]) + "</table>" if data["failing"] else "<p>nothing</p>"),
            f"<h2>Vendors</h2><table>{vendor_rows or '<tr><td>none configured'}</table>",
            f"<h2>Rows sent per vendor, {days[0]} to {days[-1]}</h2><table>{''.join(rows) or '<tr><td>nothing sent'}"
            "</table>",
            "<h2>What ran</h2><table><tr><th>job</th><th>succeeded</th><th>failed</th><th>rows</th>"
            "<th>last success</th></tr>" + "".join(
                f"<tr><td>{escape(j['job'])}</td><td>{j['succeeded']}</td><td>{j['failed']}</td><td>{j['rows']:,}</td>"
                f"<td>{escape(j['last_success_age'] or 'never')}</td></tr>" for j in data["jobs"]) + "</table>",
            "<h2>What was sent</h2><table>" + "".join(
                f"<tr><td>{escape(local(x['at']))}</td><td>{escape(x['job'])}</td><td>{escape(x['item'])}</td>"
                f"<td>{x['rows'] if x['rows'] is not None else '-'}</td><td>{escape(x['destination'] or '')}</td></tr>"
                for x in data["sent"]) + "</table>"]
    if data["paused"]:
        body.append("<h2>Paused</h2><ul>" + "".join(f"<li>{escape(describe(flow, info))}</li>"
                                                    for flow, info in data["paused"].items()) + "</ul>")
    style = "body{font-family:sans-serif}table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left}"
    return with_district(f"<!doctype html><html><head><meta charset='utf-8'><title>district-etl status "
                         f"{escape(_of(data))}{escape(data['date'])}</title><style>{style}</style></head><body>"
                         f"{''.join(body)}</body></html>")


def subject(data: dict) -> str:
    failing, missed = len(data["failing"]), sum(1 for r in data["runs"] if r["missed"])
    files = sum(len(v["files"]) for v in data["vendors"])
    trouble = [f"{failing} failing"] * bool(failing) + [f"{missed} slot{'s' * (missed != 1)} missed runs"] * bool(missed)
    return f"{'ATTENTION' if trouble else 'OK'}: district-etl {_of(data)}{data['date']}: " + ", ".join(
        trouble + [f"{files} vendor files sent"])


class DailyDigest(DistrictTask):
    """The day's digest mailed once to ``[smtp] operators``: text and HTML, the charts as PNG
    parts of the mail. Done = its ledger row (job ``digest``)."""

    date = RunDateParameter()

    def output(self):
        return LedgerTarget(Ledger.of(), JOB, "mail", self.date)

    def run(self):
        ledger = self.output().ledger
        data = collect(ledger, self.date, sections=set(luigi.configuration.get_config().sections()))
        # an earlier try of this very mail (the server was down) is over once this one goes
        data["failing"] = [f for f in data["failing"] if f["job"] != JOB]
        pngs = charts(data)
        cids = {job: f"chart-{n}" for n, job in enumerate(pngs)}
        mailer = Mailer.from_config()
        title = subject(data)
        mailer.send(title, text(data), html=html(data, {job: f"cid:{cid}" for job, cid in cids.items()}),
                    images={cids[job]: png for job, png in pngs.items()})
        self.output().mark_done(direction="task", destination=f"mail to {len(mailer.settings.operators)} operators",
                                note=title)
