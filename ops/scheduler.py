"""``./run.sh scheduler``: Luigi's central scheduler (luigid) and its visualiser, set up for an
operator who looks in the morning at what ran in the night:

- its state (the task graph, what failed) is kept in ``<var>/luigid/state.pickle``: saved every
  five minutes and when it stops, loaded when it starts, so a restart loses nothing;
- finished and failed tasks stay visible for ``[scheduler] remove_delay`` seconds (luigi.cfg:
  a day; Luigi's own default, ten minutes, empties the page before anyone looks);
- task history is on (``/history``): SQLite in ``<var>/luigid/history.sqlite``, or the
  database of ``[task_history] db_connection`` (an SQLAlchemy URL, e.g. PostgreSQL);
- the visualiser's "Command to re-run" is the ``./run.sh luigi ...`` form operators type, and
  the history pages load nothing from the internet (Luigi's fetch d3 from a CDN).

While it runs, ``<var>/luigid.pid`` and ``<var>/luigid.url`` say where it is: ``./run.sh
luigi`` and the demo then run through it (``scheduler_url()``); otherwise they use a local
scheduler. ``--address`` / ``--port`` (default 127.0.0.1:8082, or ``ETL_SCHEDULER_PORT``).
"""
from __future__ import annotations

import argparse
import json
import logging
from html import escape
import os
import signal
import sys
from pathlib import Path

import luigi
import luigi.configuration

from pipelines.base import timezone, var_dir
from pipelines.workers import apply_session_limits
from targets import clock
from targets.luigi_patches import history_templates

ROOT = Path(__file__).resolve().parent.parent
RERUN = "luigi --module {{taskModule}} {{taskFamily}} {{taskParams}}"


def scheduler_url(var: Path | None = None) -> str | None:
    """Where this installation's luigid listens, if it is running (``ETL_SCHEDULER_URL`` first)."""
    if os.environ.get("ETL_SCHEDULER_URL"):
        return os.environ["ETL_SCHEDULER_URL"]
    var = var or var_dir()
    try:
        pid = int((var / "luigid.pid").read_text())
        url = (var / "luigid.url").read_text().strip()
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return url or None


def build_kwargs(var: Path | None = None) -> dict:
    """``luigi.build`` arguments: the running luigid, else a local scheduler."""
    url = scheduler_url(var)
    return {"scheduler_url": url} if url else {"local_scheduler": True}


def visualiser_index(zone: str = "UTC") -> bytes:
    """Luigi's visualiser page with the re-run command in the form operators type, and its times
    (the page writes them with the browser's ``toLocaleString()``: the browser's zone, unnamed)
    in the district's zone with its name."""
    page = (Path(luigi.__file__).parent / "static" / "visualiser" / "index.html").read_text(encoding="utf-8")
    if RERUN not in page or "<head>" not in page:  # a Luigi upgrade moved them: say so rather than show it wrong
        raise RuntimeError("luigi's visualiser/index.html no longer holds the re-run command; update ops/scheduler.py")
    times = ("<head><script>(function () { var local = Date.prototype.toLocaleString;"
             " Date.prototype.toLocaleString = function (locales, options) { return local.call(this, locales,"
             f" options || {{timeZone: {json.dumps(zone)}, timeZoneName: 'short'}}); }}; }})();</script>")
    return page.replace(RERUN, "./run.sh " + RERUN).replace("<head>", times, 1).encode()


def offline_templates(dest: Path, zone: str = "UTC") -> Path:
    """Luigi's history pages without the scripts they fetch from a CDN on the internet (a
    district's server may have none, and nothing here may reach it): the tables are the same,
    the duration charts are left out."""
    dest.mkdir(parents=True, exist_ok=True)
    for page in (Path(luigi.__file__).parent / "templates").glob("*.html"):
        lines = page.read_text(encoding="utf-8").splitlines(keepends=True)
        text = "".join(line for line in lines if "cdnjs.cloudflare.com" not in line)
        if page.name == "layout.html":  # the times shown carry no zone: say which it is, once per page
            text = text.replace("{% block content %}{% end %}",
                                f"<p class=\"text-muted\">Times are {escape(zone)}.</p>{{% block content %}}{{% end %}}")
        (dest / page.name).write_text(text, encoding="utf-8")
    return dest


def configure(state_dir: Path) -> None:
    cfg = luigi.configuration.get_config()
    cfg.set("scheduler", "state_path", str(state_dir / "state.pickle"))
    cfg.set("scheduler", "record_task_history", "true")
    if not cfg.get("task_history", "db_connection", ""):
        cfg.set("task_history", "db_connection", f"sqlite:///{state_dir / 'history.sqlite'}")


