"""Operator verbs. Each prints what it changed and is recorded in the ledger (job ``operator``:
who, what, when), so ``./run.sh status`` shows it.

- ``./run.sh clear JOB --date D [--item NAME]``: the ledger rows of that job and day (or that
  item) become ``superseded``, so the next run does exactly that again; the local files those
  rows name (under ``[etl] data_dir``) are set aside in ``<data_dir>/cleared/<time>/``, never
  deleted.
- ``./run.sh pause FLOW [--reason TEXT]`` / ``./run.sh resume FLOW``: a paused flow's runs do
  nothing, say so and exit 0 (pipelines/pauses.py); ``./run.sh pause`` alone lists the pauses.
- ``./run.sh prune --dry-run``: what retention (pipelines/prune.py) would remove now.
- ``./run.sh resend VENDOR`` runs ``ResendVendorPush`` (pipelines/vendors.py): the files last
  pushed to the vendor, sent again and recorded as a resend.
"""
from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import shutil
import sys
from pathlib import Path

from pipelines.base import data_dir
from pipelines.pauses import describe, flows, pause_dir, paused
from targets import clock
from targets.errors import ConfigError
from targets.ledger import Ledger, LedgerEntry

OPERATOR_JOB = "operator"


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def _action(what: str, day: dt.date, note: str) -> LedgerEntry:
    stamp = clock.now().strftime("%H:%M:%S.%f")[:-3]
    return LedgerEntry(job=OPERATOR_JOB, item=f"{what} @{stamp}", run_date=day, source=f"user {_user()}", note=note)


def _record(what: str, day: dt.date, note: str) -> str:
    """Record an action; a line to print if the ledger could not take it."""
    try:
        Ledger.of().record(_action(what, day, note))
        return ""
    except Exception as e:  # the pause itself holds; say that the ledger missed it
        return f"  (not recorded in the ledger: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"


def set_aside(paths: list[str], root: Path, stamp: str) -> list[tuple[Path, Path]]:
    """Move the existing files among ``paths`` that are under ``root`` to ``root/cleared/stamp``."""
    moved = []
    root = root.resolve()
    for text in paths:
        path = Path(text).resolve() if text and not text.startswith(("sftp://", "bq:", "gs://")) else None
        if path is None or not path.is_file() or root not in path.parents:
            continue
        dest = root / "cleared" / stamp / path.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, dest)
        moved.append((path, dest))
    return moved


def clear(job: str, day: dt.date, item: str | None) -> int:
    what = f"clear {job} {item or '(every item)'}"
    stamp = clock.now().strftime("%Y%m%dT%H%M%S")
    cleared = Ledger.of().clear(job, day, item, _action(what, day, f"the rows superseded; their local files set "
                                                                  f"aside in {data_dir() / 'cleared' / stamp}"))
    if not cleared:
        print(f"nothing to clear: no succeeded or failed row of {job} for {day}"
              + (f" with item {item}" if item else "") + " (./run.sh status --date D lists the jobs)")
        return 1
    moved = set_aside([c["destination"] for c in cleared if c["destination"]], data_dir(), stamp)
    print(f"cleared {job} for {day}: {len(cleared)} ledger rows are now superseded:")
    for c in cleared:
        print(f"  {c['item']} (was {c['status']})")
    for src, dest in moved:
        print(f"  set aside {src} -> {dest}")
    if not moved:
        print(f"  local files: none of these rows names a file in {data_dir()} (the rerun uses the day's files as "
              "they are, e.g. a push sends its exports again)")
    print("the next run of the job does these again")
    return 0


def pause(flow: str | None, reason: str) -> int:
    if flow is None:
        found = sorted(pause_dir().glob("*.json")) if pause_dir().is_dir() else []
        for path in found:
            print(describe(path.stem, json.loads(path.read_text(encoding="utf-8"))))
        if not found:
            print("no flow is paused")
        return 0
    _known(flow)
    if paused(flow) is not None:
        print(describe(flow, paused(flow)))
        return 0
    info = {"since": clock.now().astimezone().isoformat(timespec="seconds"), "by": _user(), "reason": reason}
    pause_dir().mkdir(parents=True, exist_ok=True)
    (pause_dir() / f"{flow}.json").write_text(json.dumps(info), encoding="utf-8")
    print(f"paused {flow}: its runs now do nothing and exit 0; ./run.sh resume {flow} to undo"
          + _record(f"pause {flow}", clock.now().date(), reason or "paused"))
    return 0


def resume(flow: str) -> int:
    _known(flow)
    info = paused(flow)
    if info is None:
        print(f"{flow} is not paused")
        return 0
    (pause_dir() / f"{flow}.json").unlink()
    print(f"resumed {flow} (paused since {info.get('since')} by {info.get('by')}): its next run runs"
          + _record(f"resume {flow}", clock.now().date(), f"paused since {info.get('since')}"))
    return 0


def prune_plan() -> int:
    from pipelines.prune import plan
    print("./run.sh prune would remove (nothing was removed):")
    for kind, files, size in plan():
        keep = "kept forever" if kind.days == 0 else f"older than {kind.days} days"
        print(f"  {kind.name:13} {files:6} files {size:>14,} bytes  ({kind.root}, {keep})")
    return 0


def _known(flow: str) -> None:
    if flow not in flows():
        raise ConfigError(f"no flow named {flow!r}; the flows are: {', '.join(flows())}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="run.sh")
    sub = ap.add_subparsers(dest="verb", required=True)
    c = sub.add_parser("clear", help="have the next run redo a job's day (or one item)")
    c.add_argument("job")
    c.add_argument("--date", type=dt.date.fromisoformat, required=True)
    c.add_argument("--item")
    p = sub.add_parser("pause", help="pause a flow (no FLOW: list the pauses)")
    p.add_argument("flow", nargs="?")
    p.add_argument("--reason", default="")
    r = sub.add_parser("resume", help="resume a paused flow")
    r.add_argument("flow")
    sub.add_parser("prune", help="what ./run.sh prune would remove (--dry-run)")
    args = ap.parse_args(argv)
    try:
        if args.verb == "prune":
            return prune_plan()
        if args.verb == "clear":
            return clear(args.job, args.date, args.item)
        if args.verb == "pause":
            return pause(args.flow, args.reason)
        return resume(args.flow)
    except ConfigError as e:
        print(f"run.sh {args.verb}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from ops import one_line_errors
    sys.exit(one_line_errors(sys.argv[1] if len(sys.argv) > 1 else "verb", main)(sys.argv[1:]))
