"""The one schedule (schedule.toml): every cron line names a real dated task, the slot
wrappers are made from the table (a new slot is a table entry), the crontab and the README's
schedule come from it, and a mistake names the file and the entry."""
import datetime as dt
import importlib
import os
import subprocess

import luigi
import pytest

import registry.schedule
from ops.cron import README, crontab, markdown, readme_section, zone_warning
from pipelines.base import ROOT, define_slots
from pipelines.slots import ScheduleSlot
from registry.schedule import load_schedule
from targets.errors import ConfigError

DAY = dt.date(2026, 11, 24)


def test_every_cron_line_names_a_real_dated_task():
    schedule = load_schedule()
    for slot in schedule.slot:
        cls = getattr(importlib.import_module(slot.module), slot.task)
        # every task takes --date (the DPS receive takes it but the ledger, not the date, picks its send)
        assert issubclass(cls, luigi.Task) and "date" in cls.get_param_names(include_significant=True), slot.task
        for run in slot.tasks:
            assert "date" in run.task_class().get_param_names(), run.task
    names = [s.task for s in schedule.slot]  # the names cron already uses stay
    for old in ("BigQueryOperations", "SftpOperations", "SftpOperationsMisc", "BigQueryOperationsMisc",
                "SftpOperationsLocal", "SendToDps", "ReceiveFromDps"):
        assert old in names


def test_wrappers_start_what_the_table_says():
    from pipelines.slots import SftpOperations
    tasks = SftpOperations(date=DAY, force=True).requires()
    assert [t.task_family for t in tasks] == ["CleverPush", "SavvasPush", "EllevationPush", "OtusPush"]
    assert all(t.date == DAY and t.force for t in tasks)
    from pipelines.warehouse import BigQueryOperationsMisc
    assert load_schedule().named(BigQueryOperationsMisc.get_task_family()).loads == ["misc_imports"]


def test_a_new_slot_is_a_table_entry(tmp_path, monkeypatch):
    text = (ROOT / "schedule.toml").read_text() + '''
[[slot]]
task = "NightlyAcme"
module = "pipelines.slots"
cron = "30 4 * * 1-5"
about = "a vendor with no entry module"
runs = [{ task = "pipelines.vendors.VendorPush", params = { vendor = "acme" } }]
'''
    path = tmp_path / "schedule.toml"
    path.write_text(text)
    monkeypatch.setattr(registry.schedule, "SCHEDULE_FILE", path)
    namespace = {}
    assert define_slots("pipelines.slots", ScheduleSlot, namespace)[-1] == "NightlyAcme"
    (task,) = namespace["NightlyAcme"](date=DAY).requires()
    assert (task.task_family, task.vendor, task.date) == ("VendorPush", "acme", DAY)
    assert "30 4 * * 1-5       run.sh luigi --module pipelines.slots NightlyAcme" in crontab(load_schedule(), "run.sh")


def test_crontab_and_readme_come_from_the_table():
    schedule = load_schedule()
    text = crontab(schedule, "/srv/district-etl/run.sh")
    assert "ETL_SECRETS_ENV=/etc/district-etl/secrets.env" in text
    assert "*/15 * * * *       /srv/district-etl/run.sh luigi --module pipelines.dps ReceiveFromDps" in text
    assert text.count("/srv/district-etl/run.sh luigi --module") == len(schedule.slot)
    assert readme_section(README.read_text()) == markdown(schedule), \
        "README's schedule differs from schedule.toml: run `./run.sh cron --update-readme`"
    assert 'MAILTO=""' in text  # runs mail their own failures; cron mails nothing


