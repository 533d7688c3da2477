"""A server that allows a user so many sessions at a time (``[sftp_<name>] max_sessions = N``
set in its section, as hosted vendors' accounts often allow one): our processes on this machine
take turns, whichever scheduler runs them (a resend beside the night's run; the scheduler's own
resource of that name only spaces the tasks of the runs that ask it: pipelines/workers.py). Each connection holds one of N slots, lock files
under ``$ETL_VAR/locks/`` held with ``flock`` (released by the kernel when a process dies), for
one verb, and is closed when the verb ends so that the next process may have it.

Without the setting such a server ends the session at once ("Maximum connections for
host/user reached"): the error names the server's words and this setting."""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from typing import Iterator

from targets.config import var_dir
from targets.errors import TransientError
from targets.sftp_settings import SftpSettings

POLL = 0.2  # seconds between looks at the slots while all are taken


@contextlib.contextmanager
def session_slot(s: SftpSettings, on_release=None) -> Iterator[None]:
    """Hold one of the server's ``s.max_sessions`` slots for the block (nothing when 0: no limit),
    waiting up to ``s.session_wait`` seconds for one; ``on_release`` runs before it is let go
    (closing the connection, so the server counts the session as ended)."""
    if not s.max_sessions:
        yield
        return
    folder = var_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    tag = s.file_tag
    deadline = time.monotonic() + s.session_wait
    fd = None
    while fd is None:
        for slot in range(s.max_sessions):
            candidate = os.open(folder / f"sftp-{tag}-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o640)
            try:
                fcntl.flock(candidate, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(candidate)
                continue
            fd = candidate
            break
        else:
            if time.monotonic() >= deadline:
                raise TransientError(
                    f"SFTP server '{s.name}' ({s.address}) allows {s.max_sessions} session(s) at a time "
                    f"([sftp_{s.name}] max_sessions), and other runs on this machine held them for {s.session_wait:g} s "
                    f"([sftp_{s.name}] session_wait); ./run.sh status shows what is running")
            time.sleep(POLL)
    try:
        yield
    finally:
        try:
            if on_release is not None:
                on_release()
        finally:
            os.close(fd)  # the lock goes with it
