"""``./run.sh bench faults``: the district's whole night, killed (``kill -9``) at every point that
matters, rerun, and checked.

    ./run.sh bench faults [--nights 3] [--students 300] [--quick]

On a private embedded stack, a night is every slot of a Monday that opens a quarter, in cron's
order, each as cron starts it (``python -m pipelines --module M Task --date D``, a process of
its own, the one clock set to the slot's time): 02:00 the feeds' weekly chain (MeetMax lists,
the clients' files uploaded over SFTP that night, loads, report mails), 03:00 the warehouse
load, 05:00 every vendor push, 06:00 the DPS send, 06:50 the pulls, 06:55 their load, 07:05
the PowerSchool import and, once DPS has answered, the DPS receive (workbooks, share, mail).

The first night runs clean with every named point logged (targets/faults.py: each task's start,
half-way through each upload, download and COPY, after each remote rename, before each local
rename and each ledger commit). The points are then dealt out over ``--nights`` later nights;
in each slot the run is killed at its first point, rerun killed at the next, and so on (each
rerun resumes the killed one's work), then rerun to the end. After every kill and after every
slot these must hold:

- a vendor's folder holds no file that is not whole: each is one we made (its sha256 is a
  ledger row's or a staged export's), never a ``.part`` at a final name; after the slot, each
  vendor due that night has every file, each with the sha256 of its ledger row;
- PostgreSQL loads: every succeeded ledger row has its rows, no table has rows without a row
  (the feeds' appended table counts exactly the rows its ledger rows say), no duplicates;
- after the slot, each BigQuery table holds exactly the rows of its latest ledger row;
- DPS's outbound file was uploaded once per quarter (its inode and mtime are not replaced by a
  rerun) and the quarter has one send and one completed receive in the ledger;
- no temporary file of a dead writer is left in the data folder after the slot;
- a killed run is 'failed' (note 'killed') in the ledger once the next run starts;
- the rerun after the slot does nothing: no ledger row, no file at a vendor touched.

Then the network faults (a TCP proxy in front of each server) and the bad-input corpus
(tests/fixtures/bad/) run. The last lines are ``kills_survived=A/B``, ``faults_survived=C/D``
and ``bad_inputs_handled=E/F``.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NIGHTS = [dt.date(2025, 9, 1), dt.date(2025, 12, 1), dt.date(2026, 6, 1), dt.date(2027, 3, 1)]  # Mondays, 1st of a quarter's month
SLOTS = [  # (time, module, task): a Monday night's cron lines in order (EIS's browser flows: not here)
    (dt.time(2, 0), "pipelines.feeds_weekly", "FeedsWeekly"),
    (dt.time(3, 0), "pipelines.warehouse", "BigQueryOperations"),
    (dt.time(5, 0), "pipelines.slots", "SftpOperations"),
    (dt.time(6, 0), "pipelines.dps", "SendToDps"),
    (dt.time(6, 50), "pipelines.slots", "SftpOperationsMisc"),
    (dt.time(6, 55), "pipelines.warehouse", "BigQueryOperationsMisc"),
    (dt.time(7, 5), "pipelines.slots", "SftpOperationsLocal"),
    (dt.time(7, 30), "pipelines.dps", "ReceiveFromDps"),
]
KILLED = -9


@dataclasses.dataclass
class Kill:
    night: dt.date
    slot: str
    point: str
    reached: bool = True
    code: int | None = None  # the run's exit status (-9: killed at the point)
    violations: list[str] = dataclasses.field(default_factory=list)


def _set_option(text: str, section: str, key: str, value: str) -> str:
    """``key = value`` in ``[section]`` of a luigi.cfg text (replaced, or added under the header)."""
    head = re.search(rf"^\[{re.escape(section)}\]\s*$", text, re.M)
    if head is None:
        return text + f"\n[{section}]\n{key} = {value}\n"
    end = re.search(r"^\[", text[head.end():], re.M)
    body_end = head.end() + (end.start() if end else len(text) - head.end())
    body = text[head.end():body_end]
    if re.search(rf"^{re.escape(key)}\s*=", body, re.M):
        body = re.sub(rf"^{re.escape(key)}\s*=.*$", f"{key} = {value}", body, flags=re.M)
    else:
        body = f"\n{key} = {value}" + body
    return text[:head.end()] + body + text[body_end:]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Night:
    """The private stack, its world (district, partners, clients, DPS) and the runs."""

    def __init__(self, var: Path, students: int, out=sys.stdout):
        from stack.simulate import Simulation
        self.var, self.students, self.out = var, students, out
        self.sim = Simulation(var, NIGHTS[0], 1, students, out=out)
        self.sim._days = lambda: []  # IMPACT is seeded for each night's quarter by world()
        self.runs = 0

    # -- setup

    def setup(self) -> None:
        import stack
        from stack import demo_feeds
        self.sim.setup()
        cfg = self.var / "luigi.cfg"
        text = cfg.read_text()
        for server in stack.sftp_accounts():  # every server of the stack, as vendors.toml names them
            text = _set_option(text, f"sftp_{server}", "retries", "1")
            text = _set_option(text, f"sftp_{server}", "backoff", "0.05")
        text = _set_option(text, "feeds", "settle_seconds", "0")
        text = _set_option(text, "postgres", "io_timeout", "30")
        cfg.write_text(text)
        self.env = dict(os.environ, **stack.config_env(self.var), PYTHONPATH=str(stack.ROOT))
        self.env.pop("ETL_FAULT_AT", None)
        demo_feeds.setup(self.var)

    def build(self, tasks) -> None:
        import luigi
        if not luigi.build(tasks, local_scheduler=True):
            raise SystemExit(f"setup failed: {tasks}")

    def world(self, index: int, day: dt.date) -> None:
        """What changes before the night: the district's exports, the partners' files, the
        clients' uploads to their drop-off accounts."""
        from stack.demo import SeedImpact
        from stack.demo_feeds import DemoClientUpload
        self.sim._at(day, dt.time(1, 30))
        self.sim.district_changes(index, day)
        self.sim.partners_drop_files(0, day)  # every night: the pulls have work
        self.build([DemoClientUpload(date=day, client=c) for c in ("acme", "globex")] +
                   [SeedImpact(date=day)])  # the quarter's runaway episodes in the IMPACT stand-in

    # -- runs

    def run(self, day: dt.date, at: dt.time, module: str, task: str, kill_at: str | None = None,
            log: Path | None = None) -> int:
        import zoneinfo
        from pipelines.base import timezone
        moment = dt.datetime.combine(day, at, zoneinfo.ZoneInfo(timezone()))
        env = dict(self.env, ETL_CLOCK=moment.isoformat(), ETL_RUN_LOG=str(self.var / "logs" / f"run-{self.runs}.log"))
        if kill_at:
            env["ETL_FAULT_AT"] = kill_at
        if log:
            env["ETL_FAULT_LOG"] = str(log)
        self.runs += 1
        proc = subprocess.run([sys.executable, "-m", "pipelines", "--module", module, task, "--date", day.isoformat(),
                               "--local-scheduler"], cwd=str(self.env["PYTHONPATH"]), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.last_stderr = proc.stderr[-3000:]
        return proc.returncode


def _deploy_views():
    from pipelines.views import DeployViews
    return DeployViews()


class Invariants:
    """What must hold after a kill (``safe``) and after a slot's clean end (``whole``)."""

    def __init__(self, night: Night):
        self.night = night
        self.var = night.var

    # -- helpers

    def _ledger(self, query: str, params=(), section: str = "postgres") -> list[tuple]:
        from targets.ledger import Ledger
        ledger = Ledger.of(section)
        ledger.forget()
        with ledger.transaction() as cur:
            cur.execute(query, params)
            return cur.fetchall()

    def vendor_files(self) -> dict[Path, tuple[str, str]]:
        """Every file in a vendor's folder at the partner: path -> (job, name)."""
        from pipelines.base import vendors_file
        from targets.sftp import SftpSettings
        out = {}
        for v in vendors_file().vendors.values():
            settings = SftpSettings.from_config(v.server)
            folder = v.remote_dir if (v.remote_dir or "").startswith("/") else \
                f"{settings.remote_dir.rstrip('/')}/{v.remote_dir or ''}"
            root = self.var / "sftp" / "root" / v.server / folder.strip("/")
            if root.is_dir():
                for p in root.iterdir():
                    if p.is_file():
                        out[p] = (v.job, p.name)
        return out

    def made_by_us(self) -> set[str]:
        """sha256 of every file we made to send: ledger rows and staged exports."""
        from pipelines.base import data_dir
        shas = {s for (s,) in self._ledger("SELECT DISTINCT sha256 FROM dba.tdataloads WHERE sha256 IS NOT NULL")}
        for folder in ("exports", "pushed"):
            root = data_dir() / folder
            if root.is_dir():
                shas |= {_sha(p) for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")}
        return shas

    # -- after a kill (and at any time)

    def safe(self) -> list[str]:
        problems = []
        ours = self.made_by_us()
        for path, (job, name) in self.vendor_files().items():
            if name.endswith(".part"):
                continue  # an in-flight name: never a final one; checked after the slot
            if _sha(path) not in ours:
                problems.append(f"{job}: {name} at the vendor is not a whole file we made")
        problems += self.postgres_loads()
        problems += self.dps_once()
        return problems

    def postgres_loads(self) -> list[str]:
        """The feeds' appended table has exactly the rows its ledger says; keyed tables no duplicates."""
        problems = []
        (ledger_rows,) = self._ledger("SELECT coalesce(sum(rows), 0) FROM dba.tdataloads WHERE status IN"
                                      " ('succeeded', 'superseded') AND destination LIKE '%%#feeds.clients'"
                                      " AND direction = 'load'", section="feeds_db")
        (table_rows,) = self._ledger("SELECT count(*) FROM feeds.clients", section="feeds_db")
        if ledger_rows[0] != table_rows[0]:
            problems.append(f"feeds.clients has {table_rows[0]} rows, its ledger rows say {ledger_rows[0]}")
        (dups,) = self._ledger("SELECT count(*) - count(DISTINCT (client_id, name, joined)) FROM feeds.clients",
                               section="feeds_db")
        if dups[0]:
            problems.append(f"feeds.clients has {dups[0]} duplicate rows")
        return problems

    def dps_once(self) -> list[str]:
        from pipelines.dps import SEND_JOB
        rows = self._ledger("SELECT item, count(*) FROM dba.tdataloads WHERE job_name = %s AND status = 'succeeded'"
                            " GROUP BY 1 HAVING count(*) > 1", (SEND_JOB,))
        return [f"DPS: {item} has {n} succeeded sends" for item, n in rows]

    def dps_outbound(self, day: dt.date) -> tuple[int, int] | None:
        """(inode, mtime) of the file at DPS when it is this quarter's (the extract's bytes), else None."""
        from pipelines.dps import sent_file
        path = self.var / "sftp" / "root" / "dps" / "outbound" / "End_txt_file.txt"
        ours = sent_file(day)
        if not path.exists() or not ours.exists() or _sha(path) != _sha(ours):
            return None
        st = path.stat()
        return st.st_ino, st.st_mtime_ns

    # -- after a slot ends clean

    def whole(self, day: dt.date, task: str) -> list[str]:
        from pipelines.base import data_dir, vendors_file
        problems = self.safe()
        files = self.vendor_files()
        for path, (job, name) in files.items():
            if name.endswith(".part"):
                problems.append(f"{job}: {name} left at the vendor")
        if task in ("SftpOperationsLocal", "ReceiveFromDps"):  # every push of the night is done (05:00, 07:05)
            latest = {(j, i): s for j, i, s in self._ledger(
                "SELECT DISTINCT ON (job_name, item) job_name, item, sha256 FROM dba.tdataloads WHERE run_date = %s"
                " AND status = 'succeeded' AND job_name LIKE 'push\\_%%' ORDER BY job_name, item, load_id DESC",
                (day,))}
            at_vendor = {(job, name): path for path, (job, name) in files.items()}
            for v in vendors_file().vendors.values():
                if not v.runs_on(day):
                    continue
                for item in v.items():
                    if (v.job, item) not in latest:
                        problems.append(f"{v.name}: {item} not sent for {day}")
                    elif (v.job, item) in at_vendor and _sha(at_vendor[(v.job, item)]) != latest[(v.job, item)]:
                        problems.append(f"{v.name}: {item} at the vendor is not the one the ledger recorded")
        if task.startswith("BigQueryOperations"):
            problems += self.bigquery_tables(day)
        debris = [str(p.relative_to(data_dir())) for p in data_dir().rglob(".*.tmp")]
        if debris:
            problems.append(f"temporary files left in the data folder: {', '.join(sorted(debris)[:5])}")
        started = self._ledger("SELECT item FROM dba.tdataloads WHERE job_name = 'run' AND status = 'started'")
        if started:
            problems.append(f"{len(started)} runs still 'started' after their process ended")
        return problems

    def bigquery_tables(self, day: dt.date) -> list[str]:
        from targets.bigquery import BigQueryClient
        client = BigQueryClient.from_config()
        problems = []
        for dest, rows in self._ledger(
                "SELECT DISTINCT ON (destination) destination, rows FROM dba.tdataloads WHERE job_name = 'warehouse'"
                " AND status = 'succeeded' AND run_date = %s AND direction = 'load'"
                " ORDER BY destination, load_id DESC", (day,)):
            table = dest
            actual = client.bq.get_table(table).num_rows
            if int(actual or 0) != int(rows or 0):
                problems.append(f"{table} holds {actual} rows, its ledger row says {rows}")
        return problems

    def ledger_mark(self) -> tuple[int, int]:
        (main,) = self._ledger("SELECT coalesce(max(load_id), 0) FROM dba.tdataloads")
        (feeds,) = self._ledger("SELECT coalesce(max(load_id), 0) FROM dba.tdataloads", section="feeds_db")
        return main[0], feeds[0]

    def new_rows(self, mark: tuple[int, int]) -> list[str]:
        rows = self._ledger("SELECT job_name, item, status FROM dba.tdataloads WHERE load_id > %s AND job_name <> 'run'",
                            (mark[0],))
        rows += self._ledger("SELECT job_name, item, status FROM dba.tdataloads WHERE load_id > %s AND job_name <> 'run'",
                             (mark[1],), section="feeds_db")
        return [f"{j} {i} {s}" for j, i, s in rows]

    def snapshot(self) -> dict[Path, int]:
        return {p: p.stat().st_mtime_ns for p in self.vendor_files()}


def discover(night: Night, inv: Invariants, day: dt.date, tmp: Path) -> dict[str, list[str]]:
    """The clean first night: each slot run once with its points logged, checked, rerun as a no-op."""
    points: dict[str, list[str]] = {}
    night.world(0, day)
    for at, module, task in SLOTS:
        log = tmp / f"points-{task}.txt"
        code = night.run(day, at, module, task, log=log)
        if code != 0:
            raise SystemExit(f"the clean night's {task} failed (exit {code}):\n{night.last_stderr}")
        names = log.read_text().splitlines() if log.exists() else []
        points[task] = list(dict.fromkeys(names))
        problems = inv.whole(day, task) + _noop(night, inv, day, at, module, task)
        if problems:
            raise SystemExit(f"the clean night breaks the invariants at {task}: {problems}")
        if task == "SendToDps":
            night.sim._at(day, dt.time(7, 20))  # DPS answers (the files' times come from the clock)
            night.sim.dps_answers()
        if task == "BigQueryOperations":
            night.build([_deploy_views()])  # once, on the first loaded warehouse (views read its tables)
    return points


def _noop(night: Night, inv: Invariants, day: dt.date, at: dt.time, module: str, task: str) -> list[str]:
    mark, before = inv.ledger_mark(), inv.snapshot()
    code = night.run(day, at, module, task)
    problems = [] if code == 0 else [f"the no-op rerun of {task} ended with exit {code}"]
    problems += [f"the no-op rerun of {task} wrote {r}" for r in inv.new_rows(mark)]
    after = inv.snapshot()
    problems += [f"the no-op rerun of {task} touched {p.name} at the vendor" for p in after if before.get(p) != after[p]]
    return problems


def kill_night(night: Night, inv: Invariants, index: int, day: dt.date, plan: dict[str, list[str]],
               out=sys.stdout) -> tuple[list[Kill], dict[str, list[str]]]:
    """One night: in each slot, the run is killed at the first of the slot's remaining points it
    reaches, rerun (killed at the next), and so on until a run ends by itself; then checked.
    Returns the kills and the points no run reached (no such work left that night)."""
    kills: list[Kill] = []
    left: dict[str, list[str]] = {}
    night.world(index, day)
    for at, module, task in SLOTS:
        dps_before = None
        remaining = list(plan.get(task, []))
        problems: list[str] = []
        while remaining:
            log = night.var / "points" / f"run-{night.runs}.txt"
            code = night.run(day, at, module, task, kill_at="\n".join(remaining), log=log)
            if code != KILLED:
                if code != 0:
                    problems.append(f"{task}: a rerun after a kill ended with exit {code}: "
                                    f"{night.last_stderr.strip().splitlines()[-1:]}")
                break  # it ran to its end: the remaining points have no work left tonight
            hit = log.read_text().splitlines()[-1]
            remaining.remove(hit)
            kill = Kill(day, task, hit, code=code)
            kills.append(kill)
            kill.violations += inv.safe()
            if task == "SendToDps" and dps_before is None:
                dps_before = inv.dps_outbound(day)  # this quarter's file at DPS already: a rerun must not resend
        left[task] = remaining
        code = night.run(day, at, module, task)
        if code != 0:
            problems.append(f"{task}: the rerun after the kills ended with exit {code}: "
                            f"{night.last_stderr.strip().splitlines()[-1:]}")
        problems += inv.whole(day, task)
        if task == "SendToDps" and dps_before is not None and inv.dps_outbound(day) != dps_before:
            problems.append("DPS's file was uploaded again by a rerun")
        problems += _noop(night, inv, day, at, module, task)
        slot_kills = [k for k in kills if k.slot == task]
        for k in slot_kills:
            k.violations += problems
        if problems and not slot_kills:
            kills.append(Kill(day, task, "(no kill)", violations=problems))
        if task == "SendToDps":
            night.sim._at(day, dt.time(7, 20))  # DPS answers (the files' times come from the clock)
            night.sim.dps_answers()
        print(f"  {day} {task:24} {len(slot_kills):3} kills, {len(remaining):3} points with no work left, " +
              ("ok" if not problems else f"{len(problems)} problems: {problems[:2]}"), file=out, flush=True)
    return kills, left


def prove_checks(inv: Invariants, day: dt.date) -> list[str]:
    """The invariants catch what they are for (a check that cannot fail is no check): a vendor
    file cut in half, a dead writer's temporary file, a second DPS send row, a file touched by a
    no-op. Returns the ones NOT caught (each undone after)."""
    from pipelines.base import data_dir
    missed = []
    path = next(p for p in inv.vendor_files() if not p.name.endswith(".part"))
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    if not any("not a whole file" in p for p in inv.safe()):
        missed.append("a torn vendor file")
    path.write_bytes(whole)
    debris = data_dir() / "exports" / ".students.csv.1.abc.tmp"
    debris.write_text("x")
    if not any("temporary files" in p for p in inv.whole(day, "check")):
        missed.append("a temporary file left behind")
    debris.unlink()
    before = inv.snapshot()
    os.utime(path)
    if not any(before.get(p) != m for p, m in inv.snapshot().items()):
        missed.append("a vendor file touched")
    return missed


def leak_scan(night: Night) -> list[str]:
    """Secrets and personal values in what the runs wrote for people and operators: every
    secret of the stack's secrets file, and every student's e-mail address and full name (as
    "First Last" and "Last, First") looked for in the run logs, the fallback log, every mail
    (text parts), the run log tables (tLogEntry) and the ledgers' text columns of both
    databases, the slot summaries, and the names of every file in the data folder."""
    import csv
    import email
    import email.policy

    from pipelines.base import data_dir
    from targets.postgres import PostgresClient
    markers: dict[str, str] = {}
    for line in (night.var / "secrets.env").read_text().splitlines():
        key, _, value = line.partition("=")
        if len(value.strip().strip("'\"")) >= 8:
            markers[value.strip().strip("'\"")] = f"the secret {key.strip()}"
    with open(data_dir() / "powerschool_combined" / "students.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["Email"].strip():
                markers[row["Email"].strip()] = "a student's e-mail address"
            if row["First_Name"].strip() and row["Last_Name"].strip():
                markers[f"{row['First_Name']} {row['Last_Name']}"] = "a student's name"
                markers[f"{row['Last_Name']}, {row['First_Name']}"] = "a student's name"
    texts: list[tuple[str, str]] = []
    for folder in (night.var / "logs", night.var / "log-fallback"):
        if folder.is_dir():
            texts += [(f"run log {p.name}", p.read_text(errors="replace")) for p in folder.rglob("*") if p.is_file()]
    for f in sorted((night.var / "mail").glob("*.eml")):
        msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
        texts.append((f"mail {msg['Subject']!r}", str(msg["Subject"]) + "".join(
            part.get_content() for part in msg.walk() if part.get_content_maintype() == "text")))
    for section in ("postgres", "feeds_db"):
        client = PostgresClient.from_config(section)
        with client.transaction() as cur:
            cur.execute("SELECT message FROM dba.tlogentry")
            texts += [(f"{section} tLogEntry", m) for (m,) in cur.fetchall()]
            cur.execute("SELECT concat_ws(' ', item, source, destination, error, note) FROM dba.tdataloads")
            texts += [(f"{section} tDataLoads", m) for (m,) in cur.fetchall()]
    reports = data_dir() / "reports"
    texts += [(f"summary {p.name}", p.read_text()) for p in reports.glob("*.json")] if reports.is_dir() else []
    texts.append(("file names in the data folder", "\n".join(str(p.relative_to(data_dir()))
                                                             for p in data_dir().rglob("*"))))
    found = []
    for where, text in texts:
        for value, what in markers.items():
            if value in text:
                found.append(f"{what} in {where}")
                break
    return sorted(set(found))


def deal(points: dict[str, list[str]], quick: bool) -> dict[str, list[str]]:
    """The points to kill at: all of them, or (``quick``) one of each of a few kinds: in the first
    slot that has the kind, its last such point (a slot's first points are the clean night's
    one-time work, e.g. the MeetMax lists fetched once, which the next night does not repeat)."""
    if not quick:
        return {task: list(names) for task, names in points.items()}
    wanted = ("start:CleverPush", "sftp.put.mid:", "sftp.put.renamed:", "pg.commit:", "bq.loaded:",
              "local.write:", "pg.copy.mid:", "gcs.put:")
    plan: dict[str, list[str]] = {}
    for prefix in wanted:
        for task, names in points.items():
            hit = next((n for n in reversed(names) if n.startswith(prefix)), None)
            if hit:
                plan.setdefault(task, []).append(hit)
                break
    return plan


def run_kills(var: Path, students: int, nights: int, quick: bool, out=sys.stdout):
    night = Night(var, students, out=out)
    night.setup()
    inv = Invariants(night)
    (var / "points").mkdir(exist_ok=True)
    points = discover(night, inv, NIGHTS[0], var / "points")
    total = sum(len(v) for v in points.values())
    print(f"clean night {NIGHTS[0]}: {total} kill points in {len(points)} slots "
          f"({', '.join(f'{t} {len(v)}' for t, v in points.items())})", file=out, flush=True)
    kills: list[Kill] = []
    last = NIGHTS[0]
    plan = deal(points, quick)
    for i in range(1, min(nights, len(NIGHTS) - 1) + 1 if nights > 0 else 0):
        night_kills, plan = kill_night(night, inv, i, NIGHTS[i], plan, out=out)
        kills += night_kills
        last = NIGHTS[i]
        if not any(plan.values()):
            break
    night.never = plan  # points no kill night had work for
    night.last_day = last
    missed = prove_checks(inv, last)
    print(f"invariant checks proven: {3 - len(missed)}/3" + (f" (NOT caught: {', '.join(missed)})" if missed else ""),
          file=out, flush=True)
    if missed:
        kills.append(Kill(last, "(the checks)", "prove_checks", violations=[f"not caught: {m}" for m in missed]))
    return night, inv, kills


def report_kills(kills: list[Kill], never: dict[str, list[str]], out=sys.stdout) -> tuple[int, int]:
    done = [k for k in kills if k.reached]
    survived = [k for k in done if not k.violations]
    print("\nkilled where (kill -9, then rerun):", file=out)
    for k in done:
        print(f"  {k.night} {k.slot:24} {k.point:60} {'ok' if not k.violations else 'VIOLATION ' + '; '.join(k.violations[:3])}",
              file=out)
    never = [(task, name) for task, names in never.items() for name in names]
    if never:
        print(f"  {len(never)} points had no work on any kill night (the clean night's first fetches; "
              "nothing changed since):", file=out)
        for task, name in never:
            print(f"    {task:24} {name}", file=out)
    return len(survived), len(done)


def bad_inputs(night: Night):
    """The corpus through the stack's Feeds database (one watcher run, as cron starts it) and
    the vendor rules (tests/badinputs.py)."""
    from ops.feeds_db import FeedsDbSettings
    from pipelines.base import data_dir
    from pipelines.feed_files import feeds_ledger
    from tests.badinputs import run_feeds, run_vendor
    owner = FeedsDbSettings.from_config().as_owner()

    def ddl(statement, params=None):
        conn = owner.connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(statement, params)
        finally:
            conn.close()

    def ledger(query):
        client = feeds_ledger()
        with client.transaction() as cur:
            cur.execute(query)
            return cur.fetchall()

    def watch():
        night.run(night.last_day, dt.time(9, 0), "pipelines.feeds", "WatchFeeds")

    outcomes, good = run_feeds(ddl, ledger, data_dir() / "feeds" / "bad_corpus", watch)
    outcomes += run_vendor(night.var / "bad_vendor")
    return outcomes, good


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="run.sh bench faults", description=__doc__.split("\n\n")[0])
    ap.add_argument("--nights", type=int, default=3, help="kill nights at most (1-3): a point with no work on one "
                                                           "night is tried on the next (0: no kills)")
    ap.add_argument("--only", choices=["cut", "stall", "refused", "trickle"], help="one kind of network fault")
    ap.add_argument("--students", type=int, default=300)
    ap.add_argument("--quick", action="store_true", help="one kill of each of a few kinds, on one night (the suite's version)")
    ap.add_argument("--var", type=Path, help="state folder of the private stack (default: a temporary one)")
    args = ap.parse_args(argv)
    import logging

    import stack
    from targets import clock
    from targets.logdb import setup_logging
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        var = (args.var or Path(tmp) / "var").resolve()
        setup_logging("bench faults", run_log=var / "bench.log", to_database=False)
        for handler in logging.getLogger().handlers:
            if type(handler) is logging.StreamHandler:
                handler.setLevel(logging.CRITICAL)
        from bench import netfaults
        try:
            nights = min(args.nights, 1) if args.quick else args.nights  # quick: its kills on the one night after the clean one
            night, inv, kills = run_kills(var, args.students, nights, args.quick)
            print(f"\nnetwork faults on {night.last_day} (a proxy in front of each server):", flush=True)
            cases = netfaults.run_netfaults(night, inv, night.last_day, args.quick, only=args.only)
            bad, good = bad_inputs(night)
            leaks = leak_scan(night)
            planted = night.var / "logs" / "planted.log"  # the scan finds what it looks for
            secret = next(v.strip() for k, _, v in (line.partition("=") for line in
                          (night.var / "secrets.env").read_text().splitlines()) if len(v.strip()) >= 8)
            planted.write_text(f"a line with {secret} in it\n")
            if not any("planted.log" in f for f in leak_scan(night)):
                leaks.append("the leak scan did not find a secret planted in a run log")
            planted.unlink()
        finally:
            clock.set_now(None)
            stack.down(var)
    survived, total = report_kills(kills, night.never)
    faults_ok, faults = netfaults.report(cases)
    print("\nbad inputs (tests/fixtures/bad/ and the generated ones):")
    for o in bad:
        print(f"  {o.bad.intake:6} {o.bad.name!r:36} {'ok' if o.handled else 'NOT HANDLED'}: {o.said[:110]}")
    print(f"  the good files dropped with them: {'loaded' if not good else '; '.join(good)}")
    handled = sum(o.handled for o in bad) if not good else 0
    print(f"\n{time.monotonic() - t0:.0f}s")
    print(f"kills_survived={survived}/{total}")
    print(f"faults_survived={faults_ok}/{faults}")
    for leak in leaks:
        print(f"LEAK: {leak}")
    print(f"bad_inputs_handled={handled}/{len(bad)}")
    print(f"leaks_found={len(leaks)}")
    return 0 if survived == total and (total or args.nights == 0) and faults_ok == faults and handled == len(bad) \
        and not leaks else 1


if __name__ == "__main__":
    sys.exit(main())
