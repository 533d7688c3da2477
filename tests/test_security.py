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
