"""./run.sh systemd: every timer fires when its cron line would (systemd's own reading of the
OnCalendar= values, `systemd-analyze calendar`, against croniter's reading of the cron line,
in the district's time zone, from several starting days); the units pass `systemd-analyze
verify`; unconfigured flows are left out like in the crontab."""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import zoneinfo
from pathlib import Path

import pytest
from croniter import croniter

from ops.systemd import on_calendar, unit_name, units
from registry.schedule import load_schedule

ZONE = "America/Chicago"
pytestmark = [pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze"),
              pytest.mark.stack]  # systemd-analyze on every unit: ./run.sh test --fast leaves it out


def _systemd_times(specs: list[str], base: dt.datetime, n: int) -> list[dt.datetime]:
    found = []
    for spec in specs:
        out = subprocess.run(["systemd-analyze", "calendar", f"--iterations={n}",
                              f"--base-time={base.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC", spec],
                             capture_output=True, text=True, env=dict(os.environ, TZ="UTC"), check=True).stdout
        for stamp in re.findall(r"(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", out):
            found.append(dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.timezone.utc))
    return sorted(set(found))[:n]


def _cron_times(cron: str, base: dt.datetime, n: int) -> list[dt.datetime]:
    """croniter's reading, except that a local time the autumn clock change repeats runs once
    (as Debian's cron and systemd do; croniter would run it twice)."""
    it = croniter(cron, base.astimezone(zoneinfo.ZoneInfo(ZONE)))
    out, seen = [], set()
    while len(out) < n:
        moment = it.get_next(dt.datetime)
        if moment.replace(tzinfo=None) not in seen:
            seen.add(moment.replace(tzinfo=None))
            out.append(moment.astimezone(dt.timezone.utc))
    return out


@pytest.mark.parametrize("base", ["2026-11-24T12:00:00-06:00", "2026-12-31T23:59:00-06:00",
                                  "2027-02-28T06:30:00-06:00", "2027-03-13T12:00:00-06:00", "2027-11-06T12:00:00-05:00"])
def test_every_timer_fires_when_its_cron_line_would(base):
    start = dt.datetime.fromisoformat(base)
    for slot in load_schedule().slot:
        n = 4 if "*" in slot.cron.split()[0] else 6
        assert _systemd_times(on_calendar(slot.cron, ZONE, start.date()), start, n) == \
            _cron_times(slot.cron, start, n), slot.cron


@pytest.mark.parametrize("cron", ["0 6 1 12,3,6,9 *", "15 8 1,15 * 1-5", "0 0 * * 0", "0 0 * * 7", "*/20 9-17 * * mon-fri",
                                  "30 4 29 2 *", "30 2 * * 0", "30 1 * * *", "10 2 14 3 *"])
@pytest.mark.parametrize("base", ["2026-11-24T12:00:00-06:00", "2027-03-13T12:00:00-06:00",
                                  "2027-11-06T12:00:00-05:00"])
def test_cron_forms_the_schedule_may_use(cron, base):
    """Spring (2027-03-14: 02:00-02:59 never happens; cron runs those at 03:00) and autumn
    (2027-11-07: 01:00-01:59 twice; run once) included."""
    start = dt.datetime.fromisoformat(base)
    assert _systemd_times(on_calendar(cron, ZONE, start.date()), start, 5) == _cron_times(cron, start, 5)
    if cron.startswith("15 8 1,15"):  # day of month and weekday: cron takes either, so two OnCalendar= lines
        assert len(on_calendar(cron, ZONE)) == 2


