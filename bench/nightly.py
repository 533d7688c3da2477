"""The 05:00 slot at district scale: a synthetic district (50,000 students unless told) on a
private embedded stack; the slot (Clever, SAVVAS, Ellevation, OTUS on a Monday) runs with one
worker, then a week later with four, then again (a no-op).

    ./run.sh bench nightly [--students 500000] [--workers 4] [--network wan [--rtt-ms 40] [--mbit 100]]

Setup (not timed): seed, load into the BigQuery emulator, deploy the views. Timed: the slot
as cron runs it (``python -m pipelines --module pipelines.slots SftpOperations``, a fresh
process) on Monday MONDAY with one worker, on the next Monday with ``--workers N`` (the same
work: every file exported, checked and sent again), then that command again, three times (the
median is the figure). Each task's
peak resident memory comes from its run log (pipelines/peaks.py). Last lines:
``slot_0500_seconds=X`` (one worker), ``slot_parallel_speedup=Y`` (one worker's time over N
workers'; goal >= 1.8), ``nightly_peak_rss_mb=Z`` (the largest task; goal <= 500) and
``noop_rerun_seconds=W`` (goal < 1), with a fourth no-op under cProfile showing where its
time goes (imports, config and registries, the ledger's queries, file hashing, Luigi's
scheduling); the rerun's SSH connections are counted from the SFTP
server's log (goal: none).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import stack
from pipelines.peaks import LINE, largest as peaks_in
from registry.vendors import load_vendors
from stack import ROOT

MONDAY = dt.date(2026, 11, 23)


def _env(var: Path, day: dt.date = MONDAY) -> dict:
    # The runs play a Monday (pushes send only today's data).
    return dict(os.environ, PYTHONPATH=str(ROOT), ETL_CLOCK=f"{day}T05:00:00-06:00", **stack.config_env(var))


def _stack_cpu(var: Path) -> float:
    """CPU seconds used so far by the stack's own processes (the BigQuery emulator, the SFTP and
    mail servers, PostgreSQL): every process whose command line names ``var``."""
    total, tick = 0, os.sysconf("SC_CLK_TCK")
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if str(var) in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            continue
    return total / tick


_CPU: dict[str, float] = {}  # the last run's CPU seconds: its own processes, and the stack's


def _luigi(var: Path, module: str, task: str, *extra: str, day: dt.date = MONDAY, log: Path | None = None,
           profile: Path | None = None) -> float:
    env = _env(var, day)
    if log is not None:
        env["ETL_RUN_LOG"] = str(log)
    before, stack_before = resource.getrusage(resource.RUSAGE_CHILDREN), _stack_cpu(var)
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    profiled = ["-m", "cProfile", "-o", str(profile)] if profile else []
    proc = subprocess.run([sys.executable, *profiled, "-m", "pipelines", "--module", module, task, "--local-scheduler",
                           *extra], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    mine = resource.getrusage(resource.RUSAGE_SELF)
    _CPU.update(run=after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
                stack=_stack_cpu(var) - stack_before,
                links=mine.ru_utime + mine.ru_stime - self_before.ru_utime - self_before.ru_stime)
    if proc.returncode != 0:
        print(proc.stdout[-4000:])
        raise SystemExit(f"{task} failed (exit {proc.returncode})")
    return seconds


# where a no-op rerun's time goes: the functions whose cumulative time is each part's
BREAKDOWN = (("imports", ("<frozen importlib._bootstrap>:1165(_find_and_load)",)),
             ("config and registries", ("targets/config.py", "registry/", "pipelines/base.py:9")),
             ("the ledger's queries", ("targets/ledger.py",)),
             ("hashing files", ("targets/local.py",)),
             ("Luigi's scheduling", ("luigi/worker.py", "luigi/scheduler.py", "luigi/interface.py")))


def breakdown(profile: Path) -> list[tuple[str, float]]:
    """The no-op rerun's parts (seconds of cumulative time, from a cProfile file): imports,
    config, the ledger's queries, file hashing, Luigi's own scheduling; the largest function of
    each comes from the profile itself, so a part that grows shows."""
    import pstats
    stats = pstats.Stats(str(profile)).stats
    total = max(ct for (_, _, _, ct, _) in stats.values())
    parts = []
    for name, where in BREAKDOWN:
        seconds = 0.0
        for (path, line, func), (_, _, _, cum, callers) in stats.items():
            key = f"{path}:{line}({func})"
            mine = any(w in key for w in where)
            outer = any(any(w in f"{c[0]}:{c[1]}({c[2]})" for w in where) for c in callers)
            if mine and not outer:
                seconds += cum
        parts.append((name, seconds))
    return parts + [("whole process", total)]


def _cpu_line(cpu: dict[str, float], wall: float) -> str:
    links = f", {cpu['links']:.1f} s in the WAN links" if cpu.get("links", 0) >= 0.05 else ""
    busy = cpu["run"] + cpu["stack"] + cpu.get("links", 0)
    return (f"  CPU: {cpu['run']:.1f} s in the run's processes, {cpu['stack']:.1f} s in the stack's (emulator, SFTP, "
            f"PostgreSQL){links}: {busy / wall:.2f} cores busy on average")


def _vendor_files(var: Path) -> dict[str, int]:
    """The vendor files on the SFTP server, with their modification times (ns)."""
    root = var / "sftp" / "root"
    pushed = [root / v.server / (v.remote_dir or stack.sftp_remote_dir(v.server)).strip("/")
              for v in load_vendors(stack.ROOT / "vendors.toml").vendors.values()]  # vendors.toml's pushes
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for folder in pushed for p in folder.rglob("*")
            if p.is_file()}


def _sent(before: dict[str, int], after: dict[str, int]) -> list[str]:
    return sorted(name for name, mtime in after.items() if before.get(name) != mtime)


def _ssh_connections(var: Path) -> int:
    log = var / "log" / "servers.log"
    return len(re.findall(r"Accepted SSH client connection", log.read_text(errors="replace"))) if log.exists() else 0


def _over_the_wan(var: Path, rtt: float, rate: float) -> list:
    """The timed runs reach the vendors' SFTP server and BigQuery (its REST and Storage Read API
    ports) through a WanProxy each, as a district's runs reach them over the internet; the
    ledger's PostgreSQL stays local, as it is. Returns the proxies, started."""
    import configparser

    from bench.netfaults import pinned_key
    from tests.netproxy import WanProxy
    ports = stack.StackState.load(var).ports
    links = {name: WanProxy(ports[name], rtt, rate).__enter__() for name in ("sftp", "bigquery", "bigquery_grpc")}
    path = var / "luigi.cfg"
    host_key = pinned_key(path.read_text())  # the server's, pinned: the port changes
    cfg = configparser.RawConfigParser()
    cfg.read(path)
    for section in cfg.sections():
        if section.startswith("sftp_") and cfg.get(section, "port", fallback="") == str(ports["sftp"]):
            cfg.set(section, "port", str(links["sftp"].port))
            cfg.set(section, "host_key", host_key)
    cfg.set("bigquery", "api_endpoint", f"http://127.0.0.1:{links['bigquery'].port}")
    cfg.set("bigquery", "storage_endpoint", f"127.0.0.1:{links['bigquery_grpc'].port}")
    with open(path, "w") as fh:
        cfg.write(fh)
    return list(links.values())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=50_000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--keep-logs", type=Path, help="copy the slot runs' logs there")
    ap.add_argument("--network", choices=["loopback", "wan"], default="loopback",
                    help="wan: the timed runs reach SFTP and BigQuery over a modelled wide-area link")
    ap.add_argument("--rtt-ms", type=float, default=40.0, help="the wan's round trip (default 40 ms)")
    ap.add_argument("--mbit", type=float, default=100.0,
                    help="the wan's rate for each connection, each way (default 100 Mbit/s)")
    args = ap.parse_args()
    from stack.district import generate, generate_merge_inputs
    with tempfile.TemporaryDirectory(prefix="bench-nightly-") as tmp:
        var = Path(tmp) / "var"
        stack.up(var, with_bigquery=True)
        links: list = []
        try:
            t0 = time.perf_counter()
            data = var / "data"
            counts = generate(data / "powerschool_combined", students=args.students, today=MONDAY,
                              idm_file=data / "powerschool_combined" / "clever_idm_students.csv")
            generate_merge_inputs(data)
            _luigi(var, "pipelines.warehouse", "BigQueryOperations", "--date", MONDAY.isoformat())
            _luigi(var, "pipelines.views", "DeployViews")
            print(f"setup: {args.students:,} students, {counts['enrollments.csv']:,} enrollments, "
                  f"{counts['attendance.csv']:,} attendance rows loaded in {time.perf_counter() - t0:.1f}s")
            logs = var / "bench-logs"
            if args.network == "wan":
                links = _over_the_wan(var, args.rtt_ms / 1000, args.mbit * 1e6 / 8)
                print(f"network: SFTP and BigQuery over a modelled WAN, {args.rtt_ms:g} ms round trip, "
                      f"{args.mbit:g} Mbit/s per connection each way; PostgreSQL local")
            else:
                print("network: loopback (no wait on the network: the slot is CPU on this machine's cores)")
            files = _vendor_files(var)
            one = _luigi(var, "pipelines.slots", "SftpOperations", "--date", MONDAY.isoformat(),
                         log=logs / "one.log")
            sent, files = _sent(files, _vendor_files(var)), _vendor_files(var)
            print(f"05:00 slot, one worker ({MONDAY}): {one:.1f}s, sent {len(sent)} files: {', '.join(sent)}")
            cpu_one = dict(_CPU)
            print(_cpu_line(cpu_one, one))
            later = MONDAY + dt.timedelta(days=7)
            many = _luigi(var, "pipelines.slots", "SftpOperations", "--date", later.isoformat(),
                          "--workers", str(args.workers), day=later, log=logs / "many.log")
            print(f"05:00 slot, {args.workers} workers ({later}): {many:.1f}s, sent {len(_sent(files, _vendor_files(var)))} files")
            print(_cpu_line(_CPU, many))
            if links:
                print(f"  the WAN links carried {sum(link.bytes for link in links) / 1e6:.1f} MB in "
                      f"{sum(link.connections for link in links)} connections over both slots")
            # the slot's work needs (its CPU seconds / the cores) of wall time however it is spread
            bound = one * (os.cpu_count() or 1) / max(0.1, cpu_one["run"] + cpu_one["stack"] + cpu_one["links"])
            print(f"  the one-worker slot's CPU on {os.cpu_count()} cores allows a speedup of at most {bound:.2f}"
                  f" (everything on this machine); reached {one / many:.2f}")
            texts = {name: (logs / f"{name}.log").read_text(errors="replace") for name in ("one", "many")}
            if args.keep_logs:
                shutil.copytree(logs, args.keep_logs, dirs_exist_ok=True)
            for name, text in texts.items():
                top = sorted(((int(mb), task) for mb, task in LINE.findall(text)), reverse=True)[:5]
                print(f"largest tasks ({name}): " + ", ".join(f"{task} {mb} MB" for mb, task in top))
            peak = max(p for p in map(peaks_in, texts.values()) if p)
            before, wan_before = _ssh_connections(var), sum(link.connections for link in links)
            reruns = sorted(_luigi(var, "pipelines.slots", "SftpOperations", "--date", later.isoformat(), day=later,
                                   log=logs / "noop.log") for _ in range(3))
            rerun = reruns[1]  # the median of three: one sample on a shared machine, just after the slot, is noise
            if args.keep_logs:
                shutil.copy(logs / "noop.log", args.keep_logs)
            ssh = _ssh_connections(var) - before
            print(f"no-op rerun: {rerun:.2f}s (median of {', '.join(f'{r:.2f}' for r in reruns)}), {ssh} SSH "
                  "connections opened (0 = every output answered by the ledger, one query per vendor)")
            _luigi(var, "pipelines.slots", "SftpOperations", "--date", later.isoformat(), day=later,
                   log=logs / "noop-profiled.log", profile=var / "noop.prof")
            parts = breakdown(var / "noop.prof")
            if args.keep_logs:
                shutil.copy(var / "noop.prof", args.keep_logs)
            scale = rerun / parts[-1][1]  # the profiler's own cost taken out: each part as a share of the run
            print(f"  where a no-op's {rerun:.2f}s go (cProfile's shares of its {parts[-1][1]:.2f}s, scaled to the "
                  "run; imports overlap the others): " + ", ".join(f"{name} {seconds * scale:.3f}s"
                                                                    for name, seconds in parts[:-1]))
            if links:
                print(f"  the no-op reruns opened {sum(link.connections for link in links) - wan_before} "
                      "connections over the WAN (SFTP or BigQuery)")
            print(f"slot_0500_seconds={one:.1f}")
            print(f"slot_parallel_speedup={one / many:.2f}")
            print(f"nightly_peak_rss_mb={peak[0]}")
            print(f"noop_rerun_seconds={rerun:.2f}")
        finally:
            for link in links:
                link.__exit__()
            stack.down(var)
    return 0


if __name__ == "__main__":
    sys.exit(main())
