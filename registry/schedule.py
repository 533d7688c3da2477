"""``schedule.toml``: the one schedule. Each ``[[slot]]`` is a cron line (a task started at a
time); a slot that ``runs`` tasks or ``loads`` folders is a wrapper task made from this table
(``pipelines/slots.py``, ``pipelines/warehouse.py``). ``./run.sh cron`` prints the crontab
from it and the README's schedule is checked against it.

The file sits at the root of the checkout and is read where the wrappers are defined, at
import: like ``sql/``, it is part of the release, not of a district's secrets or servers.
"""
from __future__ import annotations

import datetime as dt
import importlib
import re
import zoneinfo
from pathlib import Path
from typing import Annotated

import luigi
from pydantic import Field, StringConstraints, field_validator, model_validator

from registry import ROOT, Model, load
from targets.errors import ConfigError

SCHEDULE_FILE = ROOT / "schedule.toml"
_TASK_PATH = r"^[a-z_][\w.]*\.[A-Z]\w*$"
TaskPath = Annotated[str, StringConstraints(pattern=_TASK_PATH)]
_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")


class Run(Model):
    """A task a slot starts, with fixed parameters (the slot passes its date, and --force to
    tasks that take it)."""

    task: TaskPath = Field(description="module.Task, e.g. pipelines.clever.CleverPush")
    params: dict[str, str | int | bool] = Field(default_factory=dict, description="e.g. { vendor = \"acme\" }")

    def task_class(self) -> type[luigi.Task]:
        module, _, name = self.task.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"schedule.toml: {self.task} is not a task ({e})") from e
        if not (isinstance(cls, type) and issubclass(cls, luigi.Task)):
            raise ConfigError(f"schedule.toml: {self.task} is not a Luigi task")
        return cls


class Slot(Model):
    """One cron line, and what its task does when it is a wrapper made from this table."""

    task: str = Field(pattern=r"^[A-Z]\w*$", description="The Luigi task cron starts (its family name).")
    module: str = Field(pattern=r"^[a-z_][\w.]*$", description="The module cron names with --module.")
    cron: str = Field(description="minute hour day-of-month month day-of-week, in the district's time zone.")
    about: str = Field("", description="One line for the crontab and the docs.")
    runs: list[Run | TaskPath] = Field(default_factory=list, description="A wrapper in pipelines.slots: the tasks it "
                                                                    "starts (module.Task or {task, params}).")
    loads: list[str] = Field(default_factory=list, description="A load in pipelines.warehouse: the folders under "
                                                               "[etl] data_dir it loads into BigQuery.")
    needs: list[str] = Field(default_factory=list, description="luigi.cfg sections the flow needs: the crontab "
                                                               "leaves the line out where one is missing.")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError(f"{value!r} is not five cron fields (minute hour day month weekday)")
        return value

    @model_validator(mode="after")
    def _kind(self):
        if self.runs and self.loads:
            raise ValueError("a slot either runs tasks or loads folders, not both")
        if self.runs and self.module != "pipelines.slots":
            raise ValueError("a slot that runs tasks is a wrapper in pipelines.slots (module = \"pipelines.slots\")")
        if self.loads and self.module != "pipelines.warehouse":
            raise ValueError("a slot that loads folders is a load in pipelines.warehouse")
        return self

    @property
    def tasks(self) -> list[Run]:
        return [Run(task=r) if isinstance(r, str) else r for r in self.runs]

    @property
    def kind(self) -> str:
        return "runs" if self.runs else "loads" if self.loads else "task"


class ScheduleFile(Model):
    """The whole of ``schedule.toml``."""

    slot: list[Slot] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self):
        names = [s.task for s in self.slot]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"a task has two cron lines: {', '.join(twice)}")
        return self

    def named(self, task: str) -> Slot:
        for s in self.slot:
            if s.task == task:
                return s
        raise ConfigError(f"schedule.toml has no slot for {task}")

    def wrappers(self, module: str) -> list[Slot]:
        """The slots made into wrapper tasks in ``module``."""
        return [s for s in self.slot if s.module == module and s.kind != "task"]


def load_schedule(path: str | Path | None = None) -> ScheduleFile:
    """schedule.toml (the checkout's own unless ``path``), parsed once per version of the file."""
    return load(path or SCHEDULE_FILE, ScheduleFile)


# -- reading cron lines (the crontab, the systemd timers and ./run.sh status's expected runs)

_DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
NAMES = {**{d: i for i, d in enumerate(_DAY_NAMES)},
         **{m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}}
FIELDS = [("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7)]


def _number(text: str, cron: str) -> int:
    text = text.lower()
    if text in NAMES:
        return NAMES[text]
    if not text.isdigit():
        raise ValueError(f"cron {cron!r}: {text!r} is not a number")
    return int(text)


def expand(field: str, low: int, high: int, cron: str) -> list[int] | None:
    """The values a cron field allows (None: any)."""
    if field == "*":
        return None
    values: set[int] = set()
    for part in field.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            start, end = low, high
        elif "-" in span:
            a, b = span.split("-", 1)
            start, end = _number(a, cron), _number(b, cron)
        else:
            start = _number(span, cron)
            end = high if step else start
        values.update(range(start, end + 1, int(step) if step else 1))
    if not values or min(values) < low or max(values) > high:
        raise ValueError(f"cron {cron!r}: {field!r} is outside {low}-{high}")
    return sorted(values)


def cron_fields(cron: str) -> tuple[list[int] | None, ...]:
    """(minutes, hours, days of month, months, weekdays 0=Sunday) a cron line allows; None: any."""
    minute, hour, dom, month, dow = (expand(f, lo, hi, cron) for f, (_, lo, hi) in zip(cron.split(), FIELDS))
    if dow is not None:
        dow = sorted({d % 7 for d in dow})
        if len(dow) == 7:
            dow = None
    return minute, hour, dom, month, dow


def runs_on(cron: str, day: dt.date) -> bool:
    """Whether a cron line runs on ``day``: cron's rule that a day matches when its day of
    month *or* its weekday does, if both are given."""
    _, _, dom, month, dow = cron_fields(cron)
    if month is not None and day.month not in month:
        return False
    by_dom, by_dow = dom is None or day.day in dom, dow is None or day.isoweekday() % 7 in dow
    return (by_dom or by_dow) if dom is not None and dow is not None else by_dom and by_dow


def clock_times(cron: str) -> list[dt.time]:
    """The times of day a cron line runs at (on a day it runs)."""
    minute, hour = cron_fields(cron)[:2]
    return [dt.time(h, m) for h in (hour if hour is not None else range(24))
            for m in (minute if minute is not None else range(60))]


def fire_times(cron: str, day: dt.date, zone: str) -> list[dt.datetime]:
    """When a cron line starts its task on ``day`` in ``zone`` (aware datetimes); a time the
    spring clock change skips runs when the clocks have jumped, a repeated one once."""
    if not runs_on(cron, day):
        return []
    tz = zoneinfo.ZoneInfo(zone)
    out: list[dt.datetime] = []
    for t in clock_times(cron):
        local = dt.datetime.combine(day, t, tz)
        real = local.astimezone(dt.timezone.utc).astimezone(tz)
        if real.replace(tzinfo=None) != local.replace(tzinfo=None):  # skipped: run at the jump
            real = dt.datetime.combine(day, dt.time(t.hour, 0), tz).astimezone(dt.timezone.utc).astimezone(tz)
        if not out or real > out[-1]:
            out.append(real)
    return out
