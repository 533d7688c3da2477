"""Vendor pushes over SFTP, declared in ``vendors.toml``: export each view for the date
(atomic local file, reused by a rerun) → validate each file against the vendor's rules (a
task per file, so several workers check a vendor's files at once) → shrink guard → atomic
upload → ledger row with rows, bytes and sha256.

A file that breaks a rule, is empty, or lost more than ``shrink_limit`` of its rows since the
last successful push stops the whole vendor: nothing is sent and the reasons are mailed
(``notify`` or ``[smtp] operators``). ``--force`` sends anyway and mails what it overrode.
``--dry-run`` reports per file the rows, the ids added and removed since the last push, and
every rule result, and sends nothing. A ``packaging = "oneroster"`` vendor's zip is a OneRoster
package, bulk or delta (pipelines/oneroster.py; ``--bulk`` sends the whole roster). The per-vendor entry points are ``pipelines/clever.py`` (CleverPush), ``savvas.py``,
``ellevation.py`` and ``otus.py``. Sections: ``[vendors] vendors_file``, ``[sftp_<server>]``,
``[bigquery]``, ``[postgres]``, ``[smtp]``, ``[etl]``.
Rerun: ``./run.sh luigi --module pipelines.clever CleverPush --date D``.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import shutil
import time
import zipfile
from pathlib import Path

import luigi

from formats.rules import Problem
from pipelines import oneroster
from pipelines.base import (DistrictTask, DistrictWrapperTask, Progress, Refusal, RunDateParameter, counted,
                            data_dir, file_group, local_target, today, vendors_file)
from pipelines.vendor_checks import change_note, check, check_file, export_dir, pushed_copy, vendor
from pipelines.views import DeployView, export_query
from pipelines.workers import sftp_sessions
from registry.vendors import Vendor
from targets import clock
from targets.bigquery import BigQueryClient
from targets.errors import BadInputError
from targets.local import atomic_path, file_digest, set_aside
from targets.ledger import Ledger, LedgerTarget
from targets.sftp import SftpClient
from targets.smtp import Mailer

logger = logging.getLogger(__name__)


class ExportVendorFile(DistrictTask):
    """One vendor file for the day, exported from its view in the vendor's dialect and header."""

    date = RunDateParameter()
    vendor = luigi.Parameter()
    file = luigi.Parameter()

    def requires(self):
        return DeployView(view=vendor(self.vendor).file(self.file).view)

    def output(self):
        return local_target(export_dir(self.date, self.vendor) / self.file)

    def run(self):
        v = vendor(self.vendor)
        spec = v.file(self.file)
        client = BigQueryClient.from_config()
        sql, header = export_query(client, spec.view, list(spec.header))
        if v.packaging == "oneroster":  # in sourcedId order: a delta merges it with the last push's
            sql += " ORDER BY `sourcedId`"
        client.export(sql, self.output().path, dialect=v.csv_dialect(), header=header,
                      progress=Progress(self, f"export {self.file}", unit="rows"), group=file_group())


def size_priority(vendor_name: str) -> int:
    """Luigi priority of a vendor's checks and uploads (and, through them, its exports): the
    more rows it took last time, the sooner its chain starts, so with ``--workers N`` the
    longest chain does not start last. 10 per power of ten of rows (a million: 60)."""
    known = _PRIORITIES.get(vendor_name)
    if known is not None and time.monotonic() - known[0] < 60:
        return known[1]  # asked for each of its tasks as they are scheduled: one query a minute
    try:
        rows = Ledger.of().last_day_rows(vendor(vendor_name).job)
    except Exception:  # a priority is a hint: the ledger being down is reported elsewhere
        return 0
    _PRIORITIES[vendor_name] = (time.monotonic(), 10 * len(str(rows)) if rows else 0)
    return _PRIORITIES[vendor_name][1]


_PRIORITIES: dict[str, tuple[float, int]] = {}


