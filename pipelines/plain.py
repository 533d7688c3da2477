"""The design card's cron form, the venv's own ``luigi --module pipelines.clever CleverPush``
(from any folder: the project is installed into its venv, pyproject.toml), run exactly as
``./run.sh luigi --module pipelines.clever CleverPush`` runs it.

Luigi's command imports the task's module before it reads any configuration, and the first
module it imports is this package: there the process hands itself over to run.sh, which finds
the configuration and secrets (ETL_SECRETS_ENV, or the embedded stack's), takes the one-copy
lock, picks the scheduler (saying so when no central one runs, and what it did instead), writes
the run log and the ledger's run row, mails failures and prints Luigi's summary. One way to run
a task, whichever command started it; a missing configuration is one line, not tracebacks.
"""
import os
import sys
from pathlib import Path

RUN_SH = Path(__file__).resolve().parent.parent / "run.sh"
MARK = "ETL_PLAIN_LUIGI"  # set for the handed-over run: run.sh says which scheduler it took, and no loop


def hand_over_plain_luigi() -> None:
    """Replace this process by ``run.sh luigi ARGS`` when it is Luigi's own ``luigi`` command."""
    if Path(sys.argv[0]).name != "luigi" or os.environ.get(MARK) or not RUN_SH.is_file():
        return
    os.environ[MARK] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(str(RUN_SH), [str(RUN_SH), "luigi", *sys.argv[1:]])
