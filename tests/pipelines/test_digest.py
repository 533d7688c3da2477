"""The daily digest over real days on the embedded stack: Monday's slot pushes every vendor; on
Tuesday Clever's students changed (one id added, one gone), SAVVAS's server is down and the
slots before 08:30 that never ran are missed. The 08:30 digest mails (real SMTP) text and HTML
with a PNG chart per vendor job: per vendor its files, rows and ids added/removed, the failure
with the command that reruns it, the missed runs. A second run mails nothing; a digest with
the mail server down is a failed ledger row, and its rerun mails once; a past --date gives
that day's digest."""
import base64
import datetime as dt
import email
import email.policy
import time

import luigi
import luigi.configuration

from formats.png import read_png
from ops.verbs import clear
from pipelines.digest import DailyDigest
from pipelines.failures import RunReport, command_line, end_run_row, run_row
from pipelines.slots import SftpOperations
from pipelines.vendors import export_dir, pushed_copy, vendor
from registry.schedule import clock_times, cron_fields, load_schedule
from stack import free_port
from targets import clock
from tests.ledger import ledger_rows

MON, TUE = dt.date(2026, 11, 23), dt.date(2026, 11, 24)
CST = dt.timezone(dt.timedelta(hours=-6))


def _at(day, h, m):
    clock.set_now(dt.datetime.combine(day, dt.time(h, m), CST))


def _run(argv, task):
    """What python -m pipelines does around a run: its run row, its failures recorded and mailed."""
    with RunReport(command_line(argv)):
        run = run_row(task, argv)
        ok = luigi.build([task], local_scheduler=True)
        end_run_row(run, 0 if ok else 30)
    return ok


def _digests(stack_var, since):
    out = []
    for f in sorted((stack_var / "mail").glob("*.eml")):
        if f.stat().st_mtime >= since:
            msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
            if "district-etl" in msg["Subject"]:
                out.append(msg)
    return out


def test_the_digest_slot_follows_every_other_morning_slot():
    slots = load_schedule().slot
    (digest,) = [s for s in slots if s.task == "DailyDigest"]
    at = clock_times(digest.cron)
    assert at == [dt.time(8, 30)] and cron_fields(digest.cron)[2:] == (None, None, None)  # every day
    morning = [t for s in slots if s is not digest and len(clock_times(s.cron)) <= 2
               for t in clock_times(s.cron) if t < dt.time(12)]
    assert morning and max(morning) < at[0]


