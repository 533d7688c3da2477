"""The bad-input corpus (tests/fixtures/bad/): files a district or a client really sends, each
with the intake it goes through and what a clear answer says.

Intakes: ``feeds`` (a client's drop-off, tests/feedfiles.py's jobs: ``events_<8 digits>.xlsx``,
sheet Events, header on row 2, upsert on event_id with one reject allowed; ``clients_*.csv``,
``;``-separated, appended, no rejects allowed) and ``vendor`` (Clever's students.csv through
the vendor rules of ``./run.sh validate``). ``expect``: a piece of the error the file must get
(the file's name is always required too); ``loads``: the file is accepted (rows rejected
with a reason where they are bad), which is the right answer for some odd-but-valid files.

Small files are committed under tests/fixtures/bad/ (``python -m tests.badinputs`` writes them
again; a test checks they match); the big ones (``generated=True``: a zip bomb, a 20 MB field)
are made when a run needs them.
"""
from __future__ import annotations

import io
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

FOLDER = Path(__file__).resolve().parent / "fixtures" / "bad"

CLEVER_HEADER = ("School_id,Student_id,Student_number,State_id,Last_name,Middle_name,First_name,Grade,Gender,"
                 "DOB,Home_language,Ell_status,Student_email")


@dataclass(frozen=True)
class Bad:
    name: str             # the file's name (as dropped: odd names are part of the corpus)
    intake: str           # feeds | vendor
    make: Callable[[], bytes]
    expect: str = ""      # a piece of the error it must get ("" with loads=True)
    loads: bool = False   # accepted: it loads (bad rows rejected with reasons)
    unmatched: bool = False  # no tImportConfig row takes its name: set aside in unmatched/ and reported
    generated: bool = False

    @property
    def file(self) -> str:
        """Its name in the corpus folder (names a file system or git cannot hold are encoded)."""
        return self.name.replace("\n", "%0A").replace("/", "%2F")


def _xlsx(rows: list[list], sheet: str = "Events", title: bool = True) -> bytes:
    import openpyxl
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    if title:
        ws.append(["Company events"])
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _good_events() -> bytes:
    return _xlsx([["Event ID", "Company", "Starts", "Ticker"], [101, "Acme", None, "ACM"], [102, "Globex", None, "GBX"]])


