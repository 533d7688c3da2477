"""``./run.sh audit [--strict] [--ignore ID] [FILE]``: the known vulnerabilities of the runtime
pins (requirements.txt by default), from the advisories the package index publishes with each
release: PyPI's JSON API carries, per release, its OSV advisories (PYSEC, GHSA and CVE ids) and
the versions that fix them. pip-audit's default service reads the same data.

Exit 0: no known vulnerability; 1: a pin has one (each printed with its id, the versions that
fix it and its link), or with ``--strict`` a pin could not be audited; 2: the index could not be
asked. ``--ignore ID`` (repeatable) accepts an advisory the district has judged, e.g. one
without a fix that does not touch how the pipelines use the package; it is still printed.

A pin is looked up by its release document (``/pypi/NAME/VERSION/json``). A registry mirror
that serves only each project's document (its latest release) answers that with 404: a pin that
*is* the latest release is then checked against the project's document, whose advisories are
its own; an older pin is listed as **not audited**. CI (.ci/run) runs this before the tests.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INDEX = "https://pypi.org/pypi"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.M)
TRIES = 3


class IndexDown(Exception):
    """The index did not answer (network, 5xx) after the retries."""


@dataclass
class Finding:
    name: str
    version: str
    how: str = ""  # "release" or "project" (the pin is the latest release); "" not audited
    latest: str = ""
    advisories: list[dict] = field(default_factory=list)


def pins(path: Path) -> list[tuple[str, str]]:
    """(name, version) of every ``name==version`` line of a requirements file."""
    return PIN.findall(path.read_text(encoding="utf-8"))


def normal_name(name: str) -> str:
    """A distribution name as PEP 503 compares it (``Google_Auth`` = ``google-auth``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _get(url: str, timeout: float) -> dict | None:
    """The JSON document at ``url``; None for a 404."""
    for attempt in range(TRIES):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            error: Exception = e
        except (urllib.error.URLError, OSError, ValueError) as e:
            error = e
        time.sleep(0.5 * (attempt + 1))
    raise IndexDown(f"{url}: {getattr(error, 'reason', error)}")


def audit_pin(index: str, name: str, version: str, timeout: float = 20) -> Finding:
    """The advisories of one pin that are not withdrawn, and how they were found."""
    found = Finding(name, version)
    doc = _get(f"{index}/{normal_name(name)}/{version}/json", timeout)
    if doc is not None:
        found.how = "release"
    else:
        doc = _get(f"{index}/{normal_name(name)}/json", timeout)
        if doc is None:
            return found
        found.latest = doc.get("info", {}).get("version", "")
        if found.latest != version:
            return found
        found.how = "project"
    found.advisories = [v for v in doc.get("vulnerabilities") or [] if not v.get("withdrawn")]
    return found


def audit(index: str, requirements: list[tuple[str, str]], workers: int = 8) -> list[Finding]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda p: audit_pin(index, *p), requirements))


def report(findings: list[Finding], ignored: set[str], strict: bool, source: str) -> tuple[list[str], int]:
    """The lines to print and the exit status."""
    lines, bad = [], 0
    for f in findings:
        for v in f.advisories:
            ids = {v.get("id", "")} | set(v.get("aliases") or [])
            accepted = bool(ids & ignored)
            bad += not accepted
            fixed = ", ".join(v.get("fixed_in") or []) or "no fixed release"
            lines.append(f"{'IGNORED' if accepted else 'VULNERABLE'} {f.name} {f.version}: {v.get('id')}"
                         f"{' (' + ', '.join(sorted(set(v.get('aliases') or []))) + ')' if v.get('aliases') else ''};"
                         f" fixed in {fixed}; {v.get('link') or ''}".rstrip("; "))
    checked = [f for f in findings if f.how]
    missing = [f for f in findings if not f.how]
    summary = (f"audit: {len(findings)} pins of {source}: {len(checked)} checked, "
               + (f"{bad} with a known vulnerability" if bad else "no known vulnerability")
               + (f" ({len(ignored & _all_ids(findings))} ignored)" if ignored & _all_ids(findings) else ""))
    if missing:
        summary += (f"; {len(missing)} not audited (the index serves no document for that release, only the "
                    "project's latest): " + ", ".join(f"{f.name} {f.version}"
                                                     + (f" (latest {f.latest})" if f.latest else "") for f in missing))
    lines.append(summary)
    return lines, 1 if bad or (strict and missing) else 0


def _all_ids(findings: list[Finding]) -> set[str]:
    return {i for f in findings for v in f.advisories for i in [v.get("id", ""), *(v.get("aliases") or [])]}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="run.sh audit", description=__doc__.split("\n\n")[0])
    ap.add_argument("file", nargs="?", default=str(ROOT / "requirements.txt"))
    ap.add_argument("--index", default=os.environ.get("ETL_AUDIT_INDEX", DEFAULT_INDEX),
                    help="the index's JSON API (default %(default)s; ETL_AUDIT_INDEX)")
    ap.add_argument("--ignore", action="append", default=[], metavar="ID", help="an advisory id or alias judged acceptable")
    ap.add_argument("--strict", action="store_true", help="a pin that could not be audited fails the audit")
    args = ap.parse_args(argv)
    path = Path(args.file)
    try:
        requirements = pins(path)
    except OSError as e:
        print(f"run.sh audit: cannot read {path}: {e.strerror}", file=sys.stderr)
        return 2
    if not requirements:
        print(f"run.sh audit: {path} pins nothing (name==version lines)", file=sys.stderr)
        return 2
    try:
        findings = audit(args.index.rstrip("/"), requirements)
    except IndexDown as e:
        print(f"run.sh audit: the package index did not answer: {e}", file=sys.stderr)
        return 2
    lines, code = report(findings, set(args.ignore), args.strict, path.name)
    print("\n".join(lines))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
