"""How a file is uploaded and put in place on an SFTP server of any shape (docs/sftp.md): the
writes, pipelined and acknowledged in whatever order the server answers; the temporary name;
the steps that never remove the vendor's file before the new one is there; a server's refusal
as one clear error. Used by ``SftpClient.upload_atomic`` (targets/sftp.py)."""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import posixpath
import re
import time
from typing import Callable

import paramiko
import paramiko.sftp

from targets import clock, faults
from targets.errors import ServerRefusedError
from targets.sftp_settings import SftpSettings

logger = logging.getLogger("targets.sftp")

# how replace() names the vendor's file it moves aside: to the microsecond, since on a server that
# refuses delete the last one stays, and a second upload in the same second collided with it
_ASIDE = re.compile(r".+\.\d{8}T\d{6}(\d{6})?\.old")
_DIRECT_HINT = ("; or, for a server that never lets a file be renamed, [sftp_{name}] upload_mode = direct "
                "(written under its final name: not atomic, docs/sftp.md)")


# how replace() put a file in place, as the log and the doctor say it
PLACED_BY_POSIX_RENAME = "posix-rename (replaced in one step)"
PLACED_BY_RENAME = "rename (nothing there to replace, or the server renames over a file)"
PLACED_ASIDE = "rename after moving the previous file aside (the name briefly absent, never partial)"
PLACED_DIRECT = "written under its final name (upload_mode = direct: not atomic)"

WRITE_WINDOW = 64  # write requests in flight (OpenSSH's sftp keeps 64 too)


class _Acks:
    """The write requests not answered yet, and the first refusal among the answers: replies
    are matched by request id, in whatever order the server sends them."""

    def __init__(self):
        self.pending: set[int] = set()
        self.error: tuple[int, str] | None = None

    def _async_response(self, t: int, msg: paramiko.Message, num: int) -> None:  # paramiko calls this
        self.pending.discard(num)
        if t != paramiko.sftp.CMD_STATUS:
            self.error = self.error or (-1, f"unexpected reply type {t} to a write")
            return
        code = msg.get_int()
        if code != paramiko.sftp.SFTP_OK and self.error is None:
            self.error = (code, msg.get_text())


def write_pipelined(sftp: paramiko.SFTPClient, handle: paramiko.SFTPFile, src, chunk: int,
                    sent_so_far: Callable[[int, int], None] | None = None) -> int:
    """Write ``src`` to the open ``handle`` in requests of ``chunk`` bytes, ``WRITE_WINDOW`` of
    them in flight; returns the bytes written, every one acknowledged. paramiko's own pipelined
    writes wait for the replies in the order they were asked: a server that answers out of
    order (the protocol allows it; gesftpserver does) made an upload wait forever for a reply
    it had already read. Here each reply is matched to its request by id."""
    acks, offset = _Acks(), 0
    for block in iter(lambda: src.read(chunk), b""):
        num = sftp._async_request(acks, paramiko.sftp.CMD_WRITE, handle.handle, paramiko.sftp.int64(offset), block)
        acks.pending.add(num)
        if sent_so_far is not None:
            sent_so_far(offset, len(block))
        offset += len(block)
        while len(acks.pending) >= WRITE_WINDOW and acks.error is None:
            sftp._read_response()
        if acks.error is not None:
            break
    while acks.pending and acks.error is None:
        sftp._read_response()
    if acks.error is not None:
        code, text = acks.error
        raise IOError(errno.EACCES if code == paramiko.sftp.SFTP_PERMISSION_DENIED else None, text)
    return offset


def open_part(sftp: paramiko.SFTPClient, settings: SftpSettings, final: str) -> tuple[str, paramiko.SFTPFile]:
    """The temporary name to upload ``final`` under, open for writing: ``final.part``. One a
    killed run left is written over, or, on a server that does not overwrite (ProFTPD's
    default), removed first; where it cannot be removed, a name of this attempt's own, so a
    stale one never blocks a night. (No extra request when nothing is in the way.)"""
    part = final + ".part"
    try:
        return part, sftp.open(part, "wb")
    except PermissionError as e:
        refused = e
    try:
        sftp.remove(part)
    except FileNotFoundError:  # nothing in the way: writing there is what is refused
        raise refusal(settings, "open for writing", part, refused) from refused
    except PermissionError:
        part = f"{final}.{os.getpid()}-{int(time.time())}.part"
        logger.warning("SFTP '%s': a stale %s.part cannot be removed (delete refused); uploading as %s",
                       settings.name, posixpath.basename(final), posixpath.basename(part))
    return part, sftp.open(part, "wb")


