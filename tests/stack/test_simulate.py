"""``./run.sh simulate``: a short window (four days over the 1 December quarter boundary, an
outage and its rerun, DPS answering after midnight) with every invariant holding; and the
checks themselves catch what they are for (a check that cannot fail is no check)."""
import datetime as dt
import re

from stack.simulate import Run, Simulation, cron_times
from tests.tools import run_tool


def test_cron_times_on_real_days():
    monday, dec1 = dt.date(2026, 11, 30), dt.date(2026, 12, 1)
    assert cron_times("0 5 * * *", monday) == [dt.time(5, 0)]
    assert cron_times("0 6 1 12,3,6,9 *", dec1) == [dt.time(6, 0)]
    assert cron_times("0 6 1 12,3,6,9 *", monday) == []
    assert len(cron_times("*/15 * * * *", monday)) == 24  # sampled hourly
    assert cron_times("30 4 * * 1-5", monday) == [dt.time(4, 30)]
    assert cron_times("30 4 * * 1-5", dt.date(2026, 11, 29)) == []  # a Sunday


def test_the_checks_catch_violations(tmp_path):
    sim = Simulation(tmp_path, dt.date(2026, 11, 29), 2, 10)
    at = dt.datetime(2026, 11, 30, 5, 0)
    sim._check_run(Run(at, "SftpOperations", code=30, failed_rows=0, mails=2))
    sim._check_run(Run(at, "SftpOperations", code=40))
    assert sim.violations == ["2026-11-30 05:00 SftpOperations failed without a failed ledger row",
                              "2026-11-30 05:00 SftpOperations failed with 2 mails, not one",
                              "2026-11-30 05:00 SftpOperations ended with exit 40"]


def test_four_days_over_a_quarter_boundary(tmp_path):
    run = run_tool(["simulate", "--start", "2026-11-29", "--days", "4", "--students", "60",
                    "--var", str(tmp_path / "var")], timeout=240, log=tmp_path / "var" / "simulate.log")
    out = run.stdout
    assert run.returncode == 0, out[-4000:] + run.stderr[-2000:]
    assert out.strip().splitlines()[-1] == "simulate_violations=0"
    assert re.search(r"2026-11-30 Mon 05:00  SftpOperations +exit 30", out)  # the outage
    assert re.search(r"2026-11-30 Mon 09:00  SftpOperations \(rerun\) +exit  0  sent: push_ellevation 3\n", out)
    assert re.search(r"2026-11-30 Mon 05:00  SftpOperations .*push_otus 1", out)  # Monday: OTUS is due
    assert re.search(r"2026-12-01 Tue 06:00  SendToDps +exit  0  sent: dps_send 1", out)
    assert re.search(r"2026-12-01 Tue 07:00  ReceiveFromDps +exit 20", out)  # waiting for DPS
    assert re.search(r"2026-12-02 Wed 0[12]:00  ReceiveFromDps +exit  0", out)  # the answer after midnight
    assert not re.search(r"2026-11-(29|30) .* SendToDps", out)  # no send, so no extract, before the 1st
