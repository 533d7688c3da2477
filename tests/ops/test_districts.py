"""Several districts served by one installation (issue 14, part 4): two districts, each with its
own overlay (data folder, BigQuery project, vendor SFTP folders, district row), load their
PowerSchool files and run the 05:00 vendor slot the same night, at the same time, against one
luigid and one ledger, and again the next night. Neither sees the other's files, ledger rows
or tasks."""
from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
import zipfile

import pytest

import stack
from pipelines.base import ROOT
from registry.vendors import load_vendors
from stack import StackState, free_port
from stack.district import generate, generate_merge_inputs
from tests.ledger import ledger_rows
from tests.luigid import child_config, start_luigid

DAY = dt.date(2026, 11, 24)  # a Tuesday: Clever, SAVVAS, Ellevation (OTUS goes on Mondays)
ITEMS = {"push_clever": 6, "push_savvas": 1, "push_ellevation": 3}
STUDENTS = {"north": 40, "south": 55}
SEEDS = {"north": 7, "south": 11}
# each push's folder on the stack's SFTP server, as vendors.toml and the stack name them
REMOTES = [(name, v.server, v.remote_dir or stack.sftp_remote_dir(v.server))
           for name, v in load_vendors(ROOT / "vendors.toml").vendors.items()]


def _district(name: str, tmp_path, stack_var, tag: str) -> dict:
    """District ``name``: its PowerSchool files, vendors.toml (SFTP folders of its own) and overlay."""
    home = tmp_path / name
    data = home / "data"
    generate(data / "powerschool_combined", students=STUDENTS[name], seed=SEEDS[name], today=DAY,
             idm_file=data / "powerschool_combined" / "clever_idm_students.csv")
    generate_merge_inputs(data, seed=SEEDS[name])
    text = (ROOT / "vendors.toml").read_text()
    remotes = {}
    for vendor, server, base in REMOTES:
        remotes[vendor] = stack_var / "sftp" / "root" / server / base.strip("/") / f"{tag}-{name}"
        remotes[vendor].mkdir(parents=True)
        text = text.replace(f"[{vendor}]\n", f'[{vendor}]\nremote_dir = "{base}/{tag}-{name}"\n', 1)
    (home / "vendors.toml").write_text(text)
    overlay = tmp_path / "districts" / f"{name}.cfg"
    overlay.parent.mkdir(exist_ok=True)
    overlay.write_text(f"[etl]\ndata_dir = {data}\n\n[bigquery]\nproject = {name}-{tag}\n\n"
                       f"[gcs]\nbucket = {name}-{tag}-raw\n\n[vendors]\nvendors_file = {home / 'vendors.toml'}\n\n"
                       f"[district]\ncode = {name.upper()}1\nname = {name.title()} ISD\n")
    return {"data": data, "remotes": remotes}


def _run(name: str, cfg: str, tmp_path, *args: str, log: str, day: dt.date = DAY) -> subprocess.Popen:
    env = dict(os.environ, LUIGI_CONFIG_PATH=cfg, PYTHONPATH=str(stack.ROOT), ETL_CLOCK=f"{day}T05:00:00-06:00",
               ETL_DISTRICTS_DIR=str(tmp_path / "districts"))
    env.pop("ETL_DISTRICT", None)
    return subprocess.Popen([sys.executable, "-m", "pipelines", "--district", name, *args, "--date", str(day)],
                            cwd=stack.ROOT, env=env, stdout=open(tmp_path / log, "wb"), stderr=subprocess.STDOUT)


def _done_tasks(url: str) -> list[dict]:
    query = urllib.parse.urlencode({"data": json.dumps({"status": "DONE", "upstream_status": "", "search": ""})})
    with urllib.request.urlopen(f"{url}/api/task_list?{query}", timeout=10) as answer:
        return list(json.load(answer)["response"].values())


