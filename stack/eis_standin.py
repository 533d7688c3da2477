"""A stand-in for Tennessee's EIS portal (the real one is not reachable from here), for the
demo, the tests and ``bench eis``. ``python -m stack.eis_standin --port N --user U`` (the
password in ``EIS_STANDIN_PASSWORD``) serves, like the portal:

- ``/login``: a form with a CSRF token tied to the session cookie; a wrong password shows
  "Invalid user name or password";
- ``/home``: the menus (reports, student look-up); every page needs a live session, which
  expires after ``--session-seconds`` idle or ``--session-requests`` requests (then ``/login?
  expired=1``);
- ``/reports/adm_audit`` and ``/reports/school_errors``: a school picker and date fields;
  *Generate* shows a "being prepared" page whose download link works only ``--report-delay``
  seconds later; the CSV then streams slowly (a partial ``.crdownload`` lingers);
- ``/students/lookup``: a student id in, the cohort record and the prior enrollments out
  (made up from the id, the same every time; ids starting with ``X`` are not found);
- every ``--error-every``-th request answers the portal's "unexpected error" page (500);
  more than ``--rate`` requests a second answer "Too many requests" (429);
- ``--expire-while-preparing N``: the first N sessions that ask for a report before it is
  ready are ended there (the portal's session timeout in the middle of a download);
- ``--error-first N``: the first N requests for a page under ``--error-path`` (default
  ``/reports/``) answer the error page;
- ``--layout-change REPORT``: that report comes with a renamed column (EIS changed its layout).

Synthetic data only; the schools are the demo district's (``stack/district.py`` numbering).
"""
from __future__ import annotations

import argparse
import hashlib
import html
import os
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCHOOLS = {"0010": "Springfield Elementary", "0020": "Shelbyville Middle", "0030": "Springfield High",
           "0040": "Capital City Academy"}
REPORTS = {"adm_audit": ("ADM Audit Student Membership",
                         ["School", "Student Key", "Grade", "Membership Days", "Start Date", "End Date"]),
           "school_errors": ("School Error Reports", ["School", "Error Code", "Student Key", "Description"])}
STATUSES = ["Active", "Graduated", "Transferred", "Dropped Out", "Active"]


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.sessions: dict[str, dict] = {}  # cookie -> {csrf, user, last, requests}
        self.jobs: dict[str, tuple[float, str, str, str, str]] = {}  # token -> (ready at, report, school, from, to)
        self.count = 0
        self.recent: list[float] = []
        self.logins = 0
        self.expire_left = args.expire_while_preparing
        self.errors_left = args.error_first


def _page(title: str, body: str) -> bytes:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body><div id='banner'>Education Information System</div>{body}</body></html>").encode()


def cohort_record(student: str) -> dict:
    h = int(hashlib.sha256(student.encode()).hexdigest(), 16)
    cohort = 2024 + h % 5
    return {"Student Key": student, "Cohort Year": str(cohort), "Entry Date": f"{cohort - 4}-08-{10 + h % 15:02d}",
            "Status": STATUSES[h % len(STATUSES)], "Withdrawal Code": "" if h % 7 else f"W{h % 90:02d}",
            "School": sorted(SCHOOLS)[h % len(SCHOOLS)]}


def prior_enrollments(student: str) -> list[dict]:
    h = int(hashlib.sha256(student.encode()).hexdigest()[:8], 16)
    out = []
    for i in range(1 + h % 3):
        year = 2022 + i
        out.append({"Student Key": student, "School Year": f"{year}-{year + 1}",
                    "District": f"{100 + (h >> i) % 80:04d}", "School": f"{(h >> (2 * i)) % 9000 + 100:04d}",
                    "Entry Date": f"{year}-08-{5 + i:02d}", "Exit Date": f"{year + 1}-05-{20 + i:02d}"})
    return out


def report_rows(report: str, school: str, start: str, end: str) -> list[list[str]]:
    h = int(hashlib.sha256(f"{report}{school}{start}{end}".encode()).hexdigest()[:8], 16)
    rows = []
    for i in range(20 + h % 30):
        key = f"{school}{i:05d}"
        if report == "adm_audit":
            rows.append([school, key, str(i % 12 + 1), str(150 + (h + i) % 30), start, end])
        else:
            rows.append([school, f"E{(h + i) % 40:03d}", key, f"Check record {i}"])
    return rows


