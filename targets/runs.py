"""Run tracking: a run of ``./run.sh luigi`` is a ledger row of job ``run`` (``started``, then
how it ended), which ``./run.sh status`` compares with the schedule; runs of this host whose
process is gone (killed, a power cut) are found and said failed. Rows are written through the
ledger's one column list (targets/ledger.py ``ledger_row``)."""
from __future__ import annotations

import datetime as dt

from psycopg2 import sql

from targets import clock
from targets.ledger import LEDGER, Ledger, LedgerEntry, _placeholders, ledger_row
from targets.process import _HOST, process_alive, process_id


class RunTracker:
    """The runs in ``ledger`` (a ``Ledger``)."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def transaction(self):
        return self.ledger.transaction()

    def ensure_schema(self) -> None:
        self.ledger.ensure_schema()

    def run_started(self, task: str, run_date: dt.date, command: str) -> int:
        """A run of ``./run.sh luigi`` begins: a 'started' row of job ``run`` (what ./run.sh
        status compares with the schedule); returns its id for ``run_finished``. Runs of this
        host still 'started' whose process is gone (killed, power cut) become 'failed' first."""
        self.ensure_schema()
        self.reap_killed_runs()
        started = clock.now()
        run = LedgerEntry(job="run", item=f"{task} {started:%Y-%m-%dT%H:%M:%SZ} {_HOST}:{process_id()}",
                          run_date=run_date, direction="task", source=command[:500], started_at=started)
        names, values = ledger_row(run, "started", None, finished=False)
        with self.transaction() as cur:
            cur.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING load_id").format(
                LEDGER, names, _placeholders(values)), values)
            return cur.fetchone()[0]

    def reap_killed_runs(self) -> list[str]:
        """'started' runs of this host whose process no longer exists: they were killed (kill -9,
        out of memory, a reboot) before they could say how they ended. Each becomes 'failed' with
        a note, so status and the digest show it; returns their items."""
        with self.transaction() as cur:
            cur.execute(sql.SQL("SELECT load_id, item FROM {} WHERE job_name = 'run' AND status = 'started'"
                                " FOR UPDATE SKIP LOCKED").format(LEDGER))
            dead = []
            for load_id, item in cur.fetchall():
                host, _, pid = item.rsplit(" ", 1)[-1].rpartition(":")
                if (host or _HOST) == _HOST and pid.split(".")[0].isdigit() and not process_alive(pid):
                    dead.append((load_id, item))
            for load_id, _ in dead:
                cur.execute(sql.SQL("UPDATE {} SET status = 'failed', finished_at = %s, note = %s, error = %s"
                                    " WHERE load_id = %s").format(LEDGER),
                            (clock.now(), "killed", "the run's process ended without finishing (killed or the machine"
                             " stopped); the next run of its slot resumes it", load_id))
        return [item for _, item in dead]

    def run_finished(self, load_id: int, code: int, skipped: str | None = None) -> None:
        """The run ended with exit status ``code`` (0, or 20 while waiting for a partner: it ran;
        anything else: failed; its failed tasks have their own rows), or did nothing on purpose
        (``skipped``: why, e.g. its flow is paused). A run killed before this stays 'started'."""
        status = "skipped" if skipped else "succeeded" if code in (0, 20) else "failed"
        note = f"exit {code}" + (f", {skipped}" if skipped else "")
        with self.transaction() as cur:
            cur.execute(sql.SQL("UPDATE {} SET status = %s, finished_at = %s, note = %s WHERE load_id = %s").format(
                LEDGER), (status, clock.now(), note, load_id))

    def run_failures(self, uuid: str) -> list[dict]:
        """The failed rows one run wrote (what its failure mail lists)."""
        with self.transaction() as cur:
            cur.execute(sql.SQL("SELECT job_name, item, run_date, error FROM {} WHERE run_uuid = %s"
                                " AND status = 'failed' ORDER BY load_id").format(LEDGER), (uuid,))
            return [dict(zip([d.name for d in cur.description], row)) for row in cur.fetchall()]
