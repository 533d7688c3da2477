"""A stand-in for MeetMax's event pages, for the demo and the tests (the real site is not
reachable from here). ``python -m stack.meetmax_standin --port N`` serves:

- ``/sched/event_<id>/__co-list_cp.html``: an event's company-list page, which is
  - public, with a "Download (XLS)" link, for 119179, 119180 (answers 429 with Retry-After: 1
    to its first request), 119183 (answers after 1.5 s);
  - private (a login notice, no link) for 119181;
  - missing (404) for 119182, forbidden (403) for 119184, missing for any other id;
- ``/sched/event_<id>/__co-list_cp.xls``: the list of a public event (synthetic companies).
"""
from __future__ import annotations

import argparse
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PUBLIC = {119179: "Spring Growth Conference", 119180: "Healthcare Investor Forum", 119183: "Midwest Small-Cap Day"}
PRIVATE, FORBIDDEN, SLOW, LIMITED = {119181}, {119184}, {119183}, {119180}
_PAGE = re.compile(r"^/sched/event_(\d+)/__co-list_cp\.(html|xls)$")
_seen: set[int] = set()
_lock = threading.Lock()


def company_list(event: int) -> bytes:
    """The event's company list as the XLS download (CSV text in this stand-in's file)."""
    rows = ["Company,Ticker,Sector,Attending"] + [f"Company {event}-{i},T{event % 1000:03d}{i},Sector {i % 4},Yes"
                                                  for i in range(1, 21)]
    return ("\n".join(rows) + "\n").encode()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):  # quiet: the tests read status codes, not logs
        pass

    def _send(self, status: int, body: bytes = b"", kind: str = "text/html; charset=utf-8", **headers) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        m = _PAGE.match(self.path.split("?")[0])
        if not m:
            return self._send(404, b"<html><title>Not Found</title></html>")
        event, ext = int(m.group(1)), m.group(2)
        if event in FORBIDDEN:
            return self._send(403, b"<html><title>Forbidden</title></html>")
        if event in LIMITED:
            with _lock:
                first = event not in _seen
                _seen.add(event)
            if first:
                return self._send(429, b"<html><title>Too Many Requests</title></html>", Retry_After="1")
        if event in SLOW:
            time.sleep(1.5)
        if event in PRIVATE and ext == "html":
            return self._send(200, b"<html><head><title>MeetMax - Private Event</title></head><body>This event is"
                                   b" private. Please log in to view the company list.</body></html>")
        if event not in PUBLIC:
            return self._send(404, b"<html><title>Event Not Found</title></html>")
        if ext == "xls":
            return self._send(200, company_list(event), kind="application/vnd.ms-excel")
        title = PUBLIC[event]
        body = (f"<html><head><title>{title} - Company List</title></head><body><h1>{title}</h1>"
                f"<a href=\"/sched/event_{event}/__co-list_cp.xls\">Download (XLS)</a></body></html>")
        return self._send(200, body.encode())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="stack.meetmax_standin")
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args(argv)
    ThreadingHTTPServer(("127.0.0.1", args.port), _Handler).serve_forever()


if __name__ == "__main__":
    main()
