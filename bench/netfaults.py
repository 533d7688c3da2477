"""Network faults for ``./run.sh bench faults``: a TCP proxy (tests/netproxy.py) in front of each
server a night talks to, and a real task through it.

Servers and the task each fault hits: SFTP (Clever's push), PostgreSQL (the same push: its
ledger), BigQuery (the same push, exported again), SMTP (the daily digest) and a web stand-in
(MeetMax's event pages and lists). Faults: ``cut`` (the connection dies after some bytes, once),
``stall`` (it stays open and silent; for PostgreSQL every packet is dropped, as a dead network
does, since a silent but live server is the server's ``statement_timeout`` to bound), ``refused``
(nothing listens) and ``trickle`` (64 KiB/s). Each case passes when the run ends within its
bound (no hang), with exit 0 or a failure that is in the ledger (or, with PostgreSQL itself
down, in the failure mail), leaves no partial file at the vendor, and a rerun on a healthy
network completes with the files the ledger names.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

BOUND_SECONDS = 150  # a run still going after this is hung
KINDS = ("cut", "stall", "refused", "trickle")
SERVERS = ("sftp", "postgres", "bigquery", "smtp", "web")


@dataclasses.dataclass
class NetCase:
    server: str
    kind: str
    code: int | None = None
    seconds: float = 0.0
    said: str = ""
    violations: list[str] = dataclasses.field(default_factory=list)


class _Proxy:
    """tests.netproxy.TcpProxy for a fault kind (PostgreSQL's stall: packets dropped)."""

    def __init__(self, server: str, kind: str, port: int):
        from tests.netproxy import TcpProxy, blackhole
        self.hole = None
        if kind == "cut":
            self.proxy = TcpProxy(port, cut_after_bytes={"sftp": 6000, "postgres": 9000, "bigquery": 3000,
                                                        "smtp": 600, "web": 400}[server])
        elif kind == "stall" and server == "postgres":  # the network dies mid-session: packets dropped too
            self.hole = blackhole
            self.proxy = TcpProxy(port, stall_after_bytes=20_000, on_stall=lambda: self._drop())
        elif kind == "stall":
            self.proxy = TcpProxy(port, stall_after_bytes={"sftp": 6000, "bigquery": 3000, "smtp": 300,
                                                          "web": 400}[server])
        elif kind == "trickle":
            self.proxy = TcpProxy(port, rate=64 * 1024)
        else:
            raise ValueError(kind)
        self.port = self.proxy.port

    def _drop(self) -> None:
        self._hole = self.hole(self.port)
        self._hole.__enter__()
        self.dropped = True

    def __enter__(self):
        self.dropped = False
        self.proxy.start()
        return self

    def __exit__(self, *exc):
        if self.dropped:
            self._hole.__exit__()
        self.proxy.stop()


def _override(text: str, server: str, port: int) -> str:
    from bench.faults import _set_option
    if server == "sftp":  # the server's pinned key goes with it (known_hosts names the real port)
        text = _set_option(text, "sftp_clever", "host_key", pinned_key(text))
        return _set_option(text, "sftp_clever", "port", str(port))
    if server == "postgres":
        return _set_option(text, "postgres", "port", str(port))
    if server == "bigquery":
        return _set_option(text, "bigquery", "api_endpoint", f"http://127.0.0.1:{port}")
    if server == "smtp":
        return _set_option(text, "smtp", "port", str(port))
    return _set_option(text, "meetmax", "base_url", f"http://127.0.0.1:{port}")


def pinned_key(text: str) -> str:
    """The SFTP server's host key as luigi.cfg's known_hosts pins it for its address (to pin it
    as ``host_key`` when a proxy's port stands in for the server's)."""
    import configparser
    cfg = configparser.RawConfigParser()
    cfg.read_string(text)
    where = f"[{cfg.get('sftp_clever', 'host')}]:{cfg.get('sftp_clever', 'port')}"
    for line in Path(cfg.get("sftp_clever", "known_hosts")).read_text().splitlines():
        host, _, key = line.partition(" ")
        if host == where:
            return key.strip()
    raise SystemExit(f"no known_hosts entry for {where}")


def _real_port(text: str, server: str) -> int:
    import configparser
    cfg = configparser.RawConfigParser()
    cfg.read_string(text)
    if server == "bigquery":
        return int(cfg.get("bigquery", "api_endpoint").rsplit(":", 1)[1])
    if server == "web":
        return int(cfg.get("meetmax", "base_url").rsplit(":", 1)[1])
    return cfg.getint({"sftp": "sftp_clever", "postgres": "postgres", "smtp": "smtp"}[server], "port")


def _task(server: str) -> tuple[str, str, list[str]]:
    if server == "smtp":
        return "pipelines.digest", "DailyDigest", []
    if server == "web":
        from pipelines.base import sources_file  # noqa: F401 - config is loaded
        from targets.config import Section
        s = Section("meetmax")
        return "pipelines.meetmax", "DownloadMeetMaxLists", ["--first", str(s.int("first_id")),
                                                             "--last", str(s.int("last_id"))]
    return "pipelines.vendors", "VendorPush", ["--vendor", "clever"]


def _reset(server: str, kind: str, day: dt.date) -> None:
    """The case's work undone, so the faulted run has it to do (an operator's clear)."""
    from pipelines.feed_files import feeds_ledger
    from pipelines.meetmax import DOWNLOAD_JOB, check_dir
    from pipelines.vendors import export_dir
    from targets.ledger import LedgerEntry
    from targets.ledger import Ledger
    action = LedgerEntry(job="operator", item=f"bench netfaults: {server} {kind}", run_date=day, direction="task")
    if server == "smtp":
        Ledger.of().clear("digest", day, None, action)
    elif server == "web":
        feeds_ledger().clear(DOWNLOAD_JOB, day, None, action)
        shutil.rmtree(check_dir(day), ignore_errors=True)
    else:
        Ledger.of().clear("push_clever", day, None, action)
        if server == "bigquery":
            shutil.rmtree(export_dir(day, "clever"), ignore_errors=True)


def _timeouts(text: str) -> str:
    from bench.faults import _set_option
    for key, value in (("connect_timeout", "3"), ("io_timeout", "3"), ("retries", "1"), ("backoff", "0.2")):
        text = _set_option(text, "sftp_clever", key, value)
    text = _set_option(text, "postgres", "connect_timeout", "3")
    text = _set_option(text, "postgres", "io_timeout", "3")
    text = _set_option(text, "bigquery", "timeout", "5")
    text = _set_option(text, "bigquery", "io_timeout", "3")
    text = _set_option(text, "smtp", "timeout", "3")
    text = _set_option(text, "meetmax", "timeout", "3")
    text = _set_option(text, "meetmax", "retries", "1")
    return text


def _error_of(inv, mark) -> str:
    """The first failed ledger row's error since ``mark`` (what the operator reads), or ''."""
    rows = inv._ledger("SELECT error FROM dba.tdataloads WHERE load_id > %s AND status = 'failed'"
                       " AND job_name <> 'run' ORDER BY load_id LIMIT 1", (mark[0],))
    return (rows[0][0] or "")[:160] if rows else ""


def run_case(night, inv, case: NetCase, day: dt.date) -> None:
    import stack
    import zoneinfo
    from pipelines.base import timezone
    module, task, extra = _task(case.server)
    _reset(case.server, case.kind, day)
    base = _timeouts((night.var / "luigi.cfg").read_text())
    cfg = night.var / "luigi-netfault.cfg"
    moment = dt.datetime.combine(day, dt.time(8, 30), zoneinfo.ZoneInfo(timezone()))
    env = dict(night.env, ETL_CLOCK=moment.isoformat(), LUIGI_CONFIG_PATH=str(cfg))
    mails_before = set((night.var / "mail").glob("*.eml"))
    mark = inv.ledger_mark()
    argv = [sys.executable, "-m", "pipelines", "--module", module, task, "--date", day.isoformat(), *extra,
            "--local-scheduler"]
    if case.kind == "refused":
        cfg.write_text(_override(base, case.server, stack.free_port()))
        proxy = None
    else:
        proxy = _Proxy(case.server, case.kind, _real_port(base, case.server))
        cfg.write_text(_override(base, case.server, proxy.port))
    t0 = time.monotonic()
    try:
        if proxy is not None:
            proxy.__enter__()
        try:
            proc = subprocess.run(argv, cwd=env["PYTHONPATH"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True, timeout=BOUND_SECONDS)
            case.code = proc.returncode
        except subprocess.TimeoutExpired:
            case.violations.append(f"still running after {BOUND_SECONDS} s: hung")
    finally:
        if proxy is not None:
            proxy.__exit__()
    case.seconds = time.monotonic() - t0
    case.said = _error_of(inv, mark)
    if case.kind == "trickle" and case.code != 0:
        case.violations.append(f"a slow but working network failed the run (exit {case.code}): {case.said}")
    if case.code not in (None, 0) and re.search(r"host key|not configured|ConfigError", case.said, re.I):
        case.violations.append(f"failed for another reason than the network: {case.said}")
    if case.code not in (None, 0):
        failed = [r for r in inv.new_rows(mark) if r.endswith(" failed")]
        mails = [m for m in set((night.var / "mail").glob("*.eml")) - mails_before
                 if "Subject: FAILED:" in m.read_text(errors="replace")]
        if not failed and not mails and case.server != "smtp":
            case.violations.append(f"exit {case.code} with no failed ledger row and no failure mail")
        if case.server == "smtp" and not failed:
            case.violations.append(f"exit {case.code} with no failed ledger row (the mail server is the fault)")
    case.violations += inv.safe()
    rerun_env = dict(night.env, ETL_CLOCK=moment.isoformat())
    proc = subprocess.run(argv, cwd=env["PYTHONPATH"], env=rerun_env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=BOUND_SECONDS)
    if proc.returncode != 0:
        case.violations.append(f"the rerun on a healthy network ended with exit {proc.returncode}: "
                               f"{proc.stderr.strip().splitlines()[-1:]}")
    case.violations += [p for p in inv.whole(day, "SftpOperationsLocal") if "not sent for" not in p]


def run_netfaults(night, inv, day: dt.date, quick: bool, out=sys.stdout, only: str | None = None) -> list[NetCase]:
    from tests.netproxy import can_blackhole
    cases = []
    for server in SERVERS:
        for kind in KINDS:
            if (quick and kind not in ("cut", "refused")) or (only and kind != only):
                continue
            if server == "postgres" and kind == "stall" and can_blackhole():
                print(f"  {server:9} {kind:8} not run: {can_blackhole()}", file=out)
                continue
            case = NetCase(server, kind)
            run_case(night, inv, case, day)
            cases.append(case)
            print(f"  {server:9} {kind:8} exit {case.code!s:>4} in {case.seconds:5.1f} s  "
                  + ("ok" if not case.violations else "VIOLATION " + "; ".join(case.violations[:3]))
                  + (f"  (said: {case.said})" if case.said else ""), file=out, flush=True)
    return cases


def report(cases: list[NetCase]) -> tuple[int, int]:
    return sum(1 for c in cases if not c.violations), len(cases)


if __name__ == "__main__":
    sys.exit("run through ./run.sh bench faults")
