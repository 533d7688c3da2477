"""Each task's peak memory and CPU in the run log, measured alone (the high-water mark is reset)."""
import logging

import luigi

from pipelines import peaks


class _Holds(luigi.Task):
    mb = luigi.IntParameter()
    done = False

    def complete(self):
        return self.done

    def run(self):
        block = bytearray(self.mb * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])  # touched: resident
        del block
        sum(i * i for i in range(self.mb * 10_000))  # CPU in proportion
        self.done = True


def test_each_task_is_measured_alone(caplog):
    peaks.install()
    with caplog.at_level(logging.INFO, logger="pipelines.peaks"):
        assert luigi.build([_Holds(mb=300)], local_scheduler=True, workers=1)
        assert luigi.build([_Holds(mb=1)], local_scheduler=True, workers=1)
    found = {task.split("_")[2]: int(mb) for mb, task in peaks.LINE.findall(caplog.text)}
    assert found["300"] >= 300
    # the big task's peak was not carried into the next one: the small one's is the process's
    # own size (which a suite worker that ran many tests before has grown), not 300 MB above it
    assert found["1"] < found["300"] - 250, found
    assert peaks.largest(caplog.text) == (found["300"], next(t for _, t in peaks.LINE.findall(caplog.text) if "300" in t))
    cpu = {task.split("_")[2]: float(s) for task, s in peaks.CPU.findall(caplog.text)}
    assert cpu["300"] > 0.05 and cpu["300"] > 5 * cpu["1"]  # each task's own CPU, not the process's


def test_malloc_is_tuned_unless_the_environment_says(monkeypatch):
    """Two glibc arenas and big blocks always mapped (what a task freed is given back, not
    kept for the next task), unless MALLOC_ARENA_MAX or MALLOC_MMAP_THRESHOLD_ is set: then
    glibc has read them and they are left alone."""
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert peaks.tune_malloc() is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert peaks.tune_malloc() is False