def test_the_units_verify_and_unconfigured_flows_are_left_out(tmp_path):
    schedule = load_schedule()
    every = units(schedule, "/srv/district-etl/run.sh", "etl", ZONE)
    assert "district-etl-luigid.service" in every
    assert all(f"{unit_name(s.task)}.timer" in every and f"{unit_name(s.task)}.service" in every
               for s in schedule.slot)
    timer = every["district-etl-send-to-dps.timer"]
    assert "OnCalendar=*-03,06,09,12-01 06:00:00 America/Chicago" in timer and "Persistent=true" in timer
    assert "ExecStart=/srv/district-etl/run.sh luigi --module pipelines.dps SendToDps" in \
        every["district-etl-send-to-dps.service"]
    without_dps = units(schedule, "/srv/district-etl/run.sh", "etl", ZONE, sections={"etl", "feeds", "feeds_db", "eis"})
    assert "district-etl-send-to-dps.timer" not in without_dps and "district-etl-feeds-weekly.timer" in without_dps
    for name, text in every.items():
        (tmp_path / name).write_text(text.replace("/srv/district-etl/run.sh", "/bin/true").replace("User=etl", "User=root")
                                     .replace("Group=etl", "Group=root"))
    result = subprocess.run(["systemd-analyze", "verify", *sorted(str(p) for p in tmp_path.iterdir())],
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result.stderr


@pytest.mark.parametrize("day", ["2026-11-24", "2026-11-30", "2026-12-01", "2027-03-14", "2027-11-07"])
def test_the_runs_status_expects_on_a_day_are_crons(day):
    """registry.schedule.fire_times (what ./run.sh status expects) against croniter, both clock
    changes included."""
    from registry.schedule import fire_times
    tz = zoneinfo.ZoneInfo(ZONE)
    d = dt.date.fromisoformat(day)
    start = dt.datetime.combine(d, dt.time(0), tz) - dt.timedelta(seconds=1)
    end = dt.datetime.combine(d + dt.timedelta(days=1), dt.time(0), tz)
    for slot in load_schedule().slot:
        expected = [t for t in _cron_times(slot.cron, start, 400) if t < end] if "*" not in slot.cron.split()[0] \
            else None
        got = [t.astimezone(dt.timezone.utc) for t in fire_times(slot.cron, d, ZONE)]
        if expected is None:  # every few minutes: the count and the first and last
            times = [t for t in _cron_times(slot.cron, start, 400) if t < end]
            assert (len(got), got[0], got[-1]) == (len(times), times[0], times[-1]), slot.cron
        else:
            assert got == expected, (slot.cron, day)


def test_each_district_gets_its_own_units_beside_the_others(tmp_path):
    """`./run.sh systemd --district NAME` (docs/operations.md "Several districts"): the
    district's units, named for it, each run with --district NAME at the times of its own time
    zone, written into the same folder as another district's without replacing any; the one
    luigid unit is the same for both, and they verify."""
    districts = tmp_path / "districts"
    districts.mkdir()
    (districts / "north.cfg").write_text("[etl]\ntimezone = America/Denver\n")
    (districts / "south.cfg").write_text("[etl]\ntimezone = America/Chicago\n")
    env = {k: v for k, v in os.environ.items() if k not in ("LUIGI_CONFIG_PATH", "ETL_SECRETS_ENV", "ETL_DISTRICT")}
    env.update(ETL_VAR=str(tmp_path / "no-stack"), ETL_DISTRICTS_DIR=str(districts))
    out = tmp_path / "units"
    root = Path(__file__).resolve().parents[2]
    for name in ("north", "south"):
        done = subprocess.run([str(root / "run.sh"), "systemd", "--district", name, "--out", str(out),
                               "--run-sh", "/srv/district-etl/run.sh"], cwd=root, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    made = {p.name: p.read_text() for p in out.iterdir()}
    slots = load_schedule().slot
    for name, zone in (("north", "America/Denver"), ("south", "America/Chicago")):
        service = made[f"district-etl-{name}-sftp-operations.service"]
        assert "ExecStart=/srv/district-etl/run.sh luigi --district " + name + " --module pipelines.slots " \
               "SftpOperations\n" in service
        timer = made[f"district-etl-{name}-sftp-operations.timer"]
        assert f"Unit=district-etl-{name}-sftp-operations.service" in timer and f" {zone}" in timer
    assert "district-etl-luigid.service" in made and not any(n.startswith("district-etl-sftp") for n in made)
    per_district = {n for n in made if n.startswith("district-etl-north-")}
    assert {n.replace("-north-", "-south-") for n in per_district} == {n for n in made if "-south-" in n}
    assert 0 < len(per_district) <= 2 * len(slots)
    for name, text in made.items():
        (tmp_path / "verify").mkdir(exist_ok=True)
        (tmp_path / "verify" / name).write_text(text.replace("/srv/district-etl/run.sh", "/bin/true")
                                                .replace("User=etl", "User=root").replace("Group=etl", "Group=root"))
    result = subprocess.run(["systemd-analyze", "verify", *sorted(str(p) for p in (tmp_path / "verify").iterdir())],
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_the_units_run_as_the_checkouts_owner_and_a_user_who_cannot_reach_it_is_warned(tmp_path):
    """No --user: the checkout's owner (root's checkout under /root runs as root, not as an 'etl'
    who cannot enter /root); a --user who cannot enter the checkout, or who does not exist, is
    warned about before the units are written."""
    import pwd

    from ops.systemd import access_problems
    root = Path(__file__).resolve().parents[2]
    owner = pwd.getpwuid(root.stat().st_uid).pw_name
    env = {k: v for k, v in os.environ.items() if k not in ("LUIGI_CONFIG_PATH", "ETL_SECRETS_ENV", "ETL_DISTRICT")}
    env.update(ETL_VAR=str(tmp_path / "no-stack"))
    done = subprocess.run([str(root / "run.sh"), "systemd", "--secrets-env", "/etc/etl/s.env"], cwd=root, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"User={owner}\n" in done.stdout and "Environment=ETL_SECRETS_ENV=/etc/etl/s.env\n" in done.stdout
    assert done.stderr == ""
    assert access_problems("no-such-user-x", root) == [
        "user 'no-such-user-x' does not exist on this machine: create it (docs/deploy.md) or give --user"]
    private = tmp_path / "home"
    (private / "app").mkdir(parents=True)
    (private / "app" / "run.sh").write_text("#!/bin/sh\n")
    private.chmod(0o700)
    (problem,) = access_problems("nobody", private / "app")  # the first folder on the way nobody may enter
    folder = problem.removeprefix("nobody cannot enter ").split(" (mode 700")[0]
    assert Path(folder) in (private / "app").parents and f"(mode 700, owner {owner}): the units would fail" in problem
    assert problem.endswith(f"or give --user {owner}")
