"""The DFPS ↔ DPS exchange's pure transforms: IMPACT rows → the records we send, DPS's answer
matched against them (docs/dps.md, "Matching rules"), runaway events by region, and the
stakeholders' summary (counts by region only, never person rows). No I/O but the workbooks
``summary_text`` is handed."""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from formats.pipe import DPS_COUNTS
from formats.spreadsheet import workbook_rows
from targets.errors import BadInputError


_SUFFIX = re.compile(r"\b(JR|SR|II|III|IV)\b")


def norm_name(name: str | None) -> str:
    """Upper case, accents folded, suffixes (JR, SR, II…) and non-letters removed."""
    text = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode().upper()
    text = _SUFFIX.sub(" ", re.sub(r"[^A-Z ]", " ", text))
    return "".join(text.split())


def parse_date(value) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in ("%Y%m%d", "%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def person_key(last: str, first: str, dob) -> tuple[str, str, dt.date | None]:
    return norm_name(last), norm_name(first), parse_date(dob)


def wrangle(episodes: list[dict], sa98: dict, regions: dict) -> list[dict]:
    rows = []
    for e in episodes:
        extra = sa98.get(e["person_id"], {})
        rows.append({"person_id": str(e["person_id"]), "last_name": (e["last_name"] or "").strip(),
                     "first_name": (e["first_name"] or "").strip(), "birth_date": parse_date(e["birth_date"]),
                     "sex": (e["sex"] or "").strip().upper()[:1], "county": (e["county"] or "").strip().upper(),
                     "region": regions.get((e["county"] or "").strip().upper(), "UNKNOWN"),
                     "runaway_date": parse_date(e["runaway_date"]),
                     "conservatorship": extra.get("conservatorship"), "placement_type": extra.get("placement_type")})
    return rows


def send_records(rows: list[dict]) -> list[list[str]]:
    """``End_txt_file.txt`` records in the DPS_SEND layout: dates YYYYMMDD (docs/dps.md)."""
    return [[r["person_id"], r["last_name"], r["first_name"],
             r["birth_date"].strftime("%Y%m%d") if r["birth_date"] else "", r["sex"], r["county"],
             r["runaway_date"].strftime("%Y%m%d") if r["runaway_date"] else ""] for r in rows]


IMPACT_ONLY_COLUMNS = ["person_id", "last_name", "first_name", "dob", "county", "region", "episodes",
                       "first_runaway_date", "conservatorship", "placement_type"]
DPS_ONLY_COLUMNS = ["dps_id", "last_name", "first_name", "dob", "county", "region", "report_date", "rows_in_dps_file"]
TOTALS_COLUMNS = ["region", "impact_events", "dps_events", "difference"]


@dataclass
class Reconciliation:
    impact_only: list[dict]
    dps_only: list[dict]
    totals: list[dict]
    matched: int


def reconcile(sent: Iterable[dict], results: Iterable[dict], counts: Iterable[dict], regions: dict) -> Reconciliation:
    """Who is in our file but not DPS's, who is in DPS's but not ours, and events by region.

    A DPS row matches a person when its DFPS_PERSON_ID is our PERSON_ID, or else when the
    normalised last name, first name and date of birth agree. Several episodes of one person
    are one person (counted as episodes); repeated DPS rows with one DPS_ID are one record.
    The files are read once, as they stream (``PipeLayout.records``): memory holds one entry
    per person we sent and per DPS record, not the files.
    """
    people: dict[str, dict] = {}
    by_key: dict[tuple, str] = {}
    impact_events: Counter = Counter()
    for r in sent:
        pid, region = r["person_id"], regions.get(r["county"].upper(), "UNKNOWN")
        impact_events[region] += 1
        p = people.setdefault(pid, {"person_id": pid, "last_name": r["last_name"], "first_name": r["first_name"],
                                    "dob": parse_date(r["dob"]), "county": r["county"], "region": region,
                                    "episodes": 0, "first_runaway_date": parse_date(r["runaway_date"])})
        p["episodes"] += 1
        day = parse_date(r["runaway_date"])
        if day and (p["first_runaway_date"] is None or day < p["first_runaway_date"]):
            p["first_runaway_date"] = day
        by_key.setdefault(person_key(r["last_name"], r["first_name"], r["dob"]), pid)
    # per DPS record, from its first row: the rows seen, and what the report shows when it matches no one
    dps_records: dict[str, list] = {}
    matched_people: set[str] = set()
    for r in results:
        seen = dps_records.get(r["dps_id"])
        if seen is not None:
            seen[0] += 1
            continue
        pid = r["dfps_person_id"] if r["dfps_person_id"] in people else by_key.get(
            person_key(r["last_name"], r["first_name"], r["dob"]))
        if pid:
            matched_people.add(pid)
            dps_records[r["dps_id"]] = [1, None]
        else:
            dps_records[r["dps_id"]] = [1, {
                "dps_id": r["dps_id"], "last_name": r["last_name"], "first_name": r["first_name"],
                "dob": parse_date(r["dob"]), "county": r["county"].upper(),
                "region": regions.get(r["county"].upper(), "UNKNOWN"), "report_date": parse_date(r["report_date"])}]
    dps_only = [dict(row, rows_in_dps_file=n) for _, (n, row) in sorted(dps_records.items()) if row is not None]
    impact_only = [p for pid, p in sorted(people.items()) if pid not in matched_people]
    dps_events: Counter = Counter()
    for c in counts:
        try:
            dps_events[regions.get(c["county"].upper(), "UNKNOWN")] += int(c["runaway_events"])
        except ValueError as e:
            raise BadInputError(DPS_COUNTS.name, f"RUNAWAY_EVENTS {c['runaway_events']!r} is not a whole number") from e
    totals = [{"region": reg, "impact_events": impact_events[reg], "dps_events": dps_events[reg],
               "difference": dps_events[reg] - impact_events[reg]}
              for reg in sorted(set(impact_events) | set(dps_events), key=_region_order)]
    totals.append({"region": "TOTAL", "impact_events": sum(impact_events.values()),
                   "dps_events": sum(dps_events.values()),
                   "difference": sum(dps_events.values()) - sum(impact_events.values())})
    return Reconciliation(impact_only, dps_only, totals, len(matched_people))


def _region_order(region) -> tuple:
    text = str(region)
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def summary_text(period: str, workbooks: list[Path], share: Path | None = None) -> str:
    """The stakeholders' mail: counts by region only, never person rows; where the workbooks
    are (``share``: the folder they were copied to)."""
    impact_only, dps_only, totals = (workbook_rows(p) for p in workbooks)
    by_region: dict = defaultdict(lambda: [0, 0])
    for row in impact_only:
        by_region[row[5]][0] += 1
    for row in dps_only:
        by_region[row[5]][1] += 1
    folder = share or workbooks[0].parent
    lines = [f"DPS runaway reconciliation for {period}.", "", f"The workbooks, on the share {folder}:"]
    lines += [f"  {folder / p.name}" for p in workbooks]
    lines += ["", "Youths (people) found on one side only, by region:",
              f"{'Region':10} {'in IMPACT, not at DPS':>22} {'at DPS, not in IMPACT':>22}"]
    for region in sorted(by_region, key=_region_order):
        lines.append(f"{str(region):10} {by_region[region][0]:>22} {by_region[region][1]:>22}")
    lines += ["", "Runaway events, by region (DPS - IMPACT: more at DPS when positive):",
              f"{'Region':10} {'IMPACT events':>14} {'DPS events':>11} {'DPS - IMPACT':>13}"]
    for row in totals:
        lines.append(f"{str(row[0]):10} {row[1]:>14} {row[2]:>11} {row[3]:>+13}")
    return "\n".join(lines) + "\n"
