"""A Google service that cannot be reached fails the run's Google work fast (issue 26).

Google's clients retry a refused or unreachable connection for as long as a call may take
(``[bigquery] timeout``: 600 s). A slot of 20 exports against a BigQuery that refuses
connections then reported its failure after hours, one export after another.

- **One call gives up after ``io_timeout``** of connection failures. Answers from the server
  (5xx, rate limits) are still retried for ``timeout``: that is Google being busy, not gone.
- **The rest of the run is not asked again.** When one call gives up, the service is marked
  down for this run, in this process and in a file under ``$ETL_VAR/runs/`` that the run's
  other worker processes read. Every later call fails at once with that reason, so each task
  has its failed ledger row and the run has its one mail.
- **Later runs start afresh.** Files of runs older than two days are removed."""
from __future__ import annotations

import json
import logging
import socket
import time

import google.api_core.exceptions as gexc
import requests
from google.api_core.retry import if_transient_error

from targets import clock
from targets.config import var_dir
from targets.errors import TransientError
from targets.process import run_uuid

logger = logging.getLogger(__name__)

# BigQuery's own reasons for a call worth repeating (google-cloud-bigquery retries these too)
_RETRY_REASONS = {"rateLimitExceeded", "backendError", "internalError", "badGateway"}
_KEEP_SECONDS = 2 * 86400
_LONGEST_SLEEP = 120.0  # more than the retries' longest wait between two tries (60 s)

_down: dict[tuple[str, str], str] = {}  # (run, service) -> why, in this process


def unreachable(e: BaseException | None) -> bool:
    """A connection that could not be made or was lost before an answer (refused, reset, no
    route, timed out), not an answer from the server; looked for along the exception's causes."""
    seen = 0
    while e is not None and seen < 8:
        if isinstance(e, (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError,
                          socket.timeout, TimeoutError)):
            return True
        if isinstance(e, gexc.RetryError) and e.cause is not None:
            e = e.cause
        else:
            e = e.__cause__ or e.__context__
        seen += 1
    return False


def _should_retry(e: Exception) -> bool:
    if if_transient_error(e):
        return True
    errors = getattr(e, "errors", None) or []
    return any(isinstance(err, dict) and err.get("reason") in _RETRY_REASONS for err in errors)


def backoff_cap(io_timeout: float) -> float:
    """The longest wait between two tries of a call: a quarter of ``io_timeout`` (at most the
    libraries' own 60 s), so that a call that gives up after ``io_timeout`` of failures does so
    within a quarter more, not after a minute's backoff (a 2 s io_timeout gave up after 8 s)."""
    return max(0.5, min(60.0, io_timeout / 4))


class GiveUpWhenUnreachable:
    """A retry predicate: what Google's clients retry, except a connection that has failed for
    ``window`` seconds (``io_timeout``): then the service is marked down for the run and the
    call fails with the connection's own error."""

    def __init__(self, service: str, window: float):
        self.service, self.window = service, window
        self.first = self.last = 0.0
        self.run = None

    def __call__(self, e: Exception) -> bool:
        if not unreachable(e):
            return _should_retry(e)
        now = time.monotonic()
        if now - self.last > self.window + _LONGEST_SLEEP or self.run != run_uuid():  # a new episode, or run
            self.first, self.run = now, run_uuid()
        self.last = now
        if now - self.first < self.window:
            return True
        mark_down(self.service, f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
        return False


def _run_file():
    return var_dir() / "runs" / f"{run_uuid()}-google-down.json"


def mark_down(service: str, why: str) -> None:
    """``service`` could not be reached in this run: later calls in the run fail at once."""
    key = (str(run_uuid()), service)
    if key in _down:
        return
    _down[key] = why
    logger.warning("%s could not be reached (%s): the rest of this run fails its %s work at once", service, why,
                   service)
    path = _run_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        found = json.loads(path.read_text()) if path.exists() else {}
        found[service] = {"why": why, "when": clock.now().isoformat(timespec="seconds")}
        tmp = path.with_suffix(f".{id(found)}.tmp")
        tmp.write_text(json.dumps(found))
        tmp.replace(path)
        cutoff = time.time() - _KEEP_SECONDS
        for old in path.parent.glob("*-google-down.json"):
            if old.stat().st_mtime < cutoff:
                old.unlink(missing_ok=True)
    except (OSError, ValueError) as e:  # this process still fails fast; the others find out themselves
        logger.warning("could not note that %s is down for the run's other processes: %s", service, e)


def check_up(service: str) -> None:
    """Raise at once when ``service`` was found unreachable earlier in this run."""
    why = _down.get((str(run_uuid()), service))
    if why is None:
        path = _run_file()
        if not path.exists():
            return
        try:
            why = json.loads(path.read_text()).get(service, {}).get("why")
        except (OSError, ValueError):
            return
        if why is None:
            return
        _down[(str(run_uuid()), service)] = why
    raise TransientError(f"{service} could not be reached earlier in this run ({why}); not asked again until the "
                         "next run")
