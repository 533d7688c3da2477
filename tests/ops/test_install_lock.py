"""Installs depend only on the locks (ops/install_lock.sh, which run.sh, the stack and the
Dockerfile use). A local stand-in index (PEP 503, on disk) offers a newer release of a locked
package that another locked package asks for through an extra: the shape that broke every fresh
clone when google-auth 2.63.1 was published (google-cloud-bigquery asks for
google-auth[pyopenssl]). The venv is made by the machine's own ``python3 -m venv``, with the pip
it brings; the install must give exactly the locked versions, and a lock that misses a package
another needs fails naming it (pip check: a package only an extra asks for is not checked)."""
import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pipelines.base import ROOT

pytestmark = pytest.mark.stack  # builds virtual environments: ./run.sh test --fast leaves it out

INSTALL = ROOT / "ops" / "install_lock.sh"


def _wheel(index: Path, name: str, version: str, metadata: list[str]) -> Path:
    """A pure-Python wheel of one module, in the index's folder for ``name``."""
    folder = index / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": f"VERSION = {version!r}\n",
        f"{info}/METADATA": "\n".join(["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", *metadata]) + "\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for arc, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{arc},sha256={digest},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join(record + [f"{info}/RECORD,,"]) + "\n"
    with zipfile.ZipFile(path, "w") as z:
        for arc, text in files.items():
            z.writestr(arc, text)
    return path


def _publish_index(index: Path) -> None:
    """PEP 503 pages for every project folder under ``index``."""
    for folder in index.iterdir():
        links = "".join(f'<a href="{w.name}#sha256={hashlib.sha256(w.read_bytes()).hexdigest()}">{w.name}</a>\n'
                        for w in sorted(folder.glob("*.whl")))
        (folder / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")


def _pin(wheel: Path) -> str:
    name, version = wheel.name.split("-")[:2]
    return f"{name}=={version} \\\n    --hash=sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}\n"


@pytest.fixture(scope="module")
def index_and_lock(tmp_path_factory):
    """The stand-in index: lockchild 1.0 (locked) and 1.1 (published after the lock), asked for
    as ``lockchild[tls]`` by lockparent; the lock pins lockparent, lockchild 1.0, lockextra and
    lockplain (lockparent's plain dependency), the incomplete lock all but lockplain."""
    base = tmp_path_factory.mktemp("index")
    index = base / "simple"
    parent = _wheel(index, "lockparent", "1.0", ["Requires-Dist: lockchild[tls]<2,>=1.0", "Requires-Dist: lockplain"])
    child = _wheel(index, "lockchild", "1.0", ["Provides-Extra: tls", 'Requires-Dist: lockextra; extra == "tls"'])
    _wheel(index, "lockchild", "1.1", ["Provides-Extra: tls", 'Requires-Dist: lockextra; extra == "tls"'])
    extra = _wheel(index, "lockextra", "1.0", [])
    plain = _wheel(index, "lockplain", "1.0", [])
    _publish_index(index)
    lock = base / "requirements.txt"
    lock.write_text("".join(_pin(w) for w in (child, extra, parent, plain)))
    incomplete = base / "requirements-incomplete.txt"
    incomplete.write_text("".join(_pin(w) for w in (child, extra, parent)))
    return index, lock, incomplete


def _env(index: Path) -> dict:
    """Only the stand-in index: no pip config of this machine, no find-links, no constraints."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=index.as_uri(), PIP_DISABLE_PIP_VERSION_CHECK="1",
               PYTHON=sys._base_executable)
    return env


def _fresh_venv(path: Path) -> Path:
    """A venv made by the machine's Python (not this venv's), with the pip that brings."""
    subprocess.run([sys._base_executable, "-m", "venv", str(path)], check=True, timeout=120)
    return path / "bin" / "python"


def _installed(py: Path, name: str) -> str:
    return subprocess.run([str(py), "-c", f"import {name}; print({name}.VERSION)"], capture_output=True,
                          text=True, check=True).stdout.strip()


def test_an_install_takes_the_locked_version_when_the_index_has_a_newer_one_asked_for_through_an_extra(
        index_and_lock, tmp_path):
    index, lock, _ = index_and_lock
    venv = tmp_path / "venv"
    py = _fresh_venv(venv)
    pip_version = subprocess.run([str(py), "-m", "pip", "--version"], capture_output=True, text=True,
                                 check=True).stdout.split()[1]
    # The stand-in reproduces the hazard: the install every script made before, with this pip.
    plain = subprocess.run([str(py), "-m", "pip", "install", "--require-hashes", "-r", str(lock)],
                           capture_output=True, text=True, env=_env(index), timeout=300)
    if tuple(int(p) for p in pip_version.split(".")[:2]) < (23, 3):
        assert plain.returncode != 0 and "lockchild[tls]" in plain.stderr, (pip_version, plain.stderr[-2000:])
    venv2 = tmp_path / "venv2"
    done = subprocess.run([str(INSTALL), str(venv2), str(lock)], capture_output=True, text=True,
                          env=_env(index), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    py2 = venv2 / "bin" / "python"
    assert [_installed(py2, n) for n in ("lockparent", "lockchild", "lockextra")] == ["1.0", "1.0", "1.0"]
    # Again (run.sh after a lock changed): nothing moves.
    again = subprocess.run([str(INSTALL), str(venv2), str(lock)], capture_output=True, text=True,
                           env=_env(index), timeout=300)
    assert again.returncode == 0 and _installed(py2, "lockchild") == "1.0"


def test_a_lock_that_misses_a_package_fails_the_install_naming_it(index_and_lock, tmp_path):
    index, _, incomplete = index_and_lock
    done = subprocess.run([str(INSTALL), str(tmp_path / "venv"), str(incomplete)], capture_output=True,
                          text=True, env=_env(index), timeout=300)
    assert done.returncode == 1
    assert "not complete" in done.stderr and "lockplain" in done.stderr, done.stderr


def test_every_install_of_the_project_goes_through_the_one_script():
    """run.sh's bootstrap, the emulators' venv and the Dockerfile install the locks the same way."""
    for path in ("run.sh", "stack/services.py", "Dockerfile"):
        text = (ROOT / path).read_text()
        assert "install_lock.sh" in text, path
        assert "--require-hashes" not in text, f"{path} calls pip on a lock itself"