def restore_previous(sftp: paramiko.SFTPClient, settings: SftpSettings, final: str) -> None:
    """A run killed between moving the vendor's file aside and renaming ours (step 3 of
    ``replace``) left the name empty, its copy moved aside and our ``.part`` both there: put
    the newest copy back before anything else, so the vendor has its previous file again even
    if this upload fails too. Without our ``.part`` beside it, a missing name is not ours to
    mend (the vendor may have taken its file away after reading it, and an ``.old`` copy stays
    where delete is refused): nothing is put back."""
    try:
        sftp.stat(final)
        return
    except FileNotFoundError:
        pass
    except PermissionError:
        return  # a drop box: it cannot be looked for
    try:  # our .part is there after an interrupted upload (a stale one that could not be removed too):
        sftp.stat(final + ".part")  # one request, not a listing of the vendor's folder for every new name
    except IOError:
        return
    folder, base = posixpath.split(final)
    try:
        names = sftp.listdir(folder or ".")
    except IOError:
        return
    aside = sorted(n for n in names if _ASIDE.fullmatch(n) and n.startswith(base + "."))
    interrupted = any(n.startswith(base + ".") and n.endswith(".part") for n in names)
    if aside and interrupted:
        sftp.rename(posixpath.join(folder, aside[-1]), final)
        logger.warning("SFTP '%s': %s was missing after an interrupted upload; %s put back", settings.name, base,
                       aside[-1])


def replace(sftp: paramiko.SFTPClient, settings: SftpSettings, conn, part: str, final: str) -> str:
    """Put the uploaded ``part`` in place of ``final``, never removing the vendor's file
    before the new one is there:

    1. posix-rename (OpenSSH's extension): replaces ``final`` in one step;
    2. plain rename: enough when ``final`` does not exist (some servers also overwrite);
    3. ``final`` moved aside (``final.<time>.old``), ``part`` renamed to ``final``, the old
       one removed (where delete is refused it stays, and that is logged); if the second
       rename fails the vendor's file is put back. Between the two renames the name is
       briefly absent (never partial): a vendor reading at that instant finds no file.

    A server that refuses every way is a ServerRefusedError naming the operation, the
    path and the server's words, and our ``.part`` is removed where the server allows.
    ``conn.posix_rename``: False once the server has refused it (asked once per connection)."""
    if conn.posix_rename:
        try:
            sftp.posix_rename(part, final)
            return PLACED_BY_POSIX_RENAME
        except FileNotFoundError as e:
            raise _taken_away(settings, part, e) from e
        except IOError as e:  # not offered, or denied (sftp-server -P, rename rights): go on
            logger.info("SFTP '%s': posix-rename refused (%s); renaming instead", settings.name, e)
            conn.posix_rename = False
    try:
        sftp.rename(part, final)
        return PLACED_BY_RENAME
    except FileNotFoundError as e:
        raise _taken_away(settings, part, e) from e
    except IOError as e:
        refused = e
    try:
        sftp.stat(final)
    except FileNotFoundError:  # nothing there to replace: the rename itself is refused
        _drop(sftp, part)
        raise refusal(settings, f"rename {part} to", final, refused, _DIRECT_HINT) from refused
    except PermissionError:
        pass  # may not stat: try moving it aside
    aside = f"{final}.{clock.now():%Y%m%dT%H%M%S%f}.old"
    try:
        sftp.rename(final, aside)
    except IOError as e:
        _drop(sftp, part)
        if isinstance(e, FileNotFoundError):
            raise refusal(settings, f"rename {part} to", final, refused, _DIRECT_HINT) from refused
        raise refusal(settings, f"rename (to move the previous file aside as {posixpath.basename(aside)})", final,
                      e, _DIRECT_HINT) from e
    faults.point(f"sftp.put.aside:{posixpath.basename(final)}")  # the name empty: restore_previous mends it
    try:
        sftp.rename(part, final)
    except IOError as e:
        sftp.rename(aside, final)  # the vendor's file back where it was
        _drop(sftp, part)
        raise refusal(settings, f"rename {part} to", final, e) from e
    try:
        sftp.remove(aside)
    except IOError as e:
        logger.warning("SFTP '%s': the previous %s stays as %s (delete refused: %s)", settings.name,
                       posixpath.basename(final), posixpath.basename(aside), e)
        return PLACED_ASIDE + " (the server refuses delete: the previous file stays as name.<time>.old)"
    return PLACED_ASIDE


def _taken_away(settings: SftpSettings, part: str, e: BaseException) -> ServerRefusedError:
    """Our ``.part`` was gone as soon as it was closed: a server that moves each file away when
    it is written (it took the file under its temporary name)."""
    return ServerRefusedError(
        f"SFTP server '{settings.name}' ({settings.address}) took {part} away as soon as it was closed ({e}): "
        f"it moves each file on, so it got the file under its temporary name. Set [sftp_{settings.name}] "
        "upload_mode = direct (the file is written under its final name; docs/sftp.md)")


def _drop(sftp: paramiko.SFTPClient, path: str) -> None:
    """Remove a temporary file of ours, if the server lets us (best effort)."""
    with contextlib.suppress(IOError):
        sftp.remove(path)


def refusal(settings: SftpSettings, operation: str, path: str, e: BaseException,
            hint: str = "") -> ServerRefusedError:
    """A server's no to ``operation`` on ``path``, in its own words; never retried."""
    s = settings
    words = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return ServerRefusedError(f"SFTP server '{s.name}' ({s.address}) refused: {operation} {path}: {words}. "
                              "A rerun will not help until the account may do this on that server (ask the "
                              f"vendor){hint.format(name=s.name)}")
