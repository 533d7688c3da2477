"""Schedule slots: one wrapper per cron line that starts several tasks, made from
``schedule.toml`` (``[[slot]]`` entries with ``runs``). Today: ``SftpOperations`` (05:00
pushes), ``SftpOperationsMisc`` (06:50 pulls and forwards), ``SftpOperationsLocal`` (07:05
PowerSchool import); the table says what each starts.

Each takes ``--date`` (default today) and ``--force`` (passed to the tasks that take it: send
refused pushes). Cron: ``./run.sh luigi --module pipelines.slots SftpOperations``;
``./run.sh cron`` prints every line.
"""
from __future__ import annotations

import luigi

from pipelines.base import RunDateParameter, define_slots
from registry.schedule import load_schedule


class ScheduleSlot(luigi.WrapperTask):
    """What one slot of schedule.toml starts, for the day."""

    date = RunDateParameter()
    force = luigi.BoolParameter(default=False, significant=False)

    def requires(self):
        tasks = []
        for run in load_schedule().named(self.task_family).tasks:
            cls = run.task_class()
            params = {"date": self.date, **run.params}
            if "force" in cls.get_param_names(include_significant=True):
                params["force"] = self.force
            tasks.append(cls(**params))
        return tasks


__all__ = ["ScheduleSlot", *define_slots(__name__, ScheduleSlot, globals())]