def make_app(scheduler):
    import luigi.server
    import tornado.routing
    import tornado.web
    index = visualiser_index(timezone())
    templates = str(offline_templates(Path(luigi.configuration.get_config().get("scheduler", "state_path")).parent
                                      / "templates", timezone()))
    history_templates(templates)  # this process only (targets/luigi_patches.py)

    class Index(tornado.web.RequestHandler):
        def get(self):
            self.set_header("Content-Type", "text/html; charset=UTF-8")
            self.write(index)

    return tornado.web.Application([(r"/static/visualiser/(?:index\.html)?", Index),
                                    (tornado.routing.AnyMatches(), luigi.server.app(scheduler))])


def serve(address: str, port: int, var: Path) -> None:
    import tornado.httpserver
    import tornado.ioloop
    import tornado.netutil
    from luigi.scheduler import Scheduler
    state_dir = var / "luigid"
    state_dir.mkdir(parents=True, exist_ok=True)
    configure(state_dir)
    apply_session_limits()  # [sftp_<server>] max_sessions: for every worker that asks this luigid
    scheduler = Scheduler()
    scheduler.load()
    server = tornado.httpserver.HTTPServer(make_app(scheduler))
    sockets = tornado.netutil.bind_sockets(port, address=address)
    server.add_sockets(sockets)
    bound = sockets[0].getsockname()[1]
    url = f"http://{address}:{bound}"
    (var / "luigid.url").write_text(url + "\n")
    (var / "luigid.pid").write_text(f"{os.getpid()}\n")
    loop = tornado.ioloop.IOLoop.current()
    # a killed worker's running task is freed at the first prune after worker_disconnect_delay
    # (60 s): prune as often as that, not only every minute as Luigi's own server does
    delay = luigi.configuration.get_config().getfloat("scheduler", "worker_disconnect_delay", 60.0)
    tornado.ioloop.PeriodicCallback(scheduler.prune, max(1.0, min(60.0, delay)) * 1000).start()
    tornado.ioloop.PeriodicCallback(scheduler.dump, 300_000).start()  # a killed luigid loses 5 minutes at most

    def on_signal(signum, frame):
        loop.add_callback_from_signal(loop.stop)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(sig, on_signal)
    print(f"luigid: the visualiser is at {url} (state and history in {state_dir})", flush=True)
    try:
        loop.start()
    finally:
        scheduler.dump()
        for name in ("luigid.pid", "luigid.url"):
            (var / name).unlink(missing_ok=True)


def stop(var: Path, wait: float = 30.0) -> int:
    """``./run.sh scheduler stop``: end this installation's luigid (it saves its state as it
    stops); exit 0 when it has gone, 1 when there was none."""
    import time
    try:
        pid = int((var / "luigid.pid").read_text())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        print(f"luigid is not running (no live pid in {var / 'luigid.pid'})")
        return 1
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:  # it removes its pid file once its state is saved (a process not yet reaped may linger)
            os.kill(pid, 0)
            gone = not (var / "luigid.pid").exists()
        except ProcessLookupError:
            gone = True
        if gone:
            print(f"luigid (pid {pid}) stopped; its state is saved. Runs use the local scheduler until it is started "
                  "again.")
            return 0
        time.sleep(0.1)
    print(f"luigid (pid {pid}) did not stop within {wait:.0f} s", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="run.sh scheduler")
    ap.add_argument("action", nargs="?", choices=["start", "stop"], default="start",
                    help="start (the default: run luigid in the foreground) or stop the running one")
    ap.add_argument("--address", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=int(os.environ.get("ETL_SCHEDULER_PORT") or 8082))
    ap.add_argument("--logdir", type=Path, default=ROOT / "logs")
    args = ap.parse_args(argv)
    if args.action == "stop":
        return stop(var_dir())
    clock.use_zone(timezone())  # the history's times (Luigi stamps them in local time) are the district's
    args.logdir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=args.logdir / "luigid.log", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%Y-%m-%d %H:%M:%S %Z")
    logging.getLogger("tornado.access").setLevel(logging.WARNING)  # not a line per worker poll
    if scheduler_url() and not os.environ.get("ETL_SCHEDULER_URL"):
        print(f"luigid is already running at {scheduler_url()} (pid in {var_dir() / 'luigid.pid'})", file=sys.stderr)
        return 3
    serve(args.address, args.port, var_dir())
    return 0


if __name__ == "__main__":
    sys.exit(main())