def test_a_tuesday_digest_with_a_change_a_failure_and_missed_runs(vendors, pg_settings, stack_var, tmp_path):
    parser = luigi.configuration.get_config()
    t0 = time.time()
    _at(MON, 5, 0)
    argv = ["--module", "pipelines.slots", "SftpOperations"]
    assert _run(argv, SftpOperations(date=MON))  # Monday: all four vendors, OTUS too

    # the students Clever has from Monday, changed: one of today's is missing (added on
    # Tuesday) and one who has left is there (removed on Tuesday)
    copy = pushed_copy(vendor("clever"), "students.csv")
    lines = copy.read_text().splitlines(keepends=True)
    added = lines[-1].split(",")[1]
    copy.write_text("".join(lines[:-1]) + "101,S-GONE,S-GONE,,X,Y,Z,5,F,01/01/2015,,N,\n")
    port = parser.get("sftp_savvas", "port")
    parser.set("sftp_savvas", "port", str(free_port()))  # SAVVAS's server is down on Tuesday
    parser.set("sftp_savvas", "backoff", "0.05")
    _at(TUE, 5, 0)
    assert not _run(argv, SftpOperations(date=TUE))

    _at(TUE, 8, 30)
    assert luigi.build([DailyDigest(date=TUE)], local_scheduler=True)
    (mail,) = _digests(stack_var, t0)
    # missed: the warehouse load, the 06:50/06:55/07:05 slots, EIS's three, and DPS's and the
    # feeds' frequent ones (a slot counted once however often it was due); sent: Clever's 6
    # files and Ellevation's 3 (SAVVAS failed, OTUS is weekly)
    assert mail["Subject"] == "ATTENTION: district-etl 2026-11-24: 1 failing, 9 slots missed runs, 9 vendor files sent"
    body = mail.get_body(("plain",)).get_content()
    assert "  clever       sent: 6 files" in body
    assert "ids: students.csv Student_id +1 -1 since the last push" in body
    assert "  savvas       FAILED" in body and "  otus         not due today" in body
    assert "  push_savvas DISTRICT.zip (2026-11-24" in body
    assert "rerun: ./run.sh luigi --module pipelines.slots SftpOperations --date 2026-11-24" in body
    assert "MISSED 1: 03:00" in body  # the warehouse load never ran today
    assert "./run.sh luigi --module pipelines.warehouse BigQueryOperations runs it now" in body
    students = (export_dir(TUE, "clever") / "students.csv").read_text().splitlines()[1:]
    names = {line.split(",")[4] for line in students} | {line.split(",")[6] for line in students}
    raw = b"".join(p.get_payload(decode=True) or b"" for p in mail.walk() if not p.is_multipart()).decode(
        "utf-8", "replace")
    assert added not in raw and not any(n and n in raw for n in names)  # counts, never the students

    page = mail.get_body(("html",))
    doc = page.get_content()
    assert "<h2>Rows sent per vendor, 2026-10-26 to 2026-11-24</h2>" in doc and "cid:chart-" in doc
    images = {p["Content-ID"].strip("<>"): p.get_content() for p in mail.walk() if p.get_content_type() == "image/png"}
    clever_cid = doc.split("<tr><th>push_clever</th><td><img src='cid:")[1].split("'")[0]
    assert set(images) == {f"chart-{n}" for n in range(len(images))} and len(images) >= 4
    width, height, pixels = read_png(images[clever_cid])
    assert (width, height) == (298, 61)
    bars = [sum(1 for row in pixels[:-1] if row[i * 10] == 1) for i in range(30)]
    assert bars[-2] > 0 and bars[-1] > 0 and bars[:-2] == [0] * 28  # Monday and Tuesday sent, nothing before

    assert luigi.build([DailyDigest(date=TUE)], local_scheduler=True)  # once a day
    assert len(_digests(stack_var, t0)) == 1
    assert ledger_rows(pg_settings, "item, status, note", job="digest") == [("mail", "succeeded", mail["Subject"])]
    assert clear("digest", TUE, None) == 0  # the operator wants it again
    assert luigi.build([DailyDigest(date=TUE)], local_scheduler=True)
    assert len(_digests(stack_var, t0)) == 2
    assert luigi.build([DailyDigest(date=TUE)], local_scheduler=True)
    assert len(_digests(stack_var, t0)) == 2

    # Monday's digest, asked for on Tuesday: Monday's pushes, OTUS among them
    smtp_port = parser.get("smtp", "port")
    parser.set("smtp", "port", str(free_port()))  # the mail server is down at first
    t1 = time.time()
    assert not _run(["--module", "pipelines.digest", "DailyDigest", "--date", "2026-11-23"], DailyDigest(date=MON))
    assert ledger_rows(pg_settings, "item, status, run_date", job="digest")[-1] == ("mail", "failed", MON)
    assert _digests(stack_var, t1) == []
    parser.set("smtp", "port", smtp_port)
    parser.set("sftp_savvas", "port", port)
    assert luigi.build([DailyDigest(date=MON)], local_scheduler=True)
    (monday,) = _digests(stack_var, t1)
    assert monday["Subject"].startswith("ATTENTION: district-etl 2026-11-23: ") and "failing" not in monday["Subject"]
    text = monday.get_body(("plain",)).get_content()
    assert "  otus         sent: 1 file" in text and "(first push)" in text
