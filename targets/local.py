"""Atomic local files: a temp name in the same folder, fsync, rename; mode 0o660.

A crash or an exception inside the write leaves the previous file (or none), never a partial one.
The temporary name is ``.name.<pid>.<random>.tmp`` and its writer holds a lock on it: the next
write of the same file removes what a killed writer left (the lock died with it), so a
``kill -9`` leaves no debris once the step is rerun.
"""
from __future__ import annotations

import contextlib
import fcntl
import grp
import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

import luigi

from targets import faults

DEFAULT_MODE = 0o660


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_orphans(final: Path) -> list[Path]:
    """Remove the temporary files of ``final`` whose writer is gone (killed mid-write); returns
    them. A writer holds a lock on its temporary file while it lives (the system drops it when
    the process dies, whatever its pid became), so a file whose lock can be taken is debris."""
    removed = []
    prefix = f".{final.name}."
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(final.parent):
            if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
                continue
            try:
                fd = os.open(entry.path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its writer is alive
            finally:
                os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, mode: int = DEFAULT_MODE, group: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success fsync it and rename it over ``path``."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(final)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.{os.getpid()}.", suffix=".tmp", dir=final.parent)
    fcntl.flock(fd, fcntl.LOCK_EX)  # held while this writer lives: remove_orphans leaves the file alone
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, mode)
        if group is not None:
            os.chown(tmp_path, -1, grp.getgrnam(group).gr_gid)
        faults.point(f"local.write:{final.name}")  # written in full, not yet renamed
        os.replace(tmp_path, final)
        _fsync_dir(final.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, binary: bool = False, mode: int = DEFAULT_MODE,
                group: str | None = None, encoding: str = "utf-8", newline: str | None = "") -> Iterator[IO]:
    """Open a file for writing that appears at ``path`` only when the block ends without error."""
    with atomic_path(path, mode=mode, group=group) as tmp:
        if binary:
            with open(tmp, "wb") as fh:
                yield fh
        else:
            with open(tmp, "w", encoding=encoding, newline=newline) as fh:
                yield fh


def file_digest(path: str | os.PathLike) -> tuple[int, str]:
    """Size in bytes and sha256 hex digest of a file."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return size, h.hexdigest()


def set_aside(paths: list[Path], into: Path) -> Path:
    """Move those of ``paths`` that exist into the folder ``into`` (made), under their names: a
    refused step's inputs, kept for the operator to read and out of the way of the rerun, which
    makes them again from the data as it is then. Returns ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    for path in paths:
        if path.exists():
            os.replace(path, into / path.name)
    return into


class LocalFileTarget(luigi.LocalTarget):
    """A local file written atomically with a fixed mode (default 0o660) and optional group."""

    def __init__(self, path: str | os.PathLike, mode: int = DEFAULT_MODE, group: str | None = None,
                 format=None):
        super().__init__(os.fspath(path), format=format)
        self.file_mode = mode
        self.group = group

    def open(self, mode: str = "r"):
        if "w" not in mode:
            return super().open(mode)
        return _AtomicWriter(self, binary="b" in mode)

    @contextlib.contextmanager
    def temporary_path(self) -> Iterator[str]:
        with atomic_path(self.path, mode=self.file_mode, group=self.group) as tmp:
            yield os.fspath(tmp)


class _AtomicWriter(io.IOBase):
    """File-like returned by ``LocalFileTarget.open('w')``: commits on close, discards on error."""

    def __init__(self, target: LocalFileTarget, binary: bool):
        self._cm = atomic_open(target.path, binary=binary, mode=target.file_mode, group=target.group)
        self._fh = self._cm.__enter__()

    def write(self, data):
        return self._fh.write(data)

    def writelines(self, lines):
        self._fh.writelines(lines)

    def writable(self):
        return True

    def close(self):
        if not self.closed:
            super().close()
            self._cm.__exit__(None, None, None)

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self._discard(exc_type, exc, tb)
        return False

    def _discard(self, exc_type, exc, tb):
        if not self.closed:
            io.IOBase.close(self)
            self._cm.__exit__(exc_type, exc, tb)

    def __del__(self):
        # Garbage-collected without close(): the write did not finish, so nothing is committed.
        if not self.closed:
            self._discard(RuntimeError, RuntimeError("writer abandoned"), None)