def _zip(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _clients(*lines: str, enc: str = "utf-8", sep: str = "\n") -> Callable[[], bytes]:
    return lambda: sep.join(lines).encode(enc)


def _clever(*rows: str, header: str = CLEVER_HEADER, enc: str = "utf-8", sep: str = "\r\n") -> Callable[[], bytes]:
    return lambda: (sep.join((header,) + rows) + sep).encode(enc)


def _student(i: int, **over: str) -> str:
    values = {"School_id": "0010", "Student_id": f"S{i}", "Student_number": str(i), "State_id": f"T{i}",
              "Last_name": "Doe", "Middle_name": "", "First_name": "Jo", "Grade": "5", "Gender": "F",
              "DOB": "03/04/2015", "Home_language": "", "Ell_status": "N", "Student_email": ""}
    values.update(over)
    return ",".join(values[h] for h in CLEVER_HEADER.split(","))


OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

CORPUS: list[Bad] = [
    # -- workbooks a client drops (feeds: events_<date>.xlsx)
    Bad("events_20261101.xlsx", "feeds", lambda: _good_events()[:700], "is not a readable"),  # truncated
    Bad("events_20261102.xlsx", "feeds", lambda: _good_events()[: len(_good_events()) // 2], "is not a readable"),
    Bad("events_20261103.xlsx", "feeds", lambda: b"%PDF-1.7\n" + b"\x00" * 2000, "is not a readable"),  # a PDF
    Bad("events_20261104.xlsx", "feeds", lambda: b"Event ID,Company\n1,Acme\n", "is not a readable"),  # a CSV
    Bad("events_20261105.xlsx", "feeds", lambda: OLE2 + b"\x00" * 4096, "is encrypted"),  # password-protected
    Bad("events_20261106.xlsx", "feeds", lambda: b"", "is not a readable"),  # empty
    Bad("events_20261107.xlsx", "feeds", lambda: b"<html><body>Session expired</body></html>", "is not a readable"),
    Bad("events_20261108.xlsx", "feeds", lambda: _zip({"hello.txt": b"not a workbook"}), "is not a readable"),
    Bad("events_20261109.xlsx", "feeds", lambda: _zip({"xl/worksheets/sheet1.xml": b"0" * 60_000_000}),
        "(a zip bomb?)", generated=True),
    Bad("events_20261110.xlsx", "feeds", lambda: _zip({f"xl/worksheets/sheet{i}.xml": b"<a/>" * 5_000_000
                                                          for i in range(1, 4)}), "(a zip bomb?)", generated=True),
    Bad("events_20261111.xlsx", "feeds", lambda: _xlsx([["Event ID", "Company"], [1, "Acme"]], sheet="Sheet1"),
        "has no sheet 'Events'"),
    Bad("events_20261112.xlsx", "feeds", lambda: _xlsx([], title=False), "no header"),  # an empty sheet
    Bad("events_20261113.xlsx", "feeds", lambda: _xlsx([["Company events only"]], title=False), "no header"),
    Bad("events_20261114.xlsx", "feeds", lambda: _xlsx([["Event ID", "Company", "Event ID"], [1, "A", 2]]),
        "both name column"),  # a duplicate header
    Bad("events_20261115.xlsx", "feeds", lambda: _xlsx([["", "", ""], [1, "Acme", None]]), "header row is empty"),
    Bad("events_20261116.xlsx", "feeds", lambda: _xlsx([["Event ID", "Company"], ["x", "A"], ["y", "B"]]),
        "rows rejected, more than max_rejects"),
    Bad("events_20261117.xlsx", "feeds", lambda: _xlsx([["Event ID", "Company"], [1, None], [2, "Acme"]]),
        loads=True),  # a required value missing on one row (1 reject allowed): the rest loads, the row is rejected
    Bad("events_20261118.xlsx", "feeds", lambda: _xlsx([["Event ID", "Company", "Ticker"], [7, "=HYPERLINK(\"x\")",
                                                                                          "+1+2"], [8, "@SUM(A1)", "-3"]]),
        loads=True),  # formula-like text is data, loaded as text
    Bad("events_20261119.xlsx", "feeds", lambda: _xlsx([["Event ID", "Company"]]), loads=True),  # header only
    Bad("events_20261120.xlsx", "feeds", lambda: _xlsx([["Event ID", "Company"], [9, "x" * 40_000]]), loads=True),
    Bad("events_20261121.xlsx", "feeds", lambda: _zip({"[Content_Types].xml": b"<Types/>",
                                                          "xl/workbook.xml": b"<workbook><sheets>"}), "is not a readable"),
    Bad("events_20261122.xlsx", "feeds", lambda: _zip({"../../etc/passwd": b"root:x:0:0", "xl/workbook.xml": b"<x/>"}),
        "is not a readable"),  # a member that climbs out of the folder
    Bad("events_20261123.xlsx", "feeds", lambda: _good_events()[:-30],
        "is not a readable"),  # the zip's directory cut short
    Bad("events_20261124.xlsx", "feeds", lambda: _zip({"xl/workbook.xml": b"\x00\x01\x02"}, zipfile.ZIP_STORED),
        "is not a readable"),
    # -- CSVs a client drops (feeds: clients_*.csv, ';')
    Bad("clients_bom.csv", "feeds", _clients("\ufeffClient ID;Name;Joined", "1;Ann;2026-01-02", ""), loads=True),
    Bad("clients_utf16.csv", "feeds", _clients("Client ID;Name;Joined", "1;Ann;2026-01-02", "", enc="utf-16"),
        "utf-8"),
    Bad("clients_cp1252.csv", "feeds", lambda: b"Client ID;Name;Joined\n1;Jos\xe9;2026-01-02\n", "utf-8"),
    Bad("clients_nul.csv", "feeds", lambda: b"Client ID;Name;Joined\n1;A\x00nn;2026-01-02\n", "rows rejected"),
    Bad("clients_ragged.csv", "feeds", _clients("Client ID;Name;Joined", "1;Ann", "2;Bo;2026-01-02;extra;more", ""),
        "rows rejected"),
    Bad("clients_dupheader.csv", "feeds", _clients("Client ID;Name;Client ID", "1;Ann;2", ""), "both name column"),
    Bad("clients_emptyheader.csv", "feeds", _clients(";;", "1;Ann;2026-01-02", ""), "no header"),
    Bad("clients_headeronly.csv", "feeds", _clients("Client ID;Name;Joined", ""), loads=True),
    Bad("clients_empty.csv", "feeds", lambda: b"", "no header"),
    Bad("clients_blanklines.csv", "feeds", _clients("", "", ""), "no header"),
    Bad("clients_quote.csv", "feeds", _clients("Client ID;Name;Joined", '1;"Ann;2026-01-02', "2;Bo;2026-01-03", ""),
        "rows rejected"),
    Bad("clients_hugefield.csv", "feeds", lambda: b"Client ID;Name;Joined\n1;" + b"x" * 20_000_000 + b";2026-01-02\n",
        loads=True, generated=True),  # 20 MB in one text field: valid, loaded
    Bad("clients_baddate.csv", "feeds", _clients("Client ID;Name;Joined", "1;Ann;2026-02-30", ""), "rows rejected"),
    Bad("clients_nullid.csv", "feeds", _clients("Client ID;Name;Joined", ";Ann;2026-01-02", ""), "rows rejected"),
    Bad("clients_wrongsep.csv", "feeds", _clients("Client ID,Name,Joined", "1,Ann,2026-01-02", ""), "no column for"),
    Bad("clients_cr.csv", "feeds", _clients("Client ID;Name;Joined", "1;Ann;2026-01-02", "", sep="\r"), loads=True),
    Bad("clients_binary.csv", "feeds", lambda: bytes(range(256)) * 8, "utf-8"),
    Bad("clients_gzip.csv", "feeds", lambda: b"\x1f\x8b\x08\x00" + b"\x00" * 200, "utf-8"),
    Bad("clients_ with spaces.csv", "feeds", _clients("Client ID;Name;Joined", "7;Sp;2026-01-02", ""), loads=True),
    Bad("clients_-rf --help.csv", "feeds", _clients("Client ID;Name;Joined", "8;Dash;2026-01-02", ""), loads=True),
    Bad("clients_ünïcødé_北京.csv", "feeds", _clients("Client ID;Name;Joined", "9;Uni;2026-01-02", ""), loads=True),
    Bad("clients_new\nline.csv", "feeds", _clients("Client ID;Name;Joined", "10;NL;2026-01-02", ""),
        unmatched=True),  # no job's pattern takes a name with a line break: set aside, reported
    Bad("clients_formula.csv", "feeds", _clients("Client ID;Name;Joined", "11;=cmd|' /C calc'!A0;2026-01-02",
                                                 "12;@SUM(1);2026-01-02", ""), loads=True),
    Bad("clients_$(reboot).csv", "feeds", _clients("Client ID;Name;Joined", "13;Sh;2026-01-02", ""), loads=True),
    # -- a vendor file we would send (Clever students.csv through the vendor rules)
    Bad("students_bom.csv", "vendor", lambda: b"\xef\xbb\xbf" + _clever(_student(1))(), "BOM"),
    Bad("students_utf16.csv", "vendor", _clever(_student(1), enc="utf-16"), "students_utf16.csv"),
    Bad("students_cp1252.csv", "vendor", lambda: _clever(_student(1))().replace(b"Doe", b"Do\xe9"), "UTF-8"),
    Bad("students_nul.csv", "vendor", lambda: _clever(_student(1))().replace(b"Doe", b"D\x00e"), "NUL"),
    Bad("students_ragged.csv", "vendor", _clever(_student(1), _student(2) + ",extra"), "fields"),
    Bad("students_short.csv", "vendor", _clever("0010,S1,1"), "fields"),
    Bad("students_dupheader.csv", "vendor", _clever(_student(1), header=CLEVER_HEADER.replace("Middle_name",
                                                                                               "Last_name")),
        "twice"),
    Bad("students_emptyheader.csv", "vendor", _clever(_student(1), header=CLEVER_HEADER.replace("Home_language", "")),
        "students_emptyheader.csv"),
    Bad("students_headeronly.csv", "vendor", _clever(), "students_headeronly.csv"),
    Bad("students_empty.csv", "vendor", lambda: b"", "students_empty.csv"),
    Bad("students_quote.csv", "vendor", _clever(_student(1, Last_name='"Doe')), "quote"),
    Bad("students_hugefield.csv", "vendor", lambda: _clever(_student(1, Last_name="x" * 5_000_000))(),
        "students_hugefield.csv", generated=True),
    Bad("students_baddate.csv", "vendor", _clever(_student(1, DOB="02/30/2015")), "date"),
    Bad("students_dupid.csv", "vendor", _clever(_student(1), _student(1)), "students_dupid.csv"),
    Bad("students_nogrades.csv", "vendor", _clever(_student(1, Grade="14")), "Grade"),
    Bad("students_semicolon.csv", "vendor", lambda: _clever(_student(1))().replace(b",", b";"),
        "separated by semicolons"),
    Bad("students_blankline.csv", "vendor", _clever(_student(1), "", _student(2)), "blank"),
]


@dataclass
class Outcome:
    bad: Bad
    handled: bool
    said: str  # what the operator is told (the ledger's error, or the rules' problems)


TABLES = ("CREATE TABLE IF NOT EXISTS feeds.bad_events (event_id integer PRIMARY KEY, company text NOT NULL,"
          " starts date, ticker text);"
          "CREATE TABLE IF NOT EXISTS feeds.bad_clients (client_id integer NOT NULL, name text, joined date)")
JOBS = ("INSERT INTO dba.timportconfig (job_name, filename_regex, source_dir, file_type, sheet, header_row,"
        " delimiter, target_schema, target_table, load_mode, key_columns, max_rejects, notify) VALUES"
        " ('bad_events', 'events_\\d{8}\\.xlsx', %(inbox)s, 'xlsx', 'Events', 2, ',', 'feeds', 'bad_events', 'upsert',"
        "  '{event_id}', 1, NULL),"
        " ('bad_clients', 'clients_.*\\.csv', %(inbox)s, 'csv', NULL, 1, ';', 'feeds', 'bad_clients', 'append', NULL,"
        "  0, NULL) ON CONFLICT DO NOTHING")
GOOD = {"events_20261199.xlsx": _good_events, "clients_good.csv": _clients("Client ID;Name;Joined",
                                                                             "99;Good;2026-01-02", "")}


def run_feeds(ddl, ledger, inbox: Path, build) -> tuple[list[Outcome], list[str]]:
    """Every feeds file of the corpus dropped at once with two good files, one watcher pass
    (``build``: runs WatchFeeds), then each file judged: a file with ``expect`` must be in the
    error folder (nothing lost) with a failed ledger row naming it and saying ``expect``; a file
    that ``loads`` must be archived with a succeeded row. Returns (outcomes, problems with the
    good files: they must load whatever the bad ones do)."""
    import os
    import time
    ddl(TABLES)
    ddl(JOBS, {"inbox": str(inbox)})
    inbox.mkdir(parents=True, exist_ok=True)
    corpus = [b for b in CORPUS if b.intake == "feeds"]
    old = time.time() - 600  # settled long ago
    for bad in corpus:
        os.utime(materialise(bad, inbox), (old, old))
    for name, make in GOOD.items():
        (inbox / name).write_bytes(make())
        os.utime(inbox / name, (old, old))
    build()
    rows = ledger("SELECT job_name, item, status, coalesce(error, '') FROM dba.tdataloads"
                  " WHERE job_name IN ('feeds_bad_events', 'feeds_bad_clients', 'bad_events', 'bad_clients')")
    from pipelines.feeds import UNMATCHED_JOB
    unmatched: dict[str, list] = {}
    assert UNMATCHED_JOB == "feeds_unmatched"
    for job, item, s, e in ledger("SELECT job_name, item, status, coalesce(error, '') FROM dba.tdataloads"
                                  " WHERE job_name = 'feeds_unmatched'"):
        unmatched.setdefault(item.split("|")[0], []).append((s, e))
    set_aside = {p.name for p in (inbox / "unmatched").glob("*")}
    quarantined = {p.name for p in inbox.rglob("*") if p.is_file() and "error" in p.relative_to(inbox).parts}
    archived = {p.name.split("_", 1)[1] if p.name[:6].isdigit() else p.name
                for p in inbox.rglob("*") if p.is_file() and "archive" in p.relative_to(inbox).parts}
    outcomes = []
    for bad in corpus:
        mine = [(s, e) for _, item, s, e in rows if item.split("|")[0] == bad.name]
        errors = [e for s, e in mine if s == "failed"]
        if bad.unmatched:
            ok = any(s == "succeeded" for s, _ in unmatched.get(bad.name, [])) and bad.name in set_aside
            outcomes.append(Outcome(bad, ok, "set aside as unmatched" if ok else "not set aside"))
            continue
        if bad.loads:
            ok = any(s == "succeeded" for s, _ in mine) and bad.name in archived
            outcomes.append(Outcome(bad, ok, "loaded" if ok else f"not loaded: {errors[:1]}"))
            continue
        said = errors[0] if errors else ""
        ok = (bad.name in quarantined and bool(errors) and bad.name in said
              and bad.expect.lower() in said.lower() and "Traceback" not in said)
        outcomes.append(Outcome(bad, ok, said or "no failed ledger row"))
    good = [f"{n} did not load" for n in GOOD if not any(item.split("|")[0] == n and s == "succeeded"
                                                          for _, item, s, _ in rows)]
    return outcomes, good


def run_vendor(tmp: Path, corpus: list[Bad] | None = None) -> list[Outcome]:
    """Each vendor file of the corpus as Clever's students.csv through the vendor rules."""
    from formats.rules import validate
    from pipelines.base import vendors_file
    spec = vendors_file().vendor("clever").file_specs()["students.csv"]
    outcomes = []
    for bad in (b for b in (corpus or CORPUS) if b.intake == "vendor"):
        folder = tmp / bad.file
        folder.mkdir(parents=True, exist_ok=True)
        path = materialise(bad, folder)
        try:
            problems = validate({bad.name: path}, {bad.name: spec})
        except Exception as e:  # noqa: BLE001 - a crash is the failure this corpus looks for
            outcomes.append(Outcome(bad, False, f"crashed: {type(e).__name__}: {e}"))
            continue
        said = "; ".join(str(p) for p in problems)
        ok = bool(problems) and all(str(p).startswith(bad.name) for p in problems) and bad.expect.lower() in said.lower()
        outcomes.append(Outcome(bad, ok, said[:300] or "no problem found"))
    return outcomes


def write(folder: Path = FOLDER) -> list[Path]:
    """Write the committed part of the corpus (not the generated big files)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for bad in CORPUS:
        if not bad.generated:
            path = folder / bad.file
            path.write_bytes(bad.make())
            out.append(path)
    return out


def materialise(bad: Bad, dest: Path) -> Path:
    """The corpus file at ``dest`` (its real name), from the folder or generated."""
    data = bad.make() if bad.generated else (FOLDER / bad.file).read_bytes()
    path = dest / bad.name
    path.write_bytes(data)
    return path


if __name__ == "__main__":
    print(f"wrote {len(write())} files to {FOLDER}")
    sys.exit(0)
