"""./run.sh scheduler (ops/scheduler.py) seen in real headless Chromium during a real run of a
slot (the EIS cohort scrape against the stack's stand-in, through luigid): the task graph, a
progress value while a chunk runs, the history page afterwards; tasks kept over a restart of
luigid; the re-run command in the ./run.sh form; nothing fetched from the internet. The
screenshots are saved under logs/screenshots/ (and, with ETL_UPDATE_SCREENSHOTS=1, as the
README's docs/images/visualiser*.png)."""
from __future__ import annotations

import configparser
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

import stack
from ops.scheduler import scheduler_url
from stack import free_port, wait_port

DAY = dt.date(2026, 11, 24)
SHOTS = stack.ROOT / "logs" / "screenshots"


def _luigid(var, port) -> subprocess.Popen:
    env = dict(os.environ, ETL_VAR=str(var), PYTHONPATH=str(stack.ROOT))
    env.pop("ETL_SCHEDULER_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "ops.scheduler", "--port", str(port), "--logdir", str(var / "logs")],
                            cwd=stack.ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_port(port, 20, "luigid", var / "logs" / "luigid.log")
    # it listens a moment before it writes where (luigid.url, luigid.pid): on a busy machine a
    # test could look in between
    deadline = time.monotonic() + 10
    while scheduler_url(var) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc


def _api(url: str, method: str, **data):
    query = urllib.parse.quote(json.dumps(data))
    with urllib.request.urlopen(f"{url}/api/{method}?data={query}", timeout=10) as r:
        return json.load(r)["response"]


@pytest.fixture
def run_config(stack_config, tmp_path) -> str:
    """The stack's config for a child run: 80 students in two chunks of 40, paced so a chunk
    takes about 12 s and shows 50% for the second half of it."""
    students = tmp_path / "students.csv"
    students.write_text("student\n" + "".join(f"S{300000 + i}\n" for i in range(80)))
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(stack_config)
    for key, value in (("students_file", str(students)), ("chunk_size", "40"), ("pace", "0.3"),
                       ("download_dir", str(tmp_path / "downloads"))):
        cfg.set("eis", key, value)
    cfg.set("etl", "data_dir", str(tmp_path / "data"))
    path = tmp_path / "child.cfg"
    with open(path, "w") as fh:
        cfg.write(fh)
    return str(path)


def test_the_visualiser_shows_a_slot_running_its_progress_and_history(run_config, stack_var, tmp_path):
    from selenium.webdriver.common.by import By

    from targets.browser import headless_chromium
    var = tmp_path / "var"
    var.mkdir()
    port = free_port()
    luigid = _luigid(var, port)
    url = f"http://127.0.0.1:{port}"
    assert scheduler_url(var) == url  # what ./run.sh luigi and the demo use while it runs
    env = dict(os.environ, LUIGI_CONFIG_PATH=run_config, **stack.secrets(stack_var))
    run = subprocess.Popen([sys.executable, "-m", "pipelines", "--module", "pipelines.eis", "EisCohortTracking",
                            "--date", str(DAY), "--scheduler-url", url], cwd=stack.ROOT, env=env,
                           stdout=open(tmp_path / "run.log", "wb"), stderr=subprocess.STDOUT)
    driver = headless_chromium(loopback_only=True, images=True, size="1400,900")
    try:
        # while a chunk runs: its progress on the workers page, its status message
        progress, message, deadline = None, None, time.monotonic() + 90
        driver.get(f"{url}/static/visualiser/index.html#tab=workers")
        while progress is None and time.monotonic() < deadline and run.poll() is None:
            driver.refresh()  # the same address again would not reload the page
            time.sleep(0.7)
            bars = driver.find_elements(By.CSS_SELECTOR, ".taskProgressBar")
            values = [b.get_attribute("aria-valuenow") for b in bars]
            progress = next((int(v) for v in values if v and 0 < int(v) <= 100), None)
            if progress is not None:
                message = _api(url, "get_task_status_message", task_id=bars[0].get_attribute("data-task-id"))
        assert progress is not None, ("no progress bar seen while the scrape ran", run.poll(),
                                      (tmp_path / "run.log").read_text()[-2000:])
        assert message["statusMessage"].startswith("chunk ") and " of 40 students" in message["statusMessage"], message
        SHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SHOTS / "visualiser-workers.png"))
        # the graph of the slot: the scrape, its student list and its chunks
        (root,) = [t for t in _api(url, "task_list", status="", upstream_status="", search="EisCohortTracking")]
        driver.get(f"{url}/static/visualiser/index.html#tab=graph&taskId={urllib.parse.quote(root)}")
        deadline = time.monotonic() + 30
        names = []
        while time.monotonic() < deadline and not {"EisStudentList", "EisStudentChunk"} <= set(names):
            time.sleep(0.5)
            names = [(n.get_attribute("textContent") or "").split("(")[0].strip()
                     for n in driver.find_elements(By.CSS_SELECTOR, "#graphPlaceholder svg g")]
        assert {"EisCohortTracking", "EisStudentList", "EisStudentChunk"} <= set(names), names
        driver.save_screenshot(str(SHOTS / "visualiser.png"))
        assert run.wait(120) == 0
        # afterwards: every task done, and the history page lists the run
        done = _api(url, "task_list", status="DONE", upstream_status="", search="")
        assert len([t for t in done if t.startswith("EisStudentChunk")]) == 2
        # its times are the district's, named (the browser here runs in UTC)
        driver.get(f"{url}/static/visualiser/index.html#tab=workers")
        deadline = time.monotonic() + 10
        shown = ""
        while time.monotonic() < deadline and not re.search(r"\d:\d\d:\d\d (AM|PM) C[SD]T", shown):
            time.sleep(0.3)
            shown = driver.find_element(By.TAG_NAME, "body").text
        assert re.search(r"\d:\d\d:\d\d (AM|PM) C[SD]T", shown), shown[:2000]
        driver.get(f"{url}/history")
        text = driver.find_element(By.TAG_NAME, "body").text
        assert "EisCohortTracking" in text and "EisStudentChunk" in text and "DONE" in text
        page = urllib.request.urlopen(f"{url}/static/visualiser/index.html", timeout=10).read().decode()
        assert "./run.sh luigi --module {{taskModule}}" in page  # the re-run command operators type
        assert "cdnjs" not in driver.page_source
    finally:
        driver.quit()
        if run.poll() is None:
            run.kill()
    # a restart keeps what the operator has not looked at yet
    luigid.send_signal(signal.SIGTERM)
    assert luigid.wait(20) == 0
    assert scheduler_url(var) is None and (var / "luigid" / "state.pickle").exists()
    luigid = _luigid(var, port)
    try:
        done = _api(url, "task_list", status="DONE", upstream_status="", search="")
        assert any(t.startswith("EisCohortTracking") for t in done)
    finally:
        luigid.terminate()
        luigid.wait(20)
    if os.environ.get("ETL_UPDATE_SCREENSHOTS") == "1":
        for name in ("visualiser.png", "visualiser-workers.png"):
            shutil.copyfile(SHOTS / name, stack.ROOT / "docs" / "images" / name)


