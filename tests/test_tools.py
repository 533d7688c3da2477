"""The hang report of tests/tools.py and the SIGUSR2 stack dump it relies on (targets/logdb.py):
a run that does not end fails its test with where it waits, not with pytest's bare timeout."""
import sys
import textwrap

import pytest

from tests.tools import run_tool

pytestmark = pytest.mark.stack  # runs ./run.sh (one run hangs on purpose): ./run.sh test --fast leaves it out


def test_a_run_that_hangs_fails_with_its_stacks_from_the_run_log(tmp_path):
    log = tmp_path / "run.log"
    code = textwrap.dedent(f"""
        import threading, time
        from targets.logdb import setup_logging
        setup_logging("hang", run_log={str(log)!r}, to_database=False)
        def waits_for_a_peer():
            time.sleep(600)
        threading.Thread(target=waits_for_a_peer, daemon=True).start()
        print("started", flush=True)
        try:
            time.sleep(600)
        finally:
            print("interrupted, cleaned up", flush=True)
    """)
    with pytest.raises(pytest.fail.Exception) as failed:
        run_tool(["-c", code], timeout=5, log=log, program=sys.executable)
    text = str(failed.value)
    assert "did not end within 5s" in text
    assert "started" in text and "interrupted, cleaned up" in text  # SIGINT: its finally ran
    assert "in waits_for_a_peer" in text and "in <module>" in text  # both threads' stacks, from the run log


def test_a_run_that_ends_is_returned_as_it_ended():
    done = run_tool(["-c", "import sys; print('ok'); sys.exit(3)"], timeout=60, program=sys.executable)
    assert (done.returncode, done.stdout) == (3, "ok\n")