class CheckVendorFile(DistrictTask):
    """One of the day's files against its rules, with its rows and the ids added and removed
    since its last push: a task per file, so several workers check a vendor's files at once."""

    date = RunDateParameter()
    vendor = luigi.Parameter()
    file = luigi.Parameter()

    @property
    def priority(self):  # within the vendor, the biggest file (its last pushed copy) first: the longest check
        try:  # a tenth of a step per 26% more bytes: 9.0 at 1 GB
            size = pushed_copy(vendor(self.vendor), self.file).stat().st_size
        except OSError:
            size = 0
        return size_priority(self.vendor) + (min(9.99, round(math.log10(size), 1)) if size > 1 else 0)

    def requires(self):  # the file, and the files it refers to (their columns are read for the references)
        v = vendor(self.vendor)
        spec, ours = v.file_specs().get(self.file), {f.file for f in v.files}
        names = [self.file] + [o for _, o, _ in (spec.refs if spec else []) if o in ours]
        return [ExportVendorFile(date=self.date, vendor=self.vendor, file=n) for n in dict.fromkeys(names)]

    def output(self):
        return local_target(export_dir(self.date, self.vendor) / "_checked" / f"{self.file}.json")

    def run(self):
        peaks: list[int] = []
        result = check_file(vendor(self.vendor), self.date, self.file, peaks)
        for mb in peaks:  # the check's own process: its peak, logged as the task's (pipelines/peaks.py)
            logger.info("peak_rss_mb=%d task=%s cpu_s=0 (its own process)", mb, self.task_id)
        with self.output().open("w") as fh:
            json.dump({**result, "problems": [dataclasses.asdict(p) for p in result["problems"]]}, fh)


class CheckVendorFiles(DistrictTask):
    """The day's files passed the vendor's rules and the shrink guard (or were forced)."""

    date = RunDateParameter()
    vendor = luigi.Parameter()
    force = luigi.BoolParameter(default=False, significant=False)

    @property
    def priority(self):
        return size_priority(self.vendor)

    def requires(self):
        return [CheckVendorFile(date=self.date, vendor=self.vendor, file=f.file) for f in vendor(self.vendor).files]

    def output(self):
        return local_target(export_dir(self.date, self.vendor) / "_checked.json")

    def run(self):
        v = vendor(self.vendor)
        per_file = {}
        for f, target in zip(v.files, self.input()):
            result = json.loads(Path(target.path).read_text())
            per_file[f.file] = {**result, "problems": [Problem(**p) for p in result["problems"]]}
        report = check(v, self.date, per_file)
        reasons = [str(p) for p in report["problems"]] + report["shrink"]
        if reasons and not self.force:
            kept = _set_aside(v, self.date)
            _mail(v, f"REFUSED: {v.name} push for {self.date} was not sent",
                  f"Nothing was sent to {v.name} for {self.date}. Fix the cause and rerun (the files are "
                  f"exported again; the refused ones are kept in {kept}), or rerun with --force to send "
                  f"them anyway.\n\n" + "\n".join(reasons))
            raise BadInputError(str(export_dir(self.date, v.name)),
                                f"{v.name} push refused ({counted(len(reasons), 'problem')}, mailed): {reasons[0]}")
        if reasons:
            _mail(v, f"FORCED: {v.name} push for {self.date} sent despite problems",
                  "Sent with --force despite:\n\n" + "\n".join(reasons))
        with self.output().open("w") as fh:
            json.dump({"vendor": v.name, "date": self.date.isoformat(), "forced": bool(reasons),
                       "files": report["files"], "overridden": reasons}, fh, indent=2)


def _set_aside(v: Vendor, day: dt.date) -> Path:
    """Move a refused day's exports to ``refused/<time>/`` so the rerun exports afresh."""
    folder = export_dir(day, v.name)
    # each file's check (_checked/) is made again with the files
    return set_aside([folder / f.file for f in v.files] + [folder / "_checked"],
                     folder / "refused" / clock.now().strftime("%H%M%S"))


def _mail(v: Vendor, subject: str, body: str) -> None:
    Mailer.from_config().send(subject, body, to=list(v.notify) or None)


