"""What every flow's tasks share: the run date, the data folder, the registries (typed),
external files, and progress reporting."""
from __future__ import annotations

import datetime as dt
import os
import sys
import time
import zoneinfo
from pathlib import Path

import luigi
from tqdm import tqdm

from registry.schedule import load_schedule
from registry.sources import SourcesFile, load_sources
from registry.vendors import VendorsFile, load_vendors
from targets import clock, faults
from targets.config import Section, district, var_dir  # noqa: F401 - var_dir: imported from here too
from targets.errors import ConfigError, RefusedError
from targets.local import LocalFileTarget
from targets.luigi_patches import late_default


ROOT = Path(__file__).resolve().parent.parent

faults.task_points()  # only when ./run.sh bench faults asks (targets/faults.py)


def timezone() -> str:
    """The district's time zone (``[etl] timezone``), not the server's."""
    try:
        return Section("etl").str("timezone", "America/Chicago")
    except ConfigError:
        return "America/Chicago"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 file``, ``2 files``, ``0 files`` (``plural`` where adding an s is wrong)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def district_time(moment: dt.datetime) -> str:
    """A moment as an operator reads it: the district's time, with its zone (``2026-12-01 06:02 CST``)."""
    return moment.astimezone(zoneinfo.ZoneInfo(timezone())).strftime("%Y-%m-%d %H:%M %Z")


def today() -> dt.date:
    """Today in the district's time zone, from the one clock (targets/clock.py)."""
    return clock.today(timezone())


class RunDateParameter(luigi.DateParameter):
    """A date whose default is *today when the task is built* (never frozen at import time)."""

    def _value_iterator(self, task_name, param_name):  # Luigi's private hook: targets/luigi_patches.py
        return late_default(self, task_name, param_name, today)


class DistrictParameter(luigi.Parameter):
    """The district a task serves: significant, so two districts' tasks never share a task id
    in one luigid; its default is this process's district (``--district``, read late). A task
    for another district than the process's is refused: its config would be the wrong one."""

    def _value_iterator(self, task_name, param_name):  # Luigi's private hook: targets/luigi_patches.py
        return late_default(self, task_name, param_name, district)

    def normalize(self, x):
        if x != district():
            raise ConfigError(f"a task for district {x!r} in a process serving {district() or 'no district'!r}: "
                              f"run it with ./run.sh luigi --district {x or '...'}")
        return x


class InDistrict:
    """Every task of ours has a ``district`` (tests/test_layout.py checks)."""

    district = DistrictParameter(positional=False, description="the district served (./run.sh --district)")


class DistrictTask(InDistrict, luigi.Task):
    pass


class DistrictWrapperTask(InDistrict, luigi.WrapperTask):
    pass


class DistrictExternalTask(InDistrict, luigi.ExternalTask):
    pass


def registry_file(section: str, key: str, default: str) -> Path:
    """A registry file named in config (``[section] key``), relative to the checkout."""
    try:
        path = Section(section).path(key, default=default)
    except ConfigError:
        path = Path(default)
    return path if path.is_absolute() else ROOT / path


def vendors_file() -> VendorsFile:
    """vendors.toml (``[vendors] vendors_file``), typed; parsed once per version of the file."""
    return load_vendors(registry_file("vendors", "vendors_file", "vendors.toml"))


def sources_file() -> SourcesFile:
    """sources.toml (``[warehouse] sources_file``), typed; parsed once per version of the file."""
    return load_sources(registry_file("warehouse", "sources_file", "sources.toml"))


def define_slots(module: str, base: type[luigi.Task], namespace: dict) -> list[str]:
    """A subclass of ``base`` named after each of ``module``'s wrapper slots in schedule.toml,
    put into ``namespace`` (the module's globals) so ``luigi --module`` finds it; returns the
    names. The wrappers read what they start from the table when they run."""
    names = []
    for slot in load_schedule().wrappers(module):
        namespace[slot.task] = type(slot.task, (base,), {"__module__": module, "__doc__": slot.about or base.__doc__})
        names.append(slot.task)
    return names


def root_task(argv: list[str]) -> luigi.Task | None:
    """The task a luigi command line (``--module M Task --param v ...``) asks for, or None when
    the line is not one luigi would take (luigi then says what is wrong)."""
    import importlib

    from luigi.cmdline_parser import CmdlineParser
    module = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--module"), None)
    try:
        if module:
            importlib.import_module(module)
        with CmdlineParser.global_instance(argv) as parser:
            return parser.get_task_obj()
    except BaseException:
        return None


def data_dir() -> Path:
    """The local data root (``[etl] data_dir``); flows keep their folders under it."""
    return Section("etl").path("data_dir", required=True)


def file_group() -> str | None:
    """The group our local files get (``[etl] file_group``; empty = the user's own)."""
    try:
        return Section("etl").str("file_group") or None
    except ConfigError:
        return None


def local_target(path: str | Path) -> LocalFileTarget:
    """An atomic local file with the configured mode 0660 group."""
    return LocalFileTarget(path, group=file_group())


class Refusal(DistrictTask):
    """A task that only reports: it is never complete and fails every run with ``message()``
    (a push for a past date, a load with nothing archived, a partner past its deadline), so the
    failure is recorded and mailed like any other and the run's exit status says so."""

    error = RefusedError

    def complete(self):
        return False  # a state to report on every run, not a product to build once

    def message(self) -> str:
        raise NotImplementedError

    def run(self):
        raise self.error(self.message())


class SourceFile(DistrictExternalTask):
    """A file someone else put in one of our folders."""

    path = luigi.Parameter()

    def output(self):
        return LocalFileTarget(self.path)


class Progress:
    """Reports a transfer's progress to Luigi (visualiser) and, on a terminal, as a bar, in its
    ``unit`` (``bytes`` for transfers and loads, ``rows`` for exports)."""

    def __init__(self, task: luigi.Task, label: str, interval: float = 0.5, unit: str = "bytes"):
        self.task, self.label, self.interval, self.unit = task, label, interval, unit
        self._last: float | None = None
        self._bar = None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None and sys.stderr.isatty():
            self._bar = tqdm(total=total, desc=self.label, leave=False,
                             **({"unit": "B", "unit_scale": True} if self.unit == "bytes" else {"unit": f" {self.unit}"}))
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
        now = time.monotonic()
        if self._last is None or now - self._last >= self.interval or done >= total:
            self._last = now
            pct = 100 if total == 0 else int(done * 100 / total)
            self.task.set_progress_percentage(pct)
            self.task.set_status_message(f"{self.label}: {done:,} of {total:,} {self.unit}")
        if done >= total and self._bar is not None:
            self._bar.close()
