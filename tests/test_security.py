"""Security rules that hold for the whole tree (issue 13, part 5): no SQL reaches a cursor built
by string formatting (identifiers go through psycopg2.sql.Identifier, values through
parameters), and every SFTP server of the shipped configuration has a pinned host key or a
known_hosts file (SftpSettings refuses one without: tests/targets/test_sftp.py)."""
import ast
import configparser

from pipelines.base import ROOT

PACKAGES = ("pipelines", "targets", "ops", "registry", "formats", "stack")
CURSOR_VERBS = {"execute", "executemany", "copy_expert", "mogrify"}


def formatted_sql(source: str, name: str = "<string>") -> list[str]:
    """Calls of a cursor verb whose SQL is an f-string with values, a ``+``/``%`` expression or
    ``"...".format(...)``: the shapes that put text into SQL unquoted."""
    found = []
    for node in ast.walk(ast.parse(source, name)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in CURSOR_VERBS and node.args):
            continue
        first = node.args[0]
        if (isinstance(first, ast.JoinedStr) and any(isinstance(v, ast.FormattedValue) for v in first.values)
                or isinstance(first, ast.BinOp)
                or isinstance(first, ast.Call) and isinstance(first.func, ast.Attribute)
                and first.func.attr == "format" and isinstance(first.func.value, ast.Constant)):
            found.append(f"{name}:{node.lineno}: {ast.unparse(first)[:80]}")
    return found


def test_the_detector_sees_each_unsafe_shape():
    unsafe = ('cur.execute(f"SELECT * FROM {table}")\ncur.execute("DELETE FROM " + table)\n'
              'cur.execute("SELECT %s" % x)\ncur.execute("TRUNCATE {}".format(t))\n')
    safe = ('cur.execute("SELECT * FROM t WHERE a = %s", (a,))\n'
            'cur.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(t)))\ncur.execute(f"SELECT 1")\n')
    assert len(formatted_sql(unsafe)) == 4 and formatted_sql(safe) == []


def test_no_sql_is_built_by_string_formatting():
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found += formatted_sql(path.read_text(), str(path.relative_to(ROOT)))
    assert found == []


def test_every_shipped_sftp_server_has_a_pinned_host_key():
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(ROOT / "luigi.cfg")
    servers = [s for s in cfg.sections() if s.startswith("sftp_")]
    assert servers and [s for s in servers if not (cfg[s].get("known_hosts") or cfg[s].get("host_key"))] == []


def test_no_student_name_in_the_logs_mail_or_ledger_of_a_night(vendors, pg_settings, stack_var, caplog):
    """A night with a failure on the embedded stack: the pushes (SAVVAS's server down, so a
    failure row and a failure mail), then the digest mail. Every student's and teacher's name
    in the files we sent is looked for in every log record, every mail the night sent (all
    parts, decoded) and every text column of the ledger: ids and counts only, never a name."""
    import datetime as dt
    import email
    import email.policy
    import logging
    import re
    import time

    import luigi
    import luigi.configuration

    from pipelines.digest import DailyDigest
    from pipelines.failures import RunReport
    from pipelines.slots import SftpOperations
    from pipelines.vendors import export_dir
    from stack import free_port
    from targets import clock
    from tests.ledger import ledger_rows

    caplog.set_level(logging.DEBUG)
    day, cst = dt.date(2026, 11, 24), dt.timezone(dt.timedelta(hours=-6))
    parser = luigi.configuration.get_config()
    parser.set("sftp_savvas", "port", str(free_port()))
    parser.set("sftp_savvas", "backoff", "0.05")
    t0 = time.time()
    clock.set_now(dt.datetime(2026, 11, 24, 5, 0, tzinfo=cst))
    with RunReport("./run.sh luigi --module pipelines.slots SftpOperations"):
        assert not luigi.build([SftpOperations(date=day)], local_scheduler=True)
    clock.set_now(dt.datetime(2026, 11, 24, 8, 30, tzinfo=cst))
    assert luigi.build([DailyDigest(date=day)], local_scheduler=True)

    names = set()
    for name, columns in (("students.csv", ("Last_name", "First_name", "Middle_name")),
                          ("teachers.csv", ("Last_name", "First_name"))):
        import csv
        with open(export_dir(day, "clever") / name, newline="") as fh:
            for row in csv.DictReader(fh):
                names |= {row[c] for c in columns if len(row.get(c) or "") >= 4}
    assert len(names) > 20
    mails = []
    for f in (stack_var / "mail").glob("*.eml"):
        if f.stat().st_mtime >= t0:
            msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
            mails.append("".join(p.get_content() for p in msg.walk() if p.get_content_maintype() == "text"))
    assert len(mails) >= 2  # the failure mail and the digest
    ledger = " ".join(str(v) for row in ledger_rows(pg_settings, "item, source, destination, error, note")
                      for v in row if v)
    pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in sorted(names)) + r")\b")
    for what, text in [("log", caplog.text), ("ledger", ledger)] + [(f"mail {i}", m) for i, m in enumerate(mails)]:
        found = pattern.findall(text)
        assert not found, f"{what} carries names: {sorted(set(found))[:5]}"
