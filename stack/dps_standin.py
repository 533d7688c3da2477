"""A stand-in for DPS on the embedded SFTP server: some seconds after DFPS's
``End_txt_file.txt`` lands in ``dps/outbound``, it writes the two result files into
``dps/TO_DFPS`` as DPS would (most people found and echoed with their DFPS id, a few matched
only by name and birth date, a few missing, a few of DPS's own; runaway event counts by
county). Deterministic for a given sent file.
"""
from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

RESULTS = "Dfps-missing-person-results.txt"
COUNTS = "Dfps-missing-person-counts.txt"
SENT = "End_txt_file.txt"


def respond(sent: Path, results_dir: Path) -> None:
    """Write DPS's two answers to ``sent`` into ``results_dir`` (each atomically)."""
    text = sent.read_text(encoding="utf-8")
    rng = random.Random(hashlib.sha256(text.encode()).hexdigest())
    lines = [l.split("|") for l in text.splitlines()[1:] if l.strip()]
    people = {}
    for f in lines:
        people.setdefault(f[0], f)
    out = ["DPS_ID|LAST_NAME|FIRST_NAME|DOB|SEX|COUNTY|REPORT_DATE|DFPS_PERSON_ID"]
    n = 0
    for pid, f in sorted(people.items()):
        roll = rng.random()
        if roll < 0.08:
            continue  # DPS has no record of this person
        n += 1
        echoed = pid if roll > 0.25 else ""  # some records come back matched by name and DOB only
        out.append(f"D{n:05d}|{f[1].upper()}|{f[2].upper()}|{f[3]}|{f[4]}|{f[5]}|{f[6]}|{echoed}")
    for i in range(max(1, len(people) // 20)):  # DPS's own reports DFPS does not have
        out.append(f"X{i:04d}|DOE|JORDAN{i}|2011010{i % 9 + 1}|M|TRAVIS|20261001|")
    counts: dict[str, int] = {}
    for f in lines:
        counts[f[5]] = counts.get(f[5], 0) + (1 if rng.random() > 0.1 else 2)
    _write(results_dir / RESULTS, "\n".join(out) + "\n")
    _write(results_dir / COUNTS, "COUNTY|RUNAWAY_EVENTS\n" + "".join(f"{c}|{n}\n" for c, n in sorted(counts.items())))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def pending(outbound: Path, results_dir: Path, delay: float, now: float) -> bool:
    """A sent file is older than ``delay`` seconds and newer than our last answer."""
    sent = outbound / SENT
    if not sent.exists() or now - sent.stat().st_mtime < delay:
        return False
    answer = results_dir / RESULTS
    return not answer.exists() or answer.stat().st_mtime < sent.stat().st_mtime
