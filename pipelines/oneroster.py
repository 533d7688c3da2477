"""A OneRoster vendor's package for the day (``packaging = "oneroster"`` in vendors.toml,
docs/oneroster.md): the day's files, exported from the OneRoster views in sourcedId order and
checked as a bulk package, zipped with their manifest.

Delta mode (1.2, ``oneroster.delta``): the day's files are compared with the snapshot of the
last successful push, found in the ledger; what is new or changed is sent ``active``, what is
gone ``tobedeleted`` (its last values), both with ``dateLastModified`` now. Each push keeps its
snapshot (``<data_dir>/pushed/<vendor>/snapshots/<date>/``); a failed or refused push has no
success row, so the baseline never moves past it. A first push, a baseline whose snapshot is
gone, or ``--bulk`` sends the whole roster. A delta with nothing in it is not sent. The zip is
checked by the OneRoster validator before it leaves (a delta whole; a bulk's manifest against
its files, which were checked on export).
"""
from __future__ import annotations

import csv
import datetime as dt
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from formats import oneroster as binding
from formats.oneroster_package import MANIFEST, check_manifest, check_package, read_manifest
from pipelines.base import data_dir, file_group
from registry.vendors import Vendor
from targets import clock
from targets.errors import BadInputError
from targets.ledger import Ledger
from targets.local import atomic_path


@dataclass
class Package:
    path: Path | None  # the zip, or None: a delta with nothing in it
    modes: dict[str, str]  # each file sent: bulk | delta
    rows: int  # rows sent
    note: str
    counts: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # delta: file → (new, changed, gone)


def snapshot_dir(v: Vendor, day: dt.date) -> Path:
    return data_dir() / "pushed" / v.name / "snapshots" / day.isoformat()


def baseline(v: Vendor, day: dt.date) -> tuple[dt.date | None, str]:
    """The date of the last successful push before ``day`` whose snapshot is kept, and why
    there is none when there is none."""
    last = Ledger.of().last_success(v.job, v.zip_name, before=day)
    if last is None:
        return None, "no earlier push"
    folder = snapshot_dir(v, last["run_date"])
    if not all((folder / f.file).exists() for f in v.files):
        return None, f"the snapshot of the push of {last['run_date']} is gone"
    return last["run_date"], ""


def build(v: Vendor, day: dt.date, folder: Path, bulk: bool = False) -> Package:
    """The day's package from the checked files in ``folder``, zipped as ``folder/zip_name``
    (atomically), with the day's snapshot kept for the next delta."""
    package = v.oneroster
    assert package is not None
    if package.delta:  # before the upload: the push that succeeds has its snapshot
        snapshot = snapshot_dir(v, day)
        snapshot.mkdir(parents=True, exist_ok=True)
        for f in v.files:
            with atomic_path(snapshot / f.file, group=file_group()) as tmp:
                shutil.copyfile(folder / f.file, tmp)
    since, why = baseline(v, day) if package.delta and not bulk else (None, "")
    out = folder / "_package"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    if since is None:
        modes = {name: "bulk" for name in package.files}
        counts: dict[str, tuple[int, int, int]] = {}
        for f in v.files:
            shutil.copyfile(folder / f.file, out / f.file)
        rows = sum(_rows(out / f.file) for f in v.files)
        reason = "forced" if bulk else why if package.delta else ""
        note = "bulk" + (f" ({reason})" if reason else "")
    else:
        stamp = clock.now().astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        modes, counts, rows = {}, {}, 0
        for name, f in zip(package.files, v.files):
            n = write_delta(snapshot_dir(v, since) / f.file, folder / f.file, out / f.file, stamp)
            if sum(n):
                modes[name], counts[name] = "delta", n
                rows += sum(n)
            else:
                (out / f.file).unlink()
        note = f"delta since the push of {since}: " + (", ".join(
            f"{name} +{n[0]} ~{n[1]} -{n[2]}" for name, n in counts.items()) or "nothing changed")
        if not modes:
            return Package(None, {}, 0, note + "; nothing sent")
    _write_manifest(out / MANIFEST, package.declared(modes), package.system_name, package.system_code)
    _check(out, package.delta and since is not None)
    dest = folder / v.zip_name
    with atomic_path(dest, group=file_group()) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for p in [out / MANIFEST] + [out / f.file for f in v.files if (out / f.file).exists()]:
                zf.write(p, arcname=p.name)
    return Package(dest, modes, rows, note, counts)