def test_only_configured_flows_are_printed(tmp_path):
    """The repository's luigi.cfg has no [sftp_dps] and no [feeds]: a district without the DPS
    exchange or the Feeds ETL gets no DPS or feeds lines (they would fail every few minutes);
    with the sections they are printed."""
    env = {k: v for k, v in os.environ.items() if k not in ("LUIGI_CONFIG_PATH", "ETL_SECRETS_ENV")}
    env["ETL_VAR"] = str(tmp_path / "no-stack")
    printed = subprocess.run([str(ROOT / "run.sh"), "cron"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert printed.returncode == 0, printed.stderr
    assert "pipelines.slots SftpOperations\n" in printed.stdout and "pipelines.dps" not in printed.stdout
    assert "# ReceiveFromDps left out: luigi.cfg has no [sftp_dps]" in printed.stdout
    assert "pipelines.feeds" not in printed.stdout and "# WatchFeeds left out: luigi.cfg has no [feeds]" in printed.stdout
    overlay = tmp_path / "district.cfg"
    overlay.write_text("[sftp_dps]\nhost = dps.example\n[feeds]\nallowed_schemas = feeds\n[eis]\nurl = https://eis.example\n")
    env["LUIGI_CONFIG_PATH"] = str(overlay)
    printed = subprocess.run([str(ROOT / "run.sh"), "cron"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert printed.stdout == crontab(load_schedule(), str(ROOT / "run.sh"),
                                     notes=zone_warning("America/Chicago"))  # every line
    assert "left out" not in printed.stdout


@pytest.mark.parametrize("change, message", [
    (('cron = "0 5 * * *"', 'cron = "0 5 * *"'), r"schedule.toml: slot\[1\].cron: .*is not five cron fields"),
    (('module = "pipelines.slots"\ncron = "0 5', 'module = "pipelines.dps"\ncron = "0 5'),
     r"slot\[1\]: a slot that runs tasks is a wrapper in pipelines.slots"),
    (('task = "SftpOperationsLocal"', 'task = "SftpOperations"'), r"a task has two cron lines: SftpOperations"),
    (('"pipelines.clever.CleverPush"', '"CleverPush"'), r"slot\[1\].runs\[0\]"),
])
def test_mistakes_name_the_entry(tmp_path, change, message):
    old, new = change
    text = (ROOT / "schedule.toml").read_text()
    assert old in text
    path = tmp_path / "schedule.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError, match=message):
        load_schedule(path)


def test_a_districts_cron_lines_run_that_district():
    schedule = registry.schedule.load_schedule()
    lines = [line for line in crontab(schedule, "/srv/etl/run.sh", district="north").splitlines()
             if not line.startswith("#") and "run.sh luigi" in line]
    assert len(lines) == len(schedule.slot)
    assert all(" /srv/etl/run.sh luigi --district north --module " in line for line in lines)
    assert "--district" not in crontab(schedule, "/srv/etl/run.sh")


def test_the_crontab_sets_the_districts_zone_and_prints_the_plain_form_on_request(tmp_path):
    """CRON_TZ is the district's zone; --plain gives the card's form (this venv's luigi) on the
    same lines; --secrets-env (or ETL_SECRETS_ENV) names the secrets file; a machine in another
    zone is warned about (Debian's cron ignores CRON_TZ)."""
    schedule = load_schedule()
    text = crontab(schedule, "/srv/etl/run.sh", zone="America/Denver", luigi_bin="/srv/etl/.venv/bin/luigi")
    assert "CRON_TZ=America/Denver\n" in text and "run.sh luigi" not in text
    assert "0 5 * * *          /srv/etl/.venv/bin/luigi --module pipelines.slots SftpOperations\n" in text
    assert text.count("/srv/etl/.venv/bin/luigi --module") == len(schedule.slot)
    env = {k: v for k, v in os.environ.items() if k not in ("LUIGI_CONFIG_PATH", "ETL_SECRETS_ENV")}
    env.update(ETL_VAR=str(tmp_path / "no-stack"), TZ="UTC")
    printed = subprocess.run([str(ROOT / "run.sh"), "cron", "--plain", "--secrets-env", "/etc/etl/s.env"], cwd=ROOT,
                             env=env, capture_output=True, text=True)
    assert printed.returncode == 0, printed.stderr
    assert f"0 5 * * *          {ROOT}/.venv/bin/luigi --module pipelines.slots SftpOperations\n" in printed.stdout
    assert "ETL_SECRETS_ENV=/etc/etl/s.env\n" in printed.stdout and "CRON_TZ=America/Chicago\n" in printed.stdout
    assert "# WARNING: this machine's zone (UTC) is not America/Chicago" in printed.stdout
    env["TZ"] = "America/Chicago"
    same = subprocess.run([str(ROOT / "run.sh"), "cron"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert "WARNING" not in same.stdout and "run.sh luigi --module pipelines.slots SftpOperations" in same.stdout