def test_two_districts_the_same_night_never_see_each_other(google_stack, stack_config, stack_var, pg_settings,
                                                           tmp_path):
    from stack import google_stack
    tag = uuid.uuid4().hex[:6]
    districts = {name: _district(name, tmp_path, stack_var, tag) for name in STUDENTS}
    for name in STUDENTS:  # each district its own project, made by its administrator for the ETL account
        google_stack.provision(StackState.load(stack_var), f"{name}-{tag}", bucket=f"{name}-{tag}-raw")
    cfg = child_config(tmp_path, worker_disconnect_delay=3, retry_delay=1)
    port = free_port()
    luigid = start_luigid(tmp_path, cfg, port)
    url = f"http://127.0.0.1:{port}"
    try:
        # each district loads its PowerSchool files into its own BigQuery project (local scheduler)...
        loads = [_run(n, cfg, tmp_path, "--module", "pipelines.warehouse", "BigQueryOperations",
                      "--local-scheduler", log=f"load-{n}.log") for n in STUDENTS]
        assert [p.wait(timeout=300) for p in loads] == [0, 0], (tmp_path / "load-north.log").read_text()[-3000:]
        # ...then both run the 05:00 vendor slot at once, through the one luigid
        slots = [_run(n, cfg, tmp_path, "--module", "pipelines.slots", "SftpOperations", "--scheduler-url", url,
                      log=f"slot-{n}.log") for n in STUDENTS]
        assert [p.wait(timeout=300) for p in slots] == [0, 0], (tmp_path / "slot-north.log").read_text()[-3000:]

        # files: each district's own students in its own SFTP folders and data folder
        sent_students = {}
        for name, d in districts.items():
            with open(d["remotes"]["clever"] / "students.csv", newline="") as fh:
                sent_students[name] = sum(1 for _ in csv.reader(fh)) - 1  # enrolled students of its own
            assert STUDENTS[name] * 0.8 <= sent_students[name] <= STUDENTS[name], (name, sent_students)
            with zipfile.ZipFile(d["remotes"]["savvas"] / "DISTRICT.zip") as z:
                code_district = z.read("CODE_DISTRICT.txt").decode()
            assert f"{name.title()} ISD" in code_district, code_district
            exported = {p.name for p in (d["data"] / "exports" / str(DAY)).rglob("*") if p.is_file()}
            assert "students.csv" in exported
        assert not (tmp_path / "data" / "exports").exists()  # the shared config's own folder: unused
        for vendor in ("clever", "savvas", "ellevation"):
            north, south = (sorted(p.name for p in districts[n]["remotes"][vendor].iterdir()) for n in STUDENTS)
            assert north == south and north, vendor  # the same file names, each in its own folder

        # ledger: one success per district for each file, both on the same date, each row its district's
        rows = ledger_rows(pg_settings, "district, job_name, item, status, destination, rows")
        for job, n in ITEMS.items():
            for name in STUDENTS:
                sent = [r for r in rows if r[0] == name and r[1] == job and r[3] == "succeeded"]
                assert len(sent) == n, (name, job, sent)
                assert all(f"{tag}-{name}" in r[4] for r in sent)  # to its own folder
        for name in STUDENTS:
            students = [r for r in rows if r[0] == name and r[1] == "push_clever" and r[2].startswith("students.csv")]
            assert [r[5] for r in students] == [sent_students[name]], students
        assert not [r for r in rows if r[0] not in STUDENTS], "every row belongs to one of the districts"
        assert not [r for r in rows if r[3] == "failed"]

        # luigid: the same task of the two districts is two tasks (district is in every task id)
        done = _done_tasks(url)
        exports = [t for t in done if t["name"] == "ExportVendorFile" and t["params"].get("file") == "students.csv"]
        assert sorted(t["params"]["district"] for t in exports if t["params"]["vendor"] == "clever") == \
            ["north", "south"]
        assert all(t["params"].get("district") in STUDENTS for t in done)

        # status: each district's operator sees that district's night, with commands for it
        env = dict(os.environ, ETL_VAR=str(stack_var), LUIGI_CONFIG_PATH=cfg, ETL_CLOCK=f"{DAY}T06:00:00-06:00",
                   ETL_DISTRICTS_DIR=str(tmp_path / "districts"))
        env.pop("ETL_SECRETS_ENV", None)
        for name in STUDENTS:
            other = "south" if name == "north" else "north"
            status = subprocess.run([str(ROOT / "run.sh"), "status", "--district", name, "--date", str(DAY)],
                                    cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
            assert status.returncode == 0, status.stderr
            assert f"Status for district {name}, {DAY}" in status.stdout
            assert f"{tag}-{name}" in status.stdout and f"{tag}-{other}" not in status.stdout

        # the next night: each district's shrink guard and id changes compare with its own last
        # push (south's 55 students against north's 40 would be refused as a loss of 27%)
        nxt = DAY + dt.timedelta(days=1)
        slots = [_run(n, cfg, tmp_path, "--module", "pipelines.slots", "SftpOperations", "--scheduler-url", url,
                      log=f"next-{n}.log", day=nxt) for n in STUDENTS]
        assert [p.wait(timeout=300) for p in slots] == [0, 0], (tmp_path / "next-north.log").read_text()[-3000:]
        rows = ledger_rows(pg_settings, "district, job_name, item, status, rows, note, run_date")
        for name in STUDENTS:
            students = [r for r in rows if r[0] == name and r[1] == "push_clever" and r[2] == "students.csv"
                        and r[6] == nxt]
            assert [(r[3], r[4]) for r in students] == [("succeeded", sent_students[name])], students
            assert "+0 -0 since the last push" in students[0][5], students[0][5]
        assert not [r for r in rows if r[3] == "failed"]
    finally:
        luigid.terminate()
        luigid.wait(timeout=30)


def test_a_task_for_another_district_is_refused(stack_config, tmp_path, monkeypatch):
    from pipelines.vendors import VendorPush
    from targets.errors import ConfigError
    with pytest.raises(ConfigError, match="district 'north' in a process serving 'no district'"):
        VendorPush(vendor="clever", district="north")
    assert VendorPush(vendor="clever").district == ""