class Handler(BaseHTTPRequestHandler):
    state: State

    def log_message(self, fmt, *args):
        pass

    # -- plumbing

    def _send(self, status: int, body: bytes, kind: str = "text/html; charset=utf-8", **headers) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k.replace("_", "-"), v)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, where: str, cookie: str | None = None) -> None:
        self.send_response(303)
        self.send_header("Location", where)
        if cookie:
            self.send_header("Set-Cookie", f"eis_session={cookie}; Path=/; HttpOnly")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _cookie(self) -> str | None:
        for part in (self.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == "eis_session":
                return v
        return None

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        return {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode()).items()}

    def _gate(self, path: str) -> bool:
        """The portal's hiccups: a rate limit and an intermittent error page."""
        s, a = self.state, self.state.args
        with s.lock:
            now = time.monotonic()
            s.recent = [t for t in s.recent if now - t < 1.0] + [now]
            s.count += 1
            limited = len(s.recent) > a.rate
            broken = a.error_every and s.count % a.error_every == 0
            if s.errors_left > 0 and path.startswith(a.error_path) and not limited:
                s.errors_left -= 1
                broken = True
        if limited:
            self._send(429, _page("Too many requests", "<h1>Too many requests</h1><p>Please slow down.</p>"),
                       Retry_After="1")
            return False
        if broken:
            self._send(500, _page("Error", "<h1 id='error'>An unexpected error has occurred</h1>"
                                           "<p>Please try again later.</p>"))
            return False
        return True

    def _session(self) -> dict | None:
        s, a = self.state, self.state.args
        cookie = self._cookie()
        with s.lock:
            sess = s.sessions.get(cookie or "")
            if not sess or not sess.get("user"):
                return None
            now = time.monotonic()
            if now - sess["last"] > a.session_seconds or sess["requests"] >= a.session_requests:
                del s.sessions[cookie]
                return None
            sess["last"], sess["requests"] = now, sess["requests"] + 1
            return sess

    # -- pages

    def do_GET(self):  # noqa: N802 (http.server's name)
        path, _, query = self.path.partition("?")
        if path == "/favicon.ico":  # browsers ask on their own: neither a page nor a session
            return self._send(404, b"", "image/x-icon")
        if not self._gate(path):
            return
        if path in ("/", "/login"):
            return self._login_form(expired="expired=1" in query)
        sess = self._session()
        if sess is None:
            return self._redirect("/login?expired=1")
        if path == "/home":
            links = "".join(f"<li><a id='menu-{r}' href='/reports/{r}'>{html.escape(t)}</a></li>"
                            for r, (t, _) in REPORTS.items())
            return self._send(200, _page("EIS Home", f"<h1>Welcome</h1><ul id='menu'>{links}"
                                                    "<li><a id='menu-lookup' href='/students/lookup'>Student Lookup"
                                                    "</a></li></ul>"))
        if path.startswith("/reports/download/"):
            return self._download(path.rsplit("/", 1)[1], self._cookie())
        if path.startswith("/reports/") and path.split("/")[2] in REPORTS:
            report = path.split("/")[2]
            options = "".join(f"<option value='{k}'>{k} {html.escape(v)}</option>" for k, v in SCHOOLS.items())
            return self._send(200, _page(REPORTS[report][0], (
                f"<h1>{REPORTS[report][0]}</h1><form method='post' action='/reports/{report}/generate'>"
                f"<input type='hidden' name='csrf' value='{sess['csrf']}'>"
                f"<select id='school' name='school'>{options}</select>"
                "<input id='start' name='start' type='date'><input id='end' name='end' type='date'>"
                "<button id='generate' type='submit'>Generate</button></form>")))
        if path == "/students/lookup":
            return self._send(200, _page("Student Lookup", self._lookup_form(sess)))
        self._send(404, _page("Not found", "<h1>Page not found</h1>"))

    def do_POST(self):  # noqa: N802
        path = self.path.partition("?")[0]
        form = self._form()
        if not self._gate(path):
            return
        if path == "/login":
            return self._login(form)
        sess = self._session()
        if sess is None:
            return self._redirect("/login?expired=1")
        if form.get("csrf") != sess["csrf"]:
            return self._send(403, _page("Forbidden", "<h1>Invalid request token</h1>"))
        if path.startswith("/reports/") and path.endswith("/generate"):
            report = path.split("/")[2]
            token = secrets.token_hex(8)
            with self.state.lock:
                self.state.jobs[token] = (time.monotonic() + self.state.args.report_delay, report,
                                          form.get("school", ""), form.get("start", ""), form.get("end", ""))
            return self._send(200, _page("Report", (
                "<h1>Your report is being prepared</h1><p>Refresh the link below when it is ready.</p>"
                f"<a id='download' href='/reports/download/{token}'>Download report</a>")))
        if path == "/students/lookup":
            student = form.get("student", "").strip()
            if not student or student.startswith("X"):
                body = "<p id='not-found'>No student found</p>"
            else:
                rec = cohort_record(student)
                body = "<table id='cohort'>" + "".join(
                    f"<tr><th>{k}</th><td class='{k.lower().replace(' ', '-')}'>{html.escape(v)}</td></tr>"
                    for k, v in rec.items()) + "</table><table id='prior'><tr>" + "".join(
                    f"<th>{k}</th>" for k in prior_enrollments(student)[0]) + "</tr>" + "".join(
                    "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r.values()) + "</tr>"
                    for r in prior_enrollments(student)) + "</table>"
            return self._send(200, _page("Student Lookup", self._lookup_form(sess) + body))
        self._send(404, _page("Not found", "<h1>Page not found</h1>"))

    def _lookup_form(self, sess) -> str:
        return ("<h1>Student Lookup</h1><form method='post' action='/students/lookup'>"
                f"<input type='hidden' name='csrf' value='{sess['csrf']}'>"
                "<input id='student' name='student'><button id='search' type='submit'>Search</button></form>")

    def _login_form(self, expired: bool) -> None:
        cookie = secrets.token_hex(16)
        csrf = secrets.token_hex(16)
        with self.state.lock:
            self.state.sessions[cookie] = {"csrf": csrf, "user": None, "last": time.monotonic(), "requests": 0}
        note = "<p id='expired'>Your session has expired. Please sign in again.</p>" if expired else ""
        body = _page("EIS Login", (
            f"<h1>Sign in</h1>{note}<form method='post' action='/login'>"
            f"<input type='hidden' name='csrf' value='{csrf}'>"
            "<input id='username' name='username'><input id='password' name='password' type='password'>"
            "<button id='signin' type='submit'>Sign in</button></form>"))
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Set-Cookie", f"eis_session={cookie}; Path=/; HttpOnly")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _login(self, form: dict) -> None:
        s = self.state
        cookie = self._cookie()
        with s.lock:
            sess = s.sessions.get(cookie or "")
            token_ok = sess is not None and form.get("csrf") == sess["csrf"]
        if not token_ok:
            return self._send(403, _page("Forbidden", "<h1>Invalid request token</h1>"))
        if form.get("username") != s.args.user or form.get("password") != os.environ.get("EIS_STANDIN_PASSWORD"):
            return self._send(200, _page("EIS Login", "<h1>Sign in</h1><p id='login-error'>Invalid user name or "
                                                      "password</p>"))
        with s.lock:
            sess.update(user=form["username"], last=time.monotonic(), requests=0)
            s.logins += 1
        self._redirect("/home")

    def _download(self, token: str, cookie: str | None) -> None:
        s = self.state
        with s.lock:
            job = s.jobs.get(token)
        if job is None:
            return self._send(404, _page("Not found", "<h1>No such report</h1>"))
        ready, report, school, start, end = job
        if time.monotonic() < ready:
            with s.lock:
                end_it = s.expire_left > 0
                if end_it:
                    s.expire_left -= 1
                    s.sessions.pop(cookie or "", None)
            if end_it:
                return self._redirect("/login?expired=1")
            return self._send(200, _page("Report", "<h1 id='not-ready'>Your report is not ready yet</h1>"))
        header = list(REPORTS[report][1])
        if report == s.args.layout_change:
            header[-1] = f"{header[-1]} (new)"
        lines = [",".join(header)] + [",".join(r) for r in report_rows(report, school, start, end)]
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Disposition", f"attachment; filename={report}_{school}.csv")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        step = max(1, len(body) // 4)
        for i in range(0, len(body), step):  # slowly: the browser keeps a partial file meanwhile
            self.wfile.write(body[i:i + step])
            self.wfile.flush()
            time.sleep(self.state.args.chunk_delay)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="stack.eis_standin")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", default="district_etl")
    p.add_argument("--session-seconds", type=float, default=600)
    p.add_argument("--session-requests", type=int, default=400)
    p.add_argument("--report-delay", type=float, default=1.5)
    p.add_argument("--chunk-delay", type=float, default=0.2)
    p.add_argument("--error-every", type=int, default=37)
    p.add_argument("--rate", type=int, default=40)
    p.add_argument("--expire-while-preparing", type=int, default=0)
    p.add_argument("--layout-change", choices=sorted(REPORTS))
    p.add_argument("--error-first", type=int, default=0)
    p.add_argument("--error-path", default="/reports/")
    args = p.parse_args(argv)
    Handler.state = State(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
