"""``python -m stack up|down|status [--var DIR] [--without bigquery]`` (``./run.sh stack``)."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from stack import ROOT, down, status, up
from stack.services import ready_install


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="run.sh stack")
    ap.add_argument("command", choices=["up", "down", "status"])
    ap.add_argument("--var", type=Path, default=Path(os.environ.get("ETL_VAR") or ROOT / "var"),
                    help="state folder (default: $ETL_VAR or var/)")
    ap.add_argument("--without", action="append", default=[], choices=["bigquery"],
                    help="bigquery: leave out the Google emulators (BigQuery and GCS)")
    args = ap.parse_args(argv)
    var = args.var.resolve()
    if args.command == "up":
        t0 = time.monotonic()
        state = up(var, with_bigquery="bigquery" not in args.without)
        made = ready_install(state)  # ./run.sh check passes on the stack as it is now
        if made:
            print(f"ready    {len(made)} first-run steps done: {'; '.join(made)}")
        for name, text in status(var).items():
            print(f"{name:9} {text}")
        print(f"config   {var / 'luigi.cfg'} (LUIGI_CONFIG_PATH); secrets {var / 'secrets.env'}")
        print(f"stack up in {time.monotonic() - t0:.1f}s")
    elif args.command == "down":
        stopped = down(var)
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    else:
        for name, text in status(var).items():
            print(f"{name:9} {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
