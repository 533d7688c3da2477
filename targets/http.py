"""A polite HTTP client for sites we scrape (MeetMax), from a ``[<section>]`` of luigi.cfg:
``base_url``, ``user_agent``, ``timeout`` (seconds, connect and read), ``retries`` (for
connection errors and 429/500/502/503/504, with exponential ``backoff`` and jitter; a
``Retry-After`` header is obeyed), ``rate_per_second`` (requests are spaced so the site never
sees more; one worker by default). On requests + urllib3's ``Retry``.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from targets.config import Section
from targets.errors import TransientError
from targets.local import atomic_path

DEFAULT_AGENT = "district-etl feeds checker (+https://github.com/district-etl; contact the data team)"


@dataclass(frozen=True)
class HttpSettings:
    base_url: str
    user_agent: str = DEFAULT_AGENT
    timeout: float = 20.0
    retries: int = 4
    backoff: float = 1.0
    rate_per_second: float = 1.0

    @classmethod
    def from_config(cls, section: str) -> "HttpSettings":
        s = Section(section)
        return cls(base_url=s.str("base_url", required=True).rstrip("/"), user_agent=s.str("user_agent", DEFAULT_AGENT),
                   timeout=s.float("timeout", 20.0), retries=s.int("retries", 4), backoff=s.float("backoff", 1.0),
                   rate_per_second=s.float("rate_per_second", 1.0))


@dataclass
class Page:
    url: str
    status: int
    text: str


class HttpClient:
    def __init__(self, settings: HttpSettings):
        self.settings = settings
        retry = Retry(total=settings.retries, connect=settings.retries, read=settings.retries,
                      status=settings.retries, backoff_factor=settings.backoff, backoff_jitter=settings.backoff / 2,
                      status_forcelist=(429, 500, 502, 503, 504), allowed_methods=frozenset({"GET", "HEAD"}),
                      respect_retry_after_header=True, raise_on_status=False)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = settings.user_agent
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        self._lock = threading.Lock()
        self._last = 0.0
        self.requests = 0

    @classmethod
    def from_config(cls, section: str) -> "HttpClient":
        return cls(HttpSettings.from_config(section))

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.settings.base_url}/{path.lstrip('/')}"

    def _pace(self) -> None:
        """Space requests to at most ``rate_per_second`` (retries inside urllib3 wait on their own)."""
        with self._lock:
            wait = self._last + 1.0 / self.settings.rate_per_second - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()
            self.requests += 1

    def get(self, path: str) -> Page:
        """A page, after any retries: its final status and text (4xx are answers, not errors)."""
        url = self.url(path)
        self._pace()
        try:
            r = self.session.get(url, timeout=self.settings.timeout)
        except requests.RequestException as e:
            raise TransientError(f"GET {url}: {type(e).__name__}: {e}") from e
        return Page(url, r.status_code, r.text)

    def download(self, path: str, local: str | os.PathLike) -> int:
        """A file, streamed to an atomic local file; returns its size. Non-200 is an error."""
        url = self.url(path)
        self._pace()
        try:
            with self.session.get(url, timeout=self.settings.timeout, stream=True) as r:
                if r.status_code != 200:
                    raise TransientError(f"GET {url}: HTTP {r.status_code}")
                size = 0
                with atomic_path(local) as tmp, open(tmp, "wb") as fh:
                    for block in r.iter_content(1 << 16):
                        fh.write(block)
                        size += len(block)
        except requests.RequestException as e:
            raise TransientError(f"GET {url}: {type(e).__name__}: {e}") from e
        return size
