"""A vendor's day of files, checked: each file against its rules (``check_file``: its
references against the columns of the files it refers to), then the vendor's whole push
(``check``: the shrink guard against the ledger's last success). The tasks that run them are
in pipelines/vendors.py; ``./run.sh luigi ... --dry-run`` reports what ``check`` finds.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from formats.idset import IdHashes, changes, smallest
from formats import rules
from formats.rules import Problem, iter_rows, validate_file
from pipelines.base import data_dir, vendors_file
from registry.vendors import Vendor
from targets.ledger import Ledger


def vendor(name: str) -> Vendor:
    return vendors_file().vendor(name)


def export_dir(day: dt.date, vendor_name: str) -> Path:
    return data_dir() / "exports" / day.isoformat() / vendor_name


def pushed_copy(v: Vendor, file: str) -> Path:
    """The last file we sent the vendor under this name (what a dry run compares with)."""
    return data_dir() / "pushed" / v.name / file


# A file at least this big is checked in a fresh process of its own: its check's memory
# (the referenced columns, the ids' hashes) is never added to what the worker's earlier tasks
# left behind, and is all returned when it ends.
OWN_PROCESS_BYTES = 16 << 20


def check_file(v: Vendor, day: dt.date, name: str, peaks: list | None = None) -> dict:
    """One file's problems (its references checked against the files it refers to) and its
    summary: rows and, for a file with an id column, the ids added and removed. A big file is
    checked in a process of its own; ``peaks`` (when given) gets that process's peak (MB)."""
    folder = export_dir(day, v.name)
    files, specs = {f.file: folder / f.file for f in v.files}, v.file_specs()
    args = (name, files, specs, pushed_copy(v, name))
    path = files[name]
    if path.exists() and path.stat().st_size >= OWN_PROCESS_BYTES:
        import multiprocessing
        with multiprocessing.get_context("spawn").Pool(1) as pool:  # a fresh interpreter: no inherited memory
            result, peak = pool.apply(checked_alone, args)
        if peaks is not None and peak:
            peaks.append(peak)
        return result
    return check_paths(*args)


def checked_alone(*args) -> tuple[dict, int | None]:
    """``check_paths`` in a process of its own, with that process's peak resident memory (MB)."""
    from pipelines.peaks import peak_mb
    return check_paths(*args), peak_mb()


def check_paths(name: str, files: dict[str, Path], specs: dict, last: Path) -> dict:
    """``check_file``'s work on paths alone (no config: it may run in another process)."""
    spec = specs.get(name)
    key = next(iter([k for k in spec.unique if isinstance(k, str)] + spec.unique_nocase), None) if spec else None
    encoding, path = spec.encoding if spec else "utf-8", files[name]
    stats: dict[str, dict] = {}  # rows and ids as validation read them: one reading of the file
    problems = validate_file(name, files, specs, stats=stats, id_column=key) if spec else []
    if name in stats:
        rows, ids = stats[name]["rows"], stats[name]["ids"]
    else:  # not read by the rules (missing, or a header they refused): count it here
        rows, ids = 0, IdHashes()
        for row in iter_rows(path, encoding) if path.exists() else ():
            rows += 1
            if key:
                ids.add(row.get(key, ""))
    summary: dict = {"rows": rows}
    if key and path.exists():
        summary.update(id_changes(key, ids, last, encoding))
    return {"problems": problems, "summary": summary}


def check(v: Vendor, day: dt.date, per_file: dict[str, dict] | None = None) -> dict:
    """Validation problems, shrink-guard reasons, and per-file rows and added/removed counts,
    from each file's ``check_file`` (done here when not given)."""
    per_file = per_file if per_file is not None else {f.file: check_file(v, day, f.file) for f in v.files}
    problems: list[Problem] = [p for f in v.files for p in per_file[f.file]["problems"]]
    ledger = Ledger.of()
    shrink, summary = [], {}
    for f in v.files:
        summary[f.file] = dict(per_file[f.file]["summary"])
        rows = summary[f.file]["rows"]
        if rows == 0:
            shrink.append(f"{f.file}: file is empty; {v.name} would remove everyone it holds")
            continue
        item = v.zip_name if v.zipped else f.file
        last = ledger.last_success(v.job, item, before=day) if ledger else None
        previous = _previous_rows(last, f.file)
        if previous:
            lost = (previous - rows) / previous
            summary[f.file]["previous_rows"] = previous
            if lost > v.shrink_limit:
                shrink.append(f"{f.file}: {rows} rows, {previous} at the last push ({last['run_date']}): lost "
                              f"{lost:.0%}, more than the {v.shrink_limit:.0%} allowed")
    return {"problems": problems, "shrink": shrink, "files": summary}


def id_changes(key: str, now: IdHashes, last: Path, encoding: str = "utf-8") -> dict:
    """The ids (``key`` column) added and removed since the file last pushed (``last``),
    counted over 8-byte hashes (formats/idset.py); the first ten removed read back by name."""
    column = None
    if rules.FAST and last.exists():
        from formats.rules_arrow import column as arrow_column  # Arrow loads when a check runs, not at import
        column = arrow_column(last, encoding, lambda header: True, key)
    before = IdHashes()
    if column is not None:  # a file as we write it: its column read by Arrow (formats/arrow_csv.py)
        for chunk in column.chunks:
            before.extend(chunk.to_pylist())
    else:
        for row in iter_rows(last, encoding) if last.exists() else ():
            before.add(row.get(key, ""))
    added, removed, gone = changes(now, before)
    values = (v for chunk in column.chunks for v in chunk.to_pylist()) if column is not None else \
        (r.get(key, "") for r in iter_rows(last, encoding))
    examples = smallest(values, gone) if gone else []
    return {"id_column": key, "added": added, "removed": removed, "removed_examples": examples,
            "last_pushed": last.exists()}


def change_note(files: dict) -> str | None:
    """The ledger note of a push: ids added and removed per file (counts only)."""
    parts = [f"{name} {info['id_column']} +{info['added']} -{info['removed']}" for name, info in files.items()
             if "added" in info]
    if not parts:
        return None
    first = not any(info.get("last_pushed") for info in files.values())
    return "ids: " + ", ".join(parts) + (" (first push)" if first else " since the last push")


def _previous_rows(last: dict | None, file: str) -> int | None:
    if not last:
        return None
    source = last.get("source") or ""
    if source.startswith("{"):  # a zip's ledger row keeps rows per member in its source
        return json.loads(source).get(file)
    return last.get("rows")