def forget_older_snapshots(v: Vendor, day: dt.date) -> None:
    """After a push of ``day`` succeeded, the snapshots before it are no baseline any more."""
    root = snapshot_dir(v, day).parent
    for folder in root.iterdir() if root.is_dir() else ():
        if folder.name < day.isoformat():
            shutil.rmtree(folder, ignore_errors=True)


def write_delta(before: Path, now: Path, out: Path, stamp: str) -> tuple[int, int, int]:
    """The rows of ``now`` that are new or changed since ``before`` (active), and those of
    ``before`` that are gone (tobedeleted, with their last values), each stamped ``stamp``:
    both files in sourcedId order, merged in one pass (memory: a row of each). Returns the
    counts (new, changed, gone)."""
    new = changed = gone = 0
    with open(out, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        old_rows, now_rows = _sorted_rows(before), _sorted_rows(now)
        header = next(now_rows)
        if next(old_rows) != header:
            raise BadInputError(str(before), f"its header is not today's ({now.name}): a delta needs the same "
                                             "columns; push with --bulk")
        w.writerow(header)
        status, modified = header.index("status"), header.index("dateLastModified")

        def put(row: list[str], state: str) -> None:
            row = list(row)
            row[status], row[modified] = state, stamp
            w.writerow(row)
        a, b = next(old_rows, None), next(now_rows, None)
        while a is not None or b is not None:
            if b is None or (a is not None and a[0] < b[0]):
                put(a, "tobedeleted")
                gone += 1
                a = next(old_rows, None)
            elif a is None or b[0] < a[0]:
                put(b, "active")
                new += 1
                b = next(now_rows, None)
            else:
                if a != b:
                    put(b, "active")
                    changed += 1
                a, b = next(old_rows, None), next(now_rows, None)
    return new, changed, gone


def _sorted_rows(path: Path) -> Iterator[list[str]]:
    """The header, then the rows, each sourcedId after the one before (the export sorts them)."""
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        yield next(reader)
        last = None
        for n, row in enumerate(reader, start=2):
            if last is not None and row[0] <= last:
                raise BadInputError(str(path), f"row {n}: sourcedId {row[0]} is not after {last}: the export is not "
                                               "in sourcedId order, so no delta can be made from it; push with --bulk")
            last = row[0]
            yield row


def _rows(path: Path) -> int:
    with open(path, "rb") as fh:
        return max(0, sum(1 for _ in fh) - 1)


def _write_manifest(path: Path, declared: binding.Declared, name: str | None, code: str | None) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(binding.MANIFEST_HEADER)
        w.writerow(["manifest.version", binding.MANIFEST_VERSION])
        w.writerow(["oneroster.version", declared.version])
        w.writerows([f"file.{f}", m] for f, m in declared.modes.items())
        w.writerows([p, v] for p, v in zip(binding.SOURCE_PROPERTIES, (name, code)) if v)


def _check(folder: Path, whole: bool) -> None:
    """The package before it leaves: a delta checked whole by the OneRoster validator; a bulk's
    manifest against its files (the files themselves were checked on export)."""
    if whole:
        problems = check_package(folder).problems
    else:
        props, problems = read_manifest((folder / MANIFEST).read_text(encoding="utf-8"))
        present = {p.stem for p in folder.glob("*.csv") if p.name != MANIFEST}
        problems += check_manifest(props, present)[1]
    if problems:
        raise BadInputError(str(folder), f"the OneRoster package breaks the binding ({len(problems)} problems, "
                                         f"e.g. {problems[0]}): nothing was sent")
