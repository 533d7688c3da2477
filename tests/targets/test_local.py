"""Atomic local files: complete or absent, mode 0o660, old file kept on error."""
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from targets.local import LocalFileTarget, atomic_open, file_digest


def test_write_commits_on_close_with_mode(tmp_path):
    t = LocalFileTarget(tmp_path / "sub" / "a.csv")
    assert not t.exists()
    with t.open("w") as fh:
        fh.write("id,name\n1,x\n")
    assert t.exists()
    assert (tmp_path / "sub" / "a.csv").read_text() == "id,name\n1,x\n"
    assert stat.S_IMODE(os.stat(t.path).st_mode) == 0o660
    assert os.listdir(tmp_path / "sub") == ["a.csv"]


def test_exception_inside_write_keeps_old_file(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("old\n")
    t = LocalFileTarget(path)
    with pytest.raises(RuntimeError):
        with t.open("w") as fh:
            fh.write("new partial")
            raise RuntimeError("boom")
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["a.csv"]


def test_exception_with_no_old_file_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):
        with atomic_open(tmp_path / "b.bin", binary=True) as fh:
            fh.write(b"x" * 10)
            raise ValueError
    assert os.listdir(tmp_path) == []


def test_killed_writer_leaves_no_final_file(tmp_path):
    """A process killed mid-write (SIGKILL, no cleanup) leaves only a hidden temp file."""
    final = tmp_path / "big.csv"
    script = textwrap.dedent(f"""
        import os, signal
        from targets.local import atomic_open
        with atomic_open({str(final)!r}) as fh:
            fh.write("x" * 100000)
            fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd())
    assert proc.returncode == -9
    assert not final.exists()
    leftovers = os.listdir(tmp_path)
    assert all(name.startswith(".big.csv.") and name.endswith(".tmp") for name in leftovers)


def test_temporary_path_and_digest(tmp_path):
    t = LocalFileTarget(tmp_path / "c.txt", mode=0o640)
    with t.temporary_path() as tmp:
        with open(tmp, "w") as fh:
            fh.write("abc")
    assert stat.S_IMODE(os.stat(t.path).st_mode) == 0o640
    size, digest = file_digest(t.path)
    assert size == 3
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_a_writer_killed_before_its_rename_leaves_the_old_file_and_the_next_write_removes_its_debris(tmp_path):
    """kill -9 at the named point between the full write and the rename (targets/faults.py):
    the final name keeps the old content; the dead writer's temporary file is removed by the next
    write of that file (a live writer's is not)."""
    path = tmp_path / "a.csv"
    path.write_text("old\n")
    code = textwrap.dedent(f"""
        from targets.local import atomic_open
        with atomic_open({str(path)!r}) as fh:
            fh.write("new\\n" * 1000)
    """)
    env = {**os.environ, "ETL_FAULT_AT": "local.write:a.csv", "PYTHONPATH": os.getcwd()}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    assert done.returncode == -9, done.stderr
    assert path.read_text() == "old\n"
    debris = [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    assert len(debris) == 1 and debris[0].startswith(".a.csv.")
    live = tmp_path / ".a.csv.1.x.tmp"  # a writer that is alive holds its lock: its file stays
    live.write_text("mine")
    import fcntl
    with open(live) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with atomic_open(path) as fh:
            fh.write("rerun\n")
    assert path.read_text() == "rerun\n"
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith(".tmp")) == [live.name]