class UploadVendorItem(DistrictTask):
    """One file (or the zip) on the vendor's SFTP server; done = its ledger row for the day."""

    date = RunDateParameter()
    vendor = luigi.Parameter()
    item = luigi.Parameter()
    force = luigi.BoolParameter(default=False, significant=False)
    resend = luigi.BoolParameter(default=False, significant=False)
    bulk = luigi.BoolParameter(default=False, significant=False)  # a OneRoster delta vendor: the whole roster

    def requires(self):
        return CheckVendorFiles(date=self.date, vendor=self.vendor, force=self.force)

    @property
    def resources(self):
        return sftp_sessions(vendor(self.vendor).server)

    @property
    def priority(self):
        return size_priority(self.vendor)

    def output(self):
        v = vendor(self.vendor)
        return LedgerTarget(Ledger.of(), v.job, self.item, self.date)

    def run(self):
        v = vendor(self.vendor)
        folder = export_dir(self.date, v.name)
        checked = json.loads((folder / "_checked.json").read_text())["files"]
        per_file = {f: s["rows"] for f, s in checked.items()}
        package = None
        if v.packaging == "oneroster":
            package = oneroster.build(v, self.date, folder, bulk=self.bulk)
            rows, source = package.rows, json.dumps(per_file)  # the roster's rows: what the shrink guard compares
            if package.path is None:  # a delta with nothing in it: nothing to send
                self.output().mark_done(direction="out", source=source, rows=0, note=package.note)
                oneroster.forget_older_snapshots(v, self.date)
                return
            local = package.path
        elif v.packaging == "zip":
            local = zip_files(v, folder, folder / self.item)
            rows, source = sum(per_file.values()), json.dumps(per_file)
        else:
            local, rows, source = folder / self.item, per_file[self.item], str(folder / self.item)
        client = SftpClient.from_config(v.server)
        name = remote_name(v, self.item)
        started = clock.now()
        size = client.upload_atomic(local, name, progress=Progress(self, f"upload {self.item}"))
        _, sha = file_digest(local)
        for f in v.files if v.zipped else [v.file(self.item)]:
            _keep_pushed_copy(v, folder / f.file)
        if package is not None:
            _keep_pushed_copy(v, local)  # what a resend sends again, as it was
        changes = change_note(checked if v.zipped else {self.item: checked[self.item]})
        resent = f"resend: the data of {today()} sent for {self.date}" if self.date != today() else None
        note = "; ".join(n for n in (resent, package.note if package else None, changes) if n) or None
        self.output().mark_done(direction="out", source=source, rows=rows, bytes=size, sha256=sha,
                                destination=f"sftp://{v.server}{client.path(name)}", started_at=started, note=note)
        if package is not None:
            oneroster.forget_older_snapshots(v, self.date)


class ResendVendorPush(DistrictTask):
    """``./run.sh resend VENDOR``: the files last pushed to the vendor (our copies in
    ``<data_dir>/pushed/<vendor>/``), sent again as they were, each recorded under
    ``<job>_resend`` with ``item@at`` (``at``: when the operator asked; run.sh passes the
    time), so a rerun of the same resend finishes only what is missing."""

    vendor = luigi.Parameter()
    at = luigi.Parameter(description="when the resend was asked for (HHMMSS); one resend per value")
    date = RunDateParameter()

    @property
    def resources(self):
        return sftp_sessions(vendor(self.vendor).server)

    def output(self):
        v = vendor(self.vendor)
        client = Ledger.of()
        return [LedgerTarget(client, f"{v.job}_resend", f"{item}@{self.at}", self.date) for item in v.items()]

    def run(self):
        v = vendor(self.vendor)
        missing = [f.file for f in v.files if not pushed_copy(v, f.file).exists()]
        if missing:
            raise BadInputError(str(pushed_copy(v, missing[0]).parent), f"nothing to resend: {v.name} has no pushed "
                                f"copy of {', '.join(missing)} (no push has succeeded yet)")
        client = SftpClient.from_config(v.server)
        for item, target in zip(v.items(), self.output()):
            if target.exists():
                continue
            if v.packaging == "oneroster":
                local = pushed_copy(v, item)  # the package last sent, as it was (a delta stays that delta)
            elif v.packaging == "zip":
                local = zip_files(v, pushed_copy(v, v.files[0].file).parent, data_dir() / "resend" / v.name / item)
            else:
                local = pushed_copy(v, item)
            name = remote_name(v, item)
            started = clock.now()
            size = client.upload_atomic(local, name, progress=Progress(self, f"resend {item}"))
            _, sha = file_digest(local)
            last = Ledger.of().last_success(v.job, item)
            target.mark_done(direction="out", source=str(local), bytes=size, sha256=sha, started_at=started,
                             destination=f"sftp://{v.server}{client.path(name)}",
                             note=f"resend of the files last pushed ({last['run_date'] if last else 'date unknown'})")
            logger.info("resent %s to %s (%d bytes)", item, v.name, size)


def zip_files(v: Vendor, folder: Path, dest: Path) -> Path:
    """The vendor's files in ``folder`` zipped into ``dest`` (atomically; no folders inside)."""
    with atomic_path(dest, group=file_group()) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for f in v.files:
                zf.write(folder / f.file, arcname=f.file)
    return dest


def remote_name(v: Vendor, item: str) -> str:
    """Where an item goes on the vendor's server."""
    return f"{v.remote_dir.rstrip('/')}/{item}" if v.remote_dir else item


def _keep_pushed_copy(v: Vendor, path: Path) -> None:
    with atomic_path(pushed_copy(v, path.name), group=file_group()) as tmp:
        shutil.copyfile(path, tmp)  # streamed: the file may be hundreds of MB


