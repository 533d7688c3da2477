"""A OneRoster CSV package checked whole: the zip (files at its root, no others), its
manifest (the version's exact property names, each once, each file declared bulk, delta or
absent), the manifest against the files (present but declared absent, declared but missing),
then every rostering file by the binding's rules (formats/oneroster.py) through the vendor
rule engine, references included. Any zip, ours or one a district receives: nothing is
assumed of its producer, and every problem names file, row, column and rule."""
from __future__ import annotations

import csv
import io
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from formats import oneroster as spec
from formats.rules import MAX_PER_RULE, Problem, validate

MANIFEST = "manifest.csv"


@dataclass
class Report:
    """What a package is and what is wrong with it."""

    version: str | None = None
    how: str = ""  # how the version was known: "manifest", or a guess and why
    modes: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)  # declared files outside rostering, present
    rows: dict[str, int] = field(default_factory=dict)
    read: dict[str, str] = field(default_factory=dict)  # by Arrow's kernels (a clean file) or row by row

    @property
    def ok(self) -> bool:
        return not self.problems


def read_manifest(text: str) -> tuple[dict[str, str], list[Problem]]:
    """The manifest's properties, and what is wrong with its form (header, a row's width, a
    property named twice); the names and values are judged by ``check_manifest``."""
    problems: list[Problem] = []
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    if not rows or rows[0] != spec.MANIFEST_HEADER:
        problems.append(Problem(MANIFEST, f"header is not {','.join(spec.MANIFEST_HEADER)}", 1))
        return {}, problems
    props: dict[str, str] = {}
    for n, row in enumerate(rows[1:], start=2):
        if not row:
            problems.append(Problem(MANIFEST, "blank line", n))
        elif len(row) != 2:
            problems.append(Problem(MANIFEST, f"has {len(row)} fields, the header has 2", n))
        elif row[0] in props:
            problems.append(Problem(MANIFEST, f"{row[0]} is declared twice", n, "propertyName"))
        else:
            props[row[0]] = row[1]
    return props, problems


def check_manifest(props: dict[str, str], present: set[str]) -> tuple[spec.Declared | None, list[Problem]]:
    """The version and each file's mode, and every way the manifest breaks the binding or
    disagrees with the files ``present`` (their names without .csv)."""
    problems = []
    version = props.get("oneroster.version")
    if version not in spec.VERSIONS:
        problems.append(Problem(MANIFEST, f"oneroster.version is {version!r}, not one of "
                                          f"{' | '.join(spec.VERSIONS)}" if version is not None else
                                          "oneroster.version is not declared", column="value"))
        return None, problems
    if props.get("manifest.version") != spec.MANIFEST_VERSION:
        got = props.get("manifest.version")
        problems.append(Problem(MANIFEST, f"manifest.version is {got!r}, not {spec.MANIFEST_VERSION!r}"
                                if got is not None else "manifest.version is not declared", column="value"))
    known = spec.manifest_properties(version)
    for name in props:
        if name not in known:
            problems.append(Problem(MANIFEST, f"{name} is not a property of the OneRoster {version} manifest",
                                    column="propertyName"))
    modes = {}
    for name in spec.MANIFEST_FILES[version]:
        mode = props.get(f"file.{name}")
        if mode is None:
            problems.append(Problem(MANIFEST, f"file.{name} is not declared (every file is bulk, delta or "
                                              "absent)", column="propertyName"))
            mode = "bulk" if name in present else "absent"
        elif mode not in spec.MODES:
            problems.append(Problem(MANIFEST, f"file.{name} is {mode!r}, not one of {' | '.join(spec.MODES)}",
                                    column="value"))
            mode = "bulk" if name in present else "absent"
        elif mode == "absent" and name in present:
            problems.append(Problem(f"{name}.csv", "present, but the manifest declares it absent"))
        elif mode != "absent" and name not in present:
            problems.append(Problem(f"{name}.csv", f"missing, but the manifest declares it {mode}"))
            mode = "absent"
        modes[name] = mode
    return spec.Declared(version, modes), problems


def guess_version(folder: Path) -> tuple[str, str]:
    """A package without a usable manifest: its version from users.csv's header (1.1 has a
    role column, 1.2 roles.csv), else 1.2."""
    users = folder / "users.csv"
    if users.exists():
        with open(users, encoding="utf-8-sig", errors="replace", newline="") as fh:
            head = next(csv.reader(fh), [])
        for version in spec.VERSIONS:
            if head[:len(spec.header(version, "users"))] == spec.header(version, "users"):
                return version, "guessed from users.csv's header (the manifest does not say)"
    return "1.2", "assumed (the manifest does not say, nor does users.csv's header)"


def check_package(path: Path, max_per_rule: int | None = MAX_PER_RULE, tmp: Path | None = None) -> Report:
    """Every problem of the OneRoster zip at ``path`` (or a folder of its files)."""
    report = Report()
    with tempfile.TemporaryDirectory(prefix="oneroster-", dir=tmp) as work:
        if path.is_dir():
            folder = path
            names = sorted(p.name for p in path.iterdir() if p.is_file())
        else:
            folder = Path(work)
            names = _unzip(path, folder, report)
            if names is None:
                return report
        present = {n[:-4] for n in names if n.endswith(".csv") and n != MANIFEST}
        declared = None
        if MANIFEST in names:
            props, problems = read_manifest((folder / MANIFEST).read_text(encoding="utf-8", errors="replace"))
            report.problems += problems
            if props:
                declared, problems = check_manifest(props, present)
                report.problems += problems
        else:
            report.problems.append(Problem(MANIFEST, "file is missing (every OneRoster package declares its "
                                                     "files in one)"))
        if declared is None:
            version, report.how = guess_version(folder)
            declared = spec.Declared(version, {f: "bulk" if f in present else "absent"
                                               for f in spec.MANIFEST_FILES[version]})
        else:
            report.how = "manifest"
        report.version, report.modes = declared.version, declared.modes
        for name in names:
            if name != MANIFEST and (not name.endswith(".csv") or name[:-4] not in spec.MANIFEST_FILES[declared.version]):
                report.problems.append(Problem(name, f"not a file of OneRoster {declared.version}"))
        report.unchecked = [f"{f}.csv" for f in declared.present() if f not in spec.TABLES[declared.version]]
        specs = spec.file_specs(declared)
        stats: dict[str, dict] = {}
        report.problems += validate({n: folder / n for n in specs}, specs, max_per_rule, stats)
        report.rows = {n: s["rows"] for n, s in stats.items()}
        report.read = {n: s["read"] for n, s in stats.items()}
    return report


def _unzip(path: Path, folder: Path, report: Report) -> list[str] | None:
    """The zip's files at its root, written to ``folder``; None when it is no zip."""
    if not zipfile.is_zipfile(path):
        report.problems.append(Problem(path.name, "not a zip file (a OneRoster package is one zip)"))
        return None
    names = []
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            if info.filename in (".", ".."):
                report.problems.append(Problem(info.filename, "not a file name"))
                continue
            if "/" in info.filename or "\\" in info.filename:
                report.problems.append(Problem(info.filename, "inside a folder: the binding puts every file at the "
                                                              "root of the zip"))
                continue
            try:
                with zf.open(info) as src, open(folder / info.filename, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as e:
                report.problems.append(Problem(info.filename, f"not readable from the zip ({e})"))
                continue
            names.append(info.filename)
    return sorted(names)
