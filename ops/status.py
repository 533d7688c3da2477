"""``./run.sh status [--date D] [--days N] [--json] [--html FILE]``: what ran, what failed (with
the command that reruns it), what was sent to each vendor, and the runs the schedule expected
that never started (pipelines/digest.py gathers and lays out the page; the daily digest mail
sends the same). Ids, file names, counts and rules only — never row contents."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import luigi.configuration

from pipelines.base import today
from pipelines.digest import collect, html, text
from targets.local import atomic_path
from targets.ledger import Ledger


def report(ledger: Ledger, day: dt.date, days: int = 1) -> str:
    return text(collect(ledger, day, days))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="run.sh status")
    ap.add_argument("--date", type=dt.date.fromisoformat, default=None)
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="the same as JSON, for scripts and monitoring")
    ap.add_argument("--html", metavar="FILE", help="also write the page as HTML, with the 30-day charts")
    args = ap.parse_args(argv)
    data = collect(Ledger.of(), args.date or today(), args.days,
                   sections=set(luigi.configuration.get_config().sections()))
    print(json.dumps(data, indent=2, default=str) if args.json else text(data))
    if args.html:
        with atomic_path(args.html) as tmp:
            Path(tmp).write_text(html(data), encoding="utf-8")
        print(f"HTML page: {args.html}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    from ops import one_line_errors
    sys.exit(one_line_errors("status", main)(sys.argv[1:]))
