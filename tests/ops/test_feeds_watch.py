"""The long-running watcher (watchdog): files dropped while it runs are loaded seconds after
they settle, long before its 60-second interval; a file still being written is left until it
settles; a stop request ends it cleanly."""
import threading
import time

import luigi.configuration

from ops.feeds_watch import watch
from tests.feedfiles import table


def _wait_for(check, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_dropped_files_load_seconds_after_they_settle(feeds):
    client, inbox = feeds
    luigi.configuration.get_config().set("feeds", "settle_seconds", "1")
    stop, seen = threading.Event(), {}

    def clients():
        return [r[0] for r in table(client, "SELECT client_id FROM feeds.clients ORDER BY 1")]

    def drops():
        try:
            time.sleep(1.5)  # the first pass (nothing to do) is over
            start = time.monotonic()
            tmp = inbox / ".clients_a.csv.part"  # an upload: a temporary name, then a rename
            tmp.write_text("client_id;name\nA1;Ada\n")
            tmp.rename(inbox / "clients_a.csv")
            seen["a"] = _wait_for(lambda: clients() == ["A1"]) and time.monotonic() - start
            start = time.monotonic()
            with open(inbox / "clients_b.csv", "w") as fh:  # written slowly under its final name
                fh.write("client_id;name\n")
                for i in range(4):
                    fh.flush()
                    time.sleep(0.4)
                    fh.write(f"B{i};Bo\n")
            seen["b"] = _wait_for(lambda: clients() == ["A1", "B0", "B1", "B2", "B3"]) and time.monotonic() - start
        finally:
            stop.set()

    helper = threading.Thread(target=drops)
    helper.start()
    assert watch(interval=60, stop=stop) == 0  # luigi runs in the main thread, as under systemd
    helper.join()
    assert seen["a"] and seen["a"] < 15, seen  # the event, not the 60-second interval, started the pass
    assert seen["b"] and seen["b"] < 15, seen  # all four rows: the half-written file was left until it settled
