"""What an SFTP server allows, as last found, kept between runs: how the last upload (or
``./run.sh check --probe-uploads``) put its file in place, whether posix-rename was taken, and
a refusal the probe met. One small JSON file per server under ``$ETL_VAR/sftp/``, keyed by
the section's name, address and user (a changed host starts afresh).

The client starts each connection from it (a server known to refuse posix-rename is not asked
again every night), writes it when what it finds differs, and ``./run.sh check`` says from it
which mode each server's uploads use and why. ``[sftp_<name>] upload_mode`` overrides it; a
probe finds everything out again from nothing."""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path

from targets import clock
from targets.config import var_dir
from targets.local import atomic_path
from targets.sftp_settings import SftpSettings

logger = logging.getLogger("targets.sftp")


def record_path(s: SftpSettings) -> Path:
    """Where what was found about this server is kept."""
    return var_dir() / "sftp" / f"{s.file_tag}.json"


def recalled(s: SftpSettings) -> dict:
    """What was found on this server before ({} when nothing, or the record is unreadable)."""
    try:
        found = json.loads(record_path(s).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:  # a damaged record costs one night's finding out, no more
        logger.warning("SFTP '%s': what was found about the server could not be read (%s); finding out again",
                       s.name, e)
        return {}
    return found if isinstance(found, dict) else {}


def remember(s: SftpSettings, by: str, placed: str = "", posix_rename: bool = True, refused: str = "") -> None:
    """Keep what an upload (``by`` = "upload") or a probe ("probe") found, when it differs
    from what was kept; a record that cannot be written is logged, never fails the upload."""
    found = {"placed": placed, "posix_rename": posix_rename, "refused": refused}
    before = recalled(s)
    if by == "upload" and all(before.get(k) == v for k, v in found.items()):
        return
    try:
        with atomic_path(record_path(s), mode=0o640) as tmp:
            tmp.write_text(json.dumps({**found, "by": by, "when": clock.now().isoformat(timespec="seconds")}) + "\n")
    except OSError as e:
        logger.warning("SFTP '%s': what was found about the server could not be kept (%s)", s.name, e)


def upload_mode_line(s: SftpSettings) -> str:
    """The mode this server's uploads use, and why (the doctor's line; WARN where it needs a look)."""
    if s.upload_mode == "direct":
        return (f"WARN direct, as [sftp_{s.name}] upload_mode says: written under its final name (not atomic: a vendor "
                "reading mid-upload sees a partial file)")
    found = recalled(s)
    if not found:
        return ("auto: not found out yet; the first upload finds out and keeps it "
                "(./run.sh check --probe-uploads finds out now)")
    try:
        moment = dt.datetime.fromisoformat(found["when"]).astimezone().strftime("%Y-%m-%d %H:%M")
    except (KeyError, TypeError, ValueError):
        moment = "?"
    when = f"as the {'probe' if found.get('by') == 'probe' else 'last upload'} found on {moment}"
    if found.get("refused"):
        return f"WARN auto, but the server refused: {found['refused']} ({when}); [sftp_{s.name}] upload_mode = direct"
    return f"{'WARN ' if 'stays' in found.get('placed', '') else ''}auto: {found.get('placed')}, {when}"
