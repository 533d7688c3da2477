"""``./run.sh validate VENDOR PATH``: the vendor's rules (vendors.toml) on any folder of files,
or on a zip, e.g. before a manual upload. ``./run.sh validate oneroster FILE.zip`` checks any
OneRoster 1.1 or 1.2 CSV package, ours or one a district receives, to the letter of 1EdTech's
binding, and says which version it is. Prints every problem (file, row, column, rule; ids,
never names or other personal values) and exits 1 if there is one, 0 if every rule passes,
2 if the vendor or the path is wrong. Sends nothing and writes nothing."""
from __future__ import annotations

import argparse
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

from formats.oneroster_package import check_package
from formats.rules import validate
from pipelines.base import counted, vendors_file
from registry.vendors import Vendor
from targets.errors import ConfigError


def check(vendor: Vendor, folder: Path, most: int | None = None) -> tuple[list[str], list[str]]:
    """(problems, names of files in the folder that are not the vendor's and were not checked)."""
    specs = vendor.file_specs()
    problems = [str(p) for p in validate({name: folder / name for name in specs}, specs, max_per_rule=most)]
    # our own bookkeeping beside a push's files (_checked.json, a check's _checked/) is not listed
    extra = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name not in specs
                   and not p.name.startswith((".", "_")))
    return problems, extra


def run_oneroster(path: Path, most: int | None, out=sys.stdout) -> int:
    """A OneRoster package checked whole (formats/oneroster_package.py)."""
    if not path.exists():
        raise ConfigError(f"{path} does not exist")
    report = check_package(path, max_per_rule=most)
    if report.version is not None:
        declared = [f for f, m in report.modes.items() if m != "absent"]
        how = "from its manifest" if report.how == "manifest" else report.how
        print(f"{path.name}: OneRoster {report.version} ({how}); {counted(len(declared), 'file')} declared: "
              + ", ".join(f"{f} {report.modes[f]}" for f in declared), file=out)
    for p in report.problems:
        print(p, file=out)
    if report.unchecked:
        print(f"outside rostering, not checked: {', '.join(report.unchecked)}", file=out)
    rows = sum(report.rows.values())
    if report.problems:
        by_file = Counter(p.file for p in report.problems)
        print(f"{counted(len(report.problems), 'problem')} in {counted(len(by_file), 'file')} "
              f"({', '.join(f'{f}: {n}' for f, n in sorted(by_file.items()))})", file=out)
        return 1
    print(f"OneRoster {report.version}: every rule of the binding passes ({counted(len(report.rows), 'file')}, "
          f"{counted(rows, 'row')})", file=out)
    return 0


def run(vendor_name: str, path: Path, most: int | None, out=sys.stdout) -> int:
    if vendor_name == "oneroster":
        return run_oneroster(path, most, out)
    vendor = vendors_file().vendor(vendor_name)
    if not path.exists():
        raise ConfigError(f"{path} does not exist")
    with tempfile.TemporaryDirectory(prefix="validate-") as tmp:
        folder = path
        if path.is_file():
            if not zipfile.is_zipfile(path):
                raise ConfigError(f"{path} is neither a folder nor a zip file")
            with zipfile.ZipFile(path) as zf:
                inner = [n for n in zf.namelist() if not n.endswith("/")]
                nested = [n for n in inner if "/" in n]
                zf.extractall(tmp, members=[n for n in inner if "/" not in n])
            folder = Path(tmp)
            if nested:
                print(f"{path.name}: holds folders ({', '.join(nested[:3])}); {vendor.name} wants its files at the "
                      "top of the zip", file=out)
        problems, extra = check(vendor, folder, most)
        if path.is_file() and nested:
            problems.append(f"{path.name}: files inside folders")
    for line in problems:
        print(line, file=out)
    if extra:
        print(f"not {vendor.name}'s files, not checked: {', '.join(extra)}", file=out)
    files = len(vendor.files)
    if problems:
        by_file = Counter(p.split(",", 1)[0].split(":", 1)[0] for p in problems)
        print(f"{counted(len(problems), 'problem')} in {len(by_file)} of {files} {vendor.name} files "
              f"({', '.join(f'{f}: {n}' for f, n in sorted(by_file.items()))})", file=out)
        return 1
    print(f"all {vendor.name} rules pass: {files} files in {path}", file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="run.sh validate", description=__doc__.split("\n\n")[0])
    ap.add_argument("vendor", help="a vendor table of vendors.toml, e.g. clever; or oneroster: any OneRoster "
                                   "1.1 or 1.2 CSV package, checked to the letter of the binding")
    ap.add_argument("path", type=Path, help="a folder holding the vendor's files, or a zip of them")
    ap.add_argument("--max-per-rule", type=int, default=None, metavar="N",
                    help="list at most N problems per file and rule, count the rest (default: every one)")
    args = ap.parse_args(argv)
    try:
        return run(args.vendor, args.path, args.max_per_rule)
    except ConfigError as e:
        print(f"validate: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
