"""The EIS portal through a headless browser: Selenium 4 driving Debian's Chromium
(``/usr/bin/chromium``) with its chromedriver (``/usr/bin/chromedriver``; nothing is
downloaded at run time). One client, like the SFTP and BigQuery ones, with a page object per
portal page and the portal's habits handled in one place:

- pages are waited for explicitly (``WebDriverWait`` on a condition), never by a fixed sleep;
  the only sleeps are the pacing (requests at least ``pace`` seconds apart) and the backoff;
- a session that expired (the portal sends us to its login page) logs in again and the step is
  repeated; the portal's error page, a rate-limit page or a timeout is retried with exponential
  backoff (``retries``, ``backoff``); wrong credentials fail at once (``LoginError``), never
  retried;
- a download counts as complete when no partial (``.crdownload``) file remains and its size is
  stable; its header is checked, then it is moved into place atomically;
- on a failure, a screenshot and the page source go to ``evidence_dir`` (default
  ``logs/eis``) with mode 0600 and are deleted after ``evidence_days``: they may show student
  data. Their names carry the step and the time, never credentials.

Settings: ``[eis] url, user, password = ${EIS_PASSWORD}, download_dir, page_timeout,
download_timeout, pace, retries, backoff, chromium, chromedriver, evidence_dir, evidence_days``.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

from targets import clock
from targets.config import Section
from targets.errors import BadInputError, ConfigError, TransientError
from targets.local import atomic_path

logger = logging.getLogger(__name__)
T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


class LoginError(ConfigError):
    """The portal refused the user name or password: fixing the setting is the only remedy."""


class SessionExpired(Exception):
    """The portal showed its login page in the middle of a step."""


class PortalHiccup(Exception):
    """The portal's error page or rate-limit page: worth another try."""


@dataclass(frozen=True)
class EisSettings:
    url: str
    user: str
    password: str = field(repr=False)
    download_dir: Path
    page_timeout: float = 30.0
    download_timeout: float = 120.0
    pace: float = 0.25
    retries: int = 4
    backoff: float = 1.0
    chromium: str = "/usr/bin/chromium"
    chromedriver: str = "/usr/bin/chromedriver"
    evidence_dir: Path = ROOT / "logs" / "eis"
    evidence_days: int = 7

    @classmethod
    def from_config(cls, section: str = "eis") -> "EisSettings":
        s = Section(section)
        password = s.secret("password")
        if not password:
            raise ConfigError(f"[{section}] password is empty (password = ${{EIS_PASSWORD}} and the variable set)")
        return cls(url=s.str("url", required=True).rstrip("/"), user=s.str("user", required=True),
                   password=password, download_dir=s.path("download_dir", required=True),
                   page_timeout=s.float("page_timeout", 30.0), download_timeout=s.float("download_timeout", 120.0),
                   pace=s.float("pace", 0.25), retries=s.int("retries", 4), backoff=s.float("backoff", 1.0),
                   chromium=s.str("chromium", "/usr/bin/chromium"),
                   chromedriver=s.str("chromedriver", "/usr/bin/chromedriver"),
                   evidence_dir=s.path("evidence_dir", default=str(ROOT / "logs" / "eis")),
                   evidence_days=s.int("evidence_days", 7))


# ---------------------------------------------------------------- page objects

class Page:
    """One portal page: how to recognise it and what can be done on it."""

    def __init__(self, browser: "EisBrowser"):
        self.b = browser
        self.d = browser.driver

    def find(self, css: str):
        from selenium.webdriver.common.by import By
        return self.d.find_element(By.CSS_SELECTOR, css)

    def present(self, css: str) -> bool:
        from selenium.webdriver.common.by import By
        return bool(self.d.find_elements(By.CSS_SELECTOR, css))


class LoginPage(Page):
    def sign_in(self, user: str, password: str) -> None:
        self.find("#username").send_keys(user)
        self.find("#password").send_keys(password)
        self.find("#signin").click()
        self.b.wait(lambda d: "/home" in d.current_url or self.present("#login-error") or self.b.hiccup(),
                    "the sign-in to answer")
        if "/home" in self.d.current_url:  # signed in (even if the home page itself is the error page)
            return
        if self.b.hiccup():  # the error page in answer to the sign-in: tried again, not a refusal
            raise PortalHiccup(self.d.title)
        if self.present("#login-error"):
            raise LoginError(f"EIS refused the sign-in of user {self.b.settings.user!r}: check [eis] user and "
                             "password (EIS_PASSWORD); not retried, so the account is not locked")