class DryRunVendorPush(DistrictTask):
    """What a push would send today, and what it would refuse; sends nothing.

    A dry run is a report, not a state: it runs each time it is asked (its exports are real
    and a later push reuses them)."""

    date = RunDateParameter()
    vendor = luigi.Parameter()

    def requires(self):
        return [ExportVendorFile(date=self.date, vendor=self.vendor, file=f.file) for f in vendor(self.vendor).files]

    def complete(self):
        return getattr(self, "_reported", False)

    def run(self):
        v = vendor(self.vendor)
        report = dry_run_report(v, self.date)
        report["sent"] = [i for i in v.items()
                          if UploadVendorItem(date=self.date, vendor=v.name, item=i).output().exists()]
        report["due"] = v.runs_on(self.date)
        text = format_dry_run(v, self.date, report)
        print(text, flush=True)
        with local_target(export_dir(self.date, v.name) / "_dryrun.json").open("w") as fh:
            json.dump(report, fh, indent=2, default=str)
        self._reported = True


def dry_run_report(v: Vendor, day: dt.date) -> dict:
    result = check(v, day)
    result["problems"] = [str(p) for p in result["problems"]]
    result["would_send"] = not result["problems"] and not result["shrink"]
    return result


def format_dry_run(v: Vendor, day: dt.date, report: dict) -> str:
    items = v.items()
    if not report.get("due", True):
        verdict = f"not due on a {day:%A} ({v.cadence}): a push would send nothing"
    elif len(report.get("sent", [])) == len(items):
        verdict = f"already sent ({counted(len(items), 'file')}): a push would send nothing again"
    else:
        verdict = "would send" if report["would_send"] else "would REFUSE"
        if report.get("sent"):
            verdict += f" (already sent: {', '.join(report['sent'])})"
    lines = [f"DRY RUN {v.name} for {day}: {verdict} (nothing was sent)"]
    for name, info in report["files"].items():
        change = ""
        if "added" in info:
            since = "since the last push" if info["last_pushed"] else "(no earlier push)"
            change = f", {info['id_column']}: +{info['added']} -{info['removed']} {since}"
            if info["removed_examples"]:
                change += f" (removed e.g. {', '.join(info['removed_examples'])})"
        lines.append(f"  {name}: {info['rows']} rows{change}")
    lines += [f"  RULE: {p}" for p in report["problems"]] + [f"  SHRINK: {s}" for s in report["shrink"]]
    if not report["problems"] and not report["shrink"]:
        lines.append("  all rules pass")
    return "\n".join(lines)


class VendorPush(DistrictWrapperTask):
    """Every file of one vendor sent for the day (nothing on days off its cadence).

    The views hold today's data: a push for another date is refused, unless that day was sent
    already (a no-op) or ``--resend`` asks to send today's data recorded for that date (the
    ledger rows say so)."""

    date = RunDateParameter()
    vendor = luigi.Parameter()
    force = luigi.BoolParameter(default=False, significant=False)
    dry_run = luigi.BoolParameter(default=False, significant=False)
    resend = luigi.BoolParameter(default=False, significant=False)
    bulk = luigi.BoolParameter(default=False, significant=False,
                               description="a OneRoster delta vendor: send the whole roster, not what changed")

    def __repr__(self):
        # a dry run's summary line says it was one ("CleverPush(...) ran successfully" read as a push)
        text = super().__repr__()
        return f"{text[:-1]}, dry_run=True)" if self.dry_run else text

    def requires(self):
        v = vendor(self.vendor)
        if self.dry_run:
            return DryRunVendorPush(date=self.date, vendor=v.name)
        if not v.runs_on(self.date):
            logger.info("%s is sent %s; nothing to do on %s", v.name, v.cadence, self.date)
            return []
        uploads = [UploadVendorItem(date=self.date, vendor=v.name, item=i, force=self.force, resend=self.resend,
                                    bulk=self.bulk) for i in v.items()]
        if self.date != today() and not self.resend and not all(u.complete() for u in uploads):
            return PastDatePushRefused(date=self.date, vendor=v.name)
        return uploads


class PastDatePushRefused(Refusal):
    """Fails: a push for a date that is not today would send today's data under that date."""

    date = RunDateParameter()
    vendor = luigi.Parameter()

    def message(self) -> str:
        return (
            f"{self.vendor} push for {self.date}: the views hold today's data ({today()}), not that day's; "
            f"nothing was sent. To send today's data recorded as a resend for {self.date}: ./run.sh luigi "
            f"--module pipelines.vendors VendorPush --vendor {self.vendor} --date {self.date} --resend")