def test_the_scheduler_stops_on_command_and_its_pages_name_the_districts_zone(stack_config, tmp_path):
    """``./run.sh scheduler stop`` ends the running luigid (its state saved, its pid file gone);
    a second stop says none runs. The history pages say which zone their times are in."""
    var, port = tmp_path / "var", free_port()
    var.mkdir()
    proc = _luigid(var, port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/history", timeout=10) as r:
            assert "Times are America/Chicago." in r.read().decode()
        env = dict(os.environ, ETL_VAR=str(var), PYTHONPATH=str(stack.ROOT))
        stopped = subprocess.run([sys.executable, "-m", "ops.scheduler", "stop"], cwd=stack.ROOT, env=env,
                                 capture_output=True, text=True, timeout=60)
        assert stopped.returncode == 0 and "stopped; its state is saved" in stopped.stdout, stopped.stderr
        assert proc.wait(timeout=10) is not None and not (var / "luigid.pid").exists()
        assert (var / "luigid" / "state.pickle").exists()
        again = subprocess.run([sys.executable, "-m", "ops.scheduler", "stop"], cwd=stack.ROOT, env=env,
                               capture_output=True, text=True, timeout=60)
        assert again.returncode == 1 and "luigid is not running" in again.stdout
    finally:
        if proc.poll() is None:
            proc.kill()
