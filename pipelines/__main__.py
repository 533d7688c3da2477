"""``python -m pipelines ARGS``: the luigi command line, with the project's logging installed
first (redacted console output and the dba.tLogEntry run log). run.sh luigi calls this."""
import sys

import luigi.cmdline

from targets.logdb import setup_logging


def main(argv: list[str]) -> None:
    setup_logging(process_type="luigi " + " ".join(a for a in argv if not a.startswith("-"))[:200])
    luigi.cmdline.luigi_run(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