class ReportPage(Page):
    def generate(self, school: str, start: dt.date, end: dt.date) -> str:
        """Ask for the report; the link its download will be at."""
        from selenium.webdriver.support.ui import Select
        Select(self.find("#school")).select_by_value(school)
        for css, day in (("#start", start), ("#end", end)):
            self.d.execute_script("arguments[0].value = arguments[1]", self.find(css), day.isoformat())
        self.find("#generate").click()
        self.b.wait(lambda d: self.present("#download") or self.b.hiccup() or self.b.expired(),
                    "the report to be prepared")
        self.b.check()
        return self.find("#download").get_attribute("href")


class LookupPage(Page):
    """The student look-up form: its CSRF token and the signed-in session are what
    ``EisBrowser.lookup_many`` posts with."""


# ---------------------------------------------------------------- the client

class EisBrowser:
    """One browser session on the portal (use as a context manager; one per worker)."""

    def __init__(self, settings: EisSettings):
        self.settings = settings
        self.driver = None
        self._last = 0.0
        self.logins = 0
        self._sizes: dict[Path, int] = {}  # the last size seen of a download in progress

    @classmethod
    def from_config(cls) -> "EisBrowser":
        return cls(EisSettings.from_config())

    def __enter__(self) -> "EisBrowser":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        from targets.browser import headless_chromium
        s = self.settings
        s.download_dir.mkdir(parents=True, exist_ok=True)
        self.driver = headless_chromium(s.chromium, s.chromedriver, download_dir=s.download_dir)
        self.driver.set_page_load_timeout(s.page_timeout)
        self._prune_evidence()

    def close(self) -> None:
        if self.driver is not None:
            with contextlib.suppress(Exception):
                self.driver.quit()
            self.driver = None

    # -- waiting, pacing, recognising the portal's answers

    def wait(self, condition: Callable, what: str, timeout: float | None = None, poll: float = 0.1):
        from selenium.webdriver.support.ui import WebDriverWait
        return WebDriverWait(self.driver, timeout or self.settings.page_timeout, poll_frequency=poll).until(
            condition, f"waited for {what}")

    def paced(self) -> None:
        pause = self.settings.pace - (time.monotonic() - self._last)
        if pause > 0:
            time.sleep(pause)
        self._last = time.monotonic()

    def get(self, path: str) -> None:
        self.paced()
        self.driver.get(self.settings.url + path)
        self.check()

    def hiccup(self) -> bool:
        title = (self.driver.title or "").lower()
        return title in ("error", "too many requests")

    def expired(self) -> bool:
        url = self.driver.current_url or ""
        return "/login" in url and "expired=1" in url

    def check(self) -> None:
        """Raise what the current page means if it is not the page asked for."""
        if self.hiccup():
            raise PortalHiccup(self.driver.title)
        if self.expired():
            raise SessionExpired()

    def login(self) -> None:
        self.paced()
        self.driver.get(self.settings.url + "/login")
        if self.hiccup():
            raise PortalHiccup(self.driver.title)
        LoginPage(self).sign_in(self.settings.user, self.settings.password)
        self.logins += 1
        logger.info("signed in to EIS (%d sign-ins this session)", self.logins)

    def step(self, what: str, action: Callable[[], T], done: Callable[[], int] | None = None) -> T:
        """Run a step: log in again when the session expired, retry the portal's hiccups and
        timeouts with backoff; a step that fails for good (whatever the reason) leaves evidence.
        ``done`` (for a step that keeps its partial work, like a batch of look-ups): how much is
        done; tries are counted afresh whenever it grew, so only failures in a row add up."""
        try:
            return self._retried(what, action, done)
        except Exception:
            self.evidence(what)
            raise

    def _retried(self, what: str, action: Callable[[], T], done: Callable[[], int] | None) -> T:
        from selenium.common.exceptions import TimeoutException, WebDriverException
        attempt, relogins, signed_in = 0, 0, self.logins > 0
        mark = done() if done else 0
        while True:
            try:
                if not signed_in:
                    self.login()
                    signed_in = True
                return action()
            except (SessionExpired, PortalHiccup, TimeoutException, WebDriverException) as e:
                if done is not None and done() != mark:  # it got further before failing: a new series
                    mark, attempt, relogins = done(), 0, 0
                if isinstance(e, SessionExpired):
                    relogins += 1
                    if relogins > self.settings.retries:  # a portal that logs us out at once: not a loop
                        raise TransientError(f"EIS {what}: the session expired {relogins} times in a row") from None
                    logger.info("EIS session expired during %s: signing in again", what)
                    signed_in = False
                    continue
                attempt += 1  # the portal's error or rate-limit page, a timeout, a refused connection
                if attempt > self.settings.retries:
                    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
                    raise TransientError(f"EIS {what}: {type(e).__name__} {text} after {attempt} tries "
                                         "in a row") from e
                delay = self.settings.backoff * 2 ** (attempt - 1)
                logger.warning("EIS %s: %s; try %d of %d in %.1f s", what, type(e).__name__, attempt + 1,
                               self.settings.retries + 1, delay)
                time.sleep(delay)

    # -- what the pipelines ask for

    def download_report(self, report: str, school: str, start: dt.date, end: dt.date, dest: Path,
                        header: list[str], group: str | None = None) -> int:
        """A report for one school and period → ``dest`` (atomically); returns its bytes."""
        def run() -> int:
            self.get(f"/reports/{report}")
            link = ReportPage(self).generate(school, start, end)
            before = set(os.listdir(self.settings.download_dir))
            self.wait(lambda d: self._fetch(link, before), f"{report} {school} to be ready",
                      self.settings.download_timeout, poll=0.5)
            done = self.wait(lambda d: self._complete(before), f"the {report} {school} download",
                             self.settings.download_timeout, poll=0.2)
            return self._place(done, dest, header, group)
        return self.step(f"report {report} for school {school}", run)

    def _fetch(self, link: str, before: set[str]) -> bool:
        """Ask for the download; True once the browser has started writing it."""
        if set(os.listdir(self.settings.download_dir)) - before:
            return True
        self.paced()
        self.driver.get(link)
        if self.hiccup():
            return False  # the error page or the rate limit while polling: poll again
        self.check()
        return bool(set(os.listdir(self.settings.download_dir)) - before)

    def _complete(self, before: set[str]):
        """The finished download's path once no partial file remains and its size is stable."""
        folder = self.settings.download_dir
        new = sorted(set(os.listdir(folder)) - before)
        if not new or any(n.endswith((".crdownload", ".tmp")) or n.startswith(".com.google") for n in new):
            self._sizes = {}
            return False
        path = folder / new[0]
        size = path.stat().st_size
        stable = self._sizes.get(path) == size
        self._sizes = {path: size}
        return path if stable and size > 0 else False

    def _place(self, downloaded: Path, dest: Path, header: list[str], group: str | None) -> int:
        with open(downloaded, encoding="utf-8-sig", newline="") as fh:
            first = fh.readline().rstrip("\r\n").split(",")
        if first != header:
            kept = self._keep(downloaded)
            missing = [c for c in header if c not in first]
            extra = [c for c in first if c not in header]
            rule = (f"EIS changed the report's layout: columns {missing} missing, {extra} new" if missing or extra
                    else f"the columns are in another order: {first}")
            raise BadInputError(downloaded.name, f"{rule}, expected {header}; the download is kept as {kept} (mode "
                                "0600); if the new layout is right, update REPORT_HEADERS in pipelines/eis.py", row=1)
        with atomic_path(dest, group=group) as tmp:
            shutil.copyfile(downloaded, tmp)
        size = downloaded.stat().st_size
        downloaded.unlink()
        return size

    def lookup(self, student: str) -> tuple[dict | None, list[dict]]:
        """One student's cohort record (None if EIS does not know the id) and prior enrollments."""
        return self.lookup_many([student])[student]

    # The look-up form posted from inside the signed-in page, for several students in one call:
    # the same requests a person's clicks make (session cookie, CSRF token, paced), without a
    # page load and a render per student (which cost a core on its own: docs/eis.md).
    BATCH = """
        const [ids, pace, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
        const csrf = document.querySelector("input[name=csrf]").value;
        const table = (doc, id) => { const t = doc.getElementById(id); return t ?
            Array.from(t.rows).map(r => Array.from(r.cells).map(c => c.textContent)) : null; };
        (async () => {
            const out = [];
            for (const id of ids) {
                try {
                    const r = await fetch("/students/lookup", {method: "POST", credentials: "same-origin",
                        headers: {"Content-Type": "application/x-www-form-urlencoded"},
                        body: new URLSearchParams({csrf: csrf, student: id})});
                    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
                    if (r.url.includes("/login")) { out.push({id: id, state: "expired"}); break; }
                    if (r.status === 429 || r.status >= 500 || !doc.getElementById("student")) {
                        out.push({id: id, state: "hiccup", title: doc.title || String(r.status)}); break; }
                    out.push({id: id, state: doc.getElementById("not-found") ? "missing" : "found",
                              cohort: table(doc, "cohort"), prior: table(doc, "prior")});
                } catch (e) { out.push({id: id, state: "hiccup", title: String(e)}); break; }
                await new Promise(res => setTimeout(res, pace));
            }
            done(out);
        })();"""

    def lookup_many(self, students: list[str], batch: int = 20,
                    progress: Callable[[int], None] | None = None) -> dict[str, tuple[dict | None, list[dict]]]:
        """Each student's cohort record (None if EIS does not know the id) and prior enrollments.
        A hiccup or an expired session part-way keeps the answers so far and goes on from there."""
        found: dict[str, tuple[dict | None, list[dict]]] = {}

        def one_batch() -> None:
            """Up to ``batch`` more answers; those before a hiccup are kept when it is raised."""
            if not LookupPage(self).present("#student"):
                self.get("/students/lookup")
            todo = [s for s in students if s not in found][:batch]
            self.driver.set_script_timeout(self.settings.page_timeout + batch * (self.settings.pace + 1))
            for answer in self.driver.execute_async_script(self.BATCH, todo, int(self.settings.pace * 1000)):
                if answer["state"] == "expired":
                    raise SessionExpired()
                if answer["state"] == "hiccup":
                    raise PortalHiccup(answer.get("title") or "error")
                if answer["state"] == "missing":
                    found[answer["id"]] = (None, [])
                    continue
                header, *rows = answer["prior"] or [[]]
                found[answer["id"]] = ({k: v for k, v in answer["cohort"]}, [dict(zip(header, r)) for r in rows])

        while len(found) < len(students):  # a batch is a step; tries count afresh after each answer
            self.step(f"look-up of students from {next(s for s in students if s not in found)}", one_batch,
                      done=lambda: len(found))
            if progress is not None:
                progress(len(found))
        return found

    # -- evidence of failures

    def evidence(self, what: str) -> list[Path]:
        """A screenshot and the page source of a failed step, readable by the owner only."""
        if self.driver is None:
            return []
        folder = self.settings.evidence_dir
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        stem = f"{clock.now():%Y%m%dT%H%M%SZ}-{''.join(c if c.isalnum() else '_' for c in what)[:60]}"
        n = 1
        while (folder / f"{stem}.png").exists():  # two failures of a step in one second: both kept
            n += 1
            stem = f"{stem.rsplit('~', 1)[0]}~{n}"
        saved = []
        with contextlib.suppress(Exception):
            png, html_file = folder / f"{stem}.png", folder / f"{stem}.html"
            fd = os.open(png, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.driver.get_screenshot_as_png())
            fd = os.open(html_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.driver.page_source)
            saved = [png, html_file]
            logger.error("EIS %s failed; screenshot and page source (mode 0600) in %s", what, folder)
        return saved

    def _keep(self, downloaded: Path) -> Path:
        """A download refused by a check, set aside with the evidence (it holds student data)."""
        folder = self.settings.evidence_dir
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        kept = folder / f"{clock.now():%Y%m%dT%H%M%SZ}-{downloaded.name}"
        os.chmod(downloaded, 0o600)
        shutil.move(downloaded, kept)
        return kept

    def _prune_evidence(self) -> None:
        folder = self.settings.evidence_dir
        if not folder.is_dir():
            return
        cutoff = time.time() - self.settings.evidence_days * 86400
        for path in folder.iterdir():
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
