"""``./run.sh simulate --start D --days N [--students S]``: weeks of the schedule in minutes.

Every line of ``schedule.toml`` runs at its times, day by day, on a private embedded stack,
with the one clock set for each run (lines that fire more often than hourly, like the
15-minute DPS receive, are sampled hourly; runs share one process). The synthetic district
changes a little each day; partner files (SAVVAS scores, EasyIEP) appear on some days and not
on others; one vendor server is down for the second day's 05:00 slot and the operator reruns
it at 09:00; DPS answers hours after the send, after midnight. Each run prints one row: time,
task, exit status, what was sent. Then the invariants are checked:

- each vendor received one whole file set on each day it was due, as the ledger's sha256 says;
- DPS received one send per quarter, for the quarter that ended, and the receive completed
  once; no extract ran on other days;
- every failed run left ``failed`` ledger rows and exactly one mail, and the rerun after the
  outage delivered;
- nothing was sent twice (no file re-uploaded by a later run of the same day).

The last line is ``simulate_violations=N``; the exit status is 0 only when N is 0.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib
import logging
import os
import random
import sys
import tempfile
import time
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

import luigi
import luigi.configuration

import stack
from pipelines.base import data_dir, timezone, vendors_file
from pipelines.dps import RECEIVE_JOB, SEND_JOB
from pipelines.failures import RunReport
from pipelines.texas import ended_quarter, quarter_label
from registry.schedule import load_schedule
from stack.district import generate, generate_merge_inputs, generate_partner_files
from stack.dps_standin import respond
from targets import clock
from targets.process import run_uuid
from targets.luigi_patches import set_config_paths
from targets.ledger import Ledger
from targets.sftp import SftpSettings

OUTAGE_DAY, OUTAGE_SLOT, OUTAGE_SERVER, RERUN_AT = 1, "SftpOperations", "ellevation", dt.time(9, 0)
DPS_ANSWER_AFTER = dt.timedelta(hours=19)  # a 06:00 send is answered at 01:00 the next day
STATUS_CODES = {"SUCCESS": 0, "SUCCESS_WITH_RETRY": 0, "MISSING_EXT": 20, "NOT_RUN": 25, "FAILED": 30,
                "FAILED_AND_SCHEDULING_FAILED": 30, "SCHEDULING_FAILED": 35}


def _expand(field_text: str, lo: int, hi: int) -> list[int]:
    values = set()
    for part in field_text.split(","):
        spec, _, step = part.partition("/")
        first, last = (lo, hi) if spec == "*" else (int(spec.split("-")[0]), int(spec.split("-")[-1]))
        values.update(range(first, last + 1, int(step or 1)))
    return sorted(values)


def cron_times(cron: str, day: dt.date) -> list[dt.time]:
    """When a cron line fires on ``day`` (a line firing several times an hour: once, sampled)."""
    minute, hour, dom, month, dow = cron.split()
    cron_dow = (day.weekday() + 1) % 7  # cron: Sunday is 0
    if day.day not in _expand(dom, 1, 31) or day.month not in _expand(month, 1, 12):
        return []
    if cron_dow not in {d % 7 for d in _expand(dow, 0, 7)}:
        return []
    minutes = _expand(minute, 0, 59)
    return [dt.time(h, minutes[0]) for h in _expand(hour, 0, 23)]


@dataclass
class Run:
    at: dt.datetime
    task: str
    code: int = -1
    sent: list[tuple[str, str, str | None]] = field(default_factory=list)  # (job, item, sha256)
    failed_rows: int = 0
    mails: int = 0
    ran: list[str] = field(default_factory=list)


class Simulation:
    def __init__(self, var: Path, start: dt.date, days: int, students: int, out=sys.stdout):
        self.var, self.start, self.days, self.students, self.out = var, start, days, students, out
        self.zone = zoneinfo.ZoneInfo("America/Chicago")
        self.runs: list[Run] = []
        self.violations: list[str] = []
        self.dps_answer_at: dt.datetime | None = None
        self._ran: list[str] = []

    # -- setup

    def setup(self) -> None:
        stack.up(self.var, with_bigquery=True, dps_standin=False)  # the simulation answers for DPS
        cfg = self.var / "luigi.cfg"
        text = cfg.read_text()
        text = text.replace("deadline_hours = 6", "deadline_hours = 24")  # DPS answers after midnight
        # its own run logs folder: a simulated month's Prune never removes the checkout's logs/
        cfg.write_text(text + "\n[simulation]\nstart = " + self.start.isoformat() + "\n"
                       f"\n[retention]\nrun_logs_dir = {self.var / 'logs'}\n")
        os.environ.update(stack.config_env(self.var))
        set_config_paths([str(cfg)])
        parser = luigi.configuration.get_config()
        parser.set("core", "no_configure_logging", "true")  # our log file, not Luigi's console output
        for section in [s for s in parser.sections() if s.startswith("sftp_")]:  # every server, as the config has them
            parser.set(section, "retries", "1")
            parser.set(section, "backoff", "0.05")
        self.zone = zoneinfo.ZoneInfo(timezone())
        from ops.feeds_db import FeedsDbSettings, init
        init(FeedsDbSettings.from_config())  # the feeds slots run too (no tImportConfig rows: nothing to load)
        luigi.Task.event_handler(luigi.Event.SUCCESS)(lambda task: self._ran.append(task.task_family))
        # the day before: the district's exports and the Clever IDM export pulled the evening before
        root = data_dir() / "powerschool_combined"
        generate(root, students=self.students, today=self.start - dt.timedelta(days=1),
                 idm_file=root / "clever_idm_students.csv")
        seed_days = sorted({d for d in self._days() if cron_times(load_schedule().named("SendToDps").cron, d)})
        from stack.demo import SeedImpact
        for day in seed_days:  # IMPACT holds the runaway episodes of the quarter each send reports
            self._at(day, dt.time(0, 5))
            assert luigi.build([SeedImpact(date=day)], local_scheduler=True)

    def _days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(self.days)]

    def _at(self, day: dt.date, t: dt.time) -> dt.datetime:
        moment = dt.datetime.combine(day, t, self.zone)
        clock.set_now(moment)
        return moment

    # -- the world changing

    def district_changes(self, index: int, day: dt.date) -> None:
        root = data_dir()
        partner = self.var / "sftp" / "root"
        idm = stack.pull_folder(partner, "clever_idm") / f"clever_idm_{day:%Y%m%d}.csv"
        generate(root / "powerschool_combined", students=self.students + index % 3, today=day, idm_file=idm)
        generate_merge_inputs(root)
        self._touch(idm)

    def partners_drop_files(self, index: int, day: dt.date) -> None:
        rng = random.Random(day.toordinal())
        if index > 0 and rng.random() < 0.4:
            return  # a quiet day: nothing new at the partners
        partner = self.var / "sftp" / "root"
        scores = stack.pull_folder(partner, "savvas_scores") / f"savvas_scores_{day:%Y%m%d}.csv"
        easyiep = stack.pull_folder(partner, "easyiep") / f"easyiep_{day:%Y%m%d}.csv"
        generate_partner_files(data_dir() / "powerschool_combined" / "students.csv", scores, easyiep, day,
                               seed=day.toordinal())
        self._touch(scores)
        self._touch(easyiep)

    def dps_answers(self) -> None:
        home = self.var / "sftp" / "root" / "dps"
        respond(home / "outbound" / "End_txt_file.txt", home / "TO_DFPS")
        for name in ("Dfps-missing-person-results.txt", "Dfps-missing-person-counts.txt"):
            self._touch(home / "TO_DFPS" / name)

    @staticmethod
    def _touch(path: Path) -> None:
        moment = clock.now().timestamp()
        os.utime(path, (moment, moment))

    # -- runs

    def run(self, day: dt.date, t: dt.time, module: str, task: str, note: str = "") -> Run:
        run = Run(self._at(day, t), task + note)
        cls = getattr(importlib.import_module(module), task)
        mail_dir = self.var / "mail"
        mails_before = set(mail_dir.glob("*.eml"))
        ledger = Ledger.of()
        ledger.forget()
        mark = self._last_load_id()
        self._ran = []
        with RunReport(f"./run.sh luigi --module {module} {task} --date {day}"):
            result = luigi.build([cls(date=day)], local_scheduler=True, detailed_summary=True)
            uuid = str(run_uuid())
        run.code = STATUS_CODES.get(result.status.name, 40)
        run.ran = list(self._ran)
        with ledger.transaction() as cur:
            cur.execute("SELECT job_name, item, sha256, status FROM dba.tdataloads WHERE load_id > %s"
                        " AND direction = 'out' AND status = 'succeeded' AND job_name ~ '^(push|forward|dps)_'"
                        " ORDER BY load_id", (mark,))
            run.sent = [(j, i, s) for j, i, s, _ in cur.fetchall()]
            cur.execute("SELECT count(*) FROM dba.tdataloads WHERE run_uuid = %s AND status = 'failed'", (uuid,))
            run.failed_rows = cur.fetchone()[0]
        with Ledger.of("feeds_db").transaction() as cur:  # the feeds keep their own ledger
            cur.execute("SELECT count(*) FROM dba.tdataloads WHERE run_uuid = %s AND status = 'failed'", (uuid,))
            run.failed_rows += cur.fetchone()[0]
        run.mails = sum(1 for f in set(mail_dir.glob("*.eml")) - mails_before if "Subject: FAILED:" in f.read_text())
        self.runs.append(run)
        self._print(run)
        self._check_run(run)
        return run

    def _last_load_id(self) -> int:
        ledger = Ledger.of()
        ledger.ensure_schema()
        with ledger.transaction() as cur:
            cur.execute("SELECT coalesce(max(load_id), 0) FROM dba.tdataloads")
            return cur.fetchone()[0]

    def _print(self, run: Run) -> None:
        sent: dict[str, int] = {}
        for job, _, _ in run.sent:
            sent[job] = sent.get(job, 0) + 1
        what = ", ".join(f"{job} {n}" for job, n in sent.items()) or "-"
        print(f"{run.at:%Y-%m-%d %a %H:%M}  {run.task:32} exit {run.code:>2}  sent: {what}", file=self.out, flush=True)

    def _check_run(self, run: Run) -> None:
        if run.code in (30, 35):
            if run.failed_rows == 0:
                self.violations.append(f"{run.at:%F %H:%M} {run.task} failed without a failed ledger row")
            if run.mails != 1:
                self.violations.append(f"{run.at:%F %H:%M} {run.task} failed with {run.mails} mails, not one")
        elif run.code not in (0, 20):
            self.violations.append(f"{run.at:%F %H:%M} {run.task} ended with exit {run.code}")
        for job, item, sha in run.sent:
            remote = self._remote_path(job, item)
            if remote is not None and (not remote.exists() or _sha(remote) != sha):
                self.violations.append(f"{run.at:%F %H:%M} {job} {item}: the file at the vendor is not the one "
                                       "the ledger recorded")

    def _remote_path(self, job: str, item: str) -> Path | None:
        if not job.startswith("push_"):
            return None
        vendor = vendors_file().vendor(job.removeprefix("push_"))
        settings = SftpSettings.from_config(vendor.server)
        name = f"{vendor.remote_dir.rstrip('/')}/{item}" if vendor.remote_dir else item
        path = name if name.startswith("/") else f"{settings.remote_dir.rstrip('/')}/{name}"
        return self.var / "sftp" / "root" / vendor.server / path.lstrip("/")

    # -- the schedule, day by day

    def play(self) -> None:
        schedule = load_schedule()
        views_deployed = False
        for index, day in enumerate(self._days()):
            events = []
            for slot in schedule.slot:
                if slot.module == "pipelines.eis":  # a browser per lookup: played by tests/pipelines/test_eis.py
                    continue                         # and ./run.sh bench eis, not here
                for t in cron_times(slot.cron, day):
                    events.append((t, slot.module, slot.task))
            if index == OUTAGE_DAY:  # the operator reruns the slot the outage failed
                events.append((RERUN_AT, "rerun", OUTAGE_SLOT))
            if self.dps_answer_at is not None and self.dps_answer_at.date() == day:
                events.append((self.dps_answer_at.time(), "dps", "answer"))
            events.append((dt.time(2, 30), "district", "changes"))
            events.append((dt.time(6, 40), "partners", "drop files"))
            for t, module, task in sorted(events, key=lambda e: (e[0], e[1] != "district", e[1] != "partners",
                                                                 e[1] != "dps")):
                self._at(day, t)
                if module == "district":
                    self.district_changes(index, day)
                elif module == "partners":
                    self.partners_drop_files(index, day)
                elif module == "dps":
                    self.dps_answers()
                    print(f"{clock.now().astimezone(self.zone):%Y-%m-%d %a %H:%M}  (DPS answers)", file=self.out)
                elif module == "rerun":
                    self.run(day, t, "pipelines.slots", task, " (rerun)")
                else:
                    if module == "pipelines.slots" and task == "SftpOperations" and not views_deployed:
                        from pipelines.views import DeployViews
                        views_deployed = luigi.build([DeployViews()], local_scheduler=True)
                    outage = index == OUTAGE_DAY and task == OUTAGE_SLOT
                    self._with_outage(outage, lambda: self.run(day, t, module, task))
                    if task == "SendToDps" and self.runs[-1].code == 0 and self.runs[-1].sent:
                        self.dps_answer_at = clock.now().astimezone(self.zone) + DPS_ANSWER_AFTER

    def _with_outage(self, outage: bool, action) -> None:
        parser = luigi.configuration.get_config()
        section = f"sftp_{OUTAGE_SERVER}"
        port = parser.get(section, "port")
        if outage:
            parser.set(section, "port", str(stack.free_port()))  # the vendor's server is down
        try:
            action()
        finally:
            parser.set(section, "port", port)

    # -- what must hold

    def check(self) -> None:
        ledger = Ledger.of()
        with ledger.transaction() as cur:
            cur.execute("SELECT job_name, item, run_date, count(*) FROM dba.tdataloads WHERE status = 'succeeded'"
                        " AND direction = 'out' AND job_name ~ '^(push|forward|dps)_' GROUP BY 1, 2, 3")
            sent = {(j, i, d): n for j, i, d, n in cur.fetchall()}
            cur.execute("SELECT item, run_date FROM dba.tdataloads WHERE job_name = %s AND status = 'succeeded'",
                        (SEND_JOB,))
            sends = cur.fetchall()
            cur.execute("SELECT item FROM dba.tdataloads WHERE job_name = %s AND status = 'succeeded'"
                        " AND item NOT LIKE '%%/%%'", (RECEIVE_JOB,))
            receives = [r[0] for r in cur.fetchall()]
        for (job, item, day), n in sent.items():
            if n > 1:
                self.violations.append(f"{job} {item} sent {n} times for {day}")
        for day in self._days():
            for v in vendors_file().vendors.values():
                if not v.runs_on(day):
                    continue
                missing = [i for i in v.items() if (v.job, i, day) not in sent]
                if missing:
                    self.violations.append(f"{v.name} did not receive {', '.join(missing)} for {day}")
        send_days = [d for d in self._days() if cron_times(load_schedule().named("SendToDps").cron, d)]
        expected = sorted((quarter_label(*ended_quarter(d)), d) for d in send_days)
        if sorted(sends) != expected:
            self.violations.append(f"DPS sends {sorted(sends)}, expected {expected}")
        for quarter, _ in expected:
            if receives.count(quarter) != 1:
                self.violations.append(f"DPS receive for {quarter} completed {receives.count(quarter)} times")
        for run in self.runs:
            extracted = "ExtractForDps" in run.ran
            if extracted and run.at.date() not in send_days:
                self.violations.append(f"{run.at:%F %H:%M} {run.task} extracted from IMPACT on a day with no send")
            if extracted and not run.task.startswith("SendToDps"):
                self.violations.append(f"{run.at:%F %H:%M} {run.task} extracted from IMPACT")
        outage = [r for r in self.runs if r.task == OUTAGE_SLOT and r.at.date() == self._days()[OUTAGE_DAY]]
        rerun = [r for r in self.runs if r.task == f"{OUTAGE_SLOT} (rerun)"]
        if not outage or outage[0].code != 30:
            self.violations.append("the outage did not fail its slot")
        elif not rerun or rerun[0].code != 0 or not any(j == f"push_{OUTAGE_SERVER}" for j, _, _ in rerun[0].sent):
            self.violations.append("the rerun after the outage did not deliver")
        elif any(j != f"push_{OUTAGE_SERVER}" for j, _, _ in rerun[0].sent):
            self.violations.append("the rerun after the outage sent again what had been delivered")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="run.sh simulate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--start", type=dt.date.fromisoformat, required=True)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--students", type=int, default=300)
    ap.add_argument("--var", type=Path, help="state folder of the private stack (default: a temporary one)")
    args = ap.parse_args(argv)
    if args.days < 2:
        ap.error("--days must be at least 2 (the outage and its rerun are on the second day)")
    from targets.logdb import setup_logging
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="simulate-") as tmp:
        var = (args.var or Path(tmp) / "var").resolve()
        setup_logging("simulate", run_log=var / "simulate.log", to_database=False)
        for handler in logging.getLogger().handlers:  # the table is the console; details in the log
            if type(handler) is logging.StreamHandler:
                handler.setLevel(logging.CRITICAL)
        sim = Simulation(var, args.start, args.days, args.students)
        try:
            sim.setup()
            sim.play()
            sim.check()
        finally:
            clock.set_now(None)
            stack.down(var)
    print()
    for v in sim.violations:
        print(f"VIOLATION: {v}")
    print(f"{len(sim.runs)} runs over {args.days} days from {args.start} in {time.monotonic() - t0:.0f}s")
    print(f"simulate_violations={len(sim.violations)}")
    return 0 if not sim.violations else 1


if __name__ == "__main__":
    sys.exit(main())
