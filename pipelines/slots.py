"""Schedule slots: one wrapper per cron line that starts several tasks, made from
``schedule.toml`` (``[[slot]]`` entries with ``runs``). Today: ``SftpOperations`` (05:00
pushes), ``SftpOperationsMisc`` (06:50 pulls and forwards), ``SftpOperationsLocal`` (07:05
PowerSchool import); the table says what each starts.

Each takes ``--date`` (default today), ``--force`` (send refused pushes) and ``--resend``
(send today's data for an earlier date), passed to the tasks that take them. Cron: ``./run.sh luigi --module pipelines.slots SftpOperations``;
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
    resend = luigi.BoolParameter(default=False, significant=False)

    def requires(self):
        tasks = []
        for run in load_schedule().named(self.task_family).tasks:
            cls = run.task_class()
            params = {"date": self.date, **run.params}
            names = cls.get_param_names(include_significant=True)
            if "force" in names:
                params["force"] = self.force
            if "resend" in names:
                params["resend"] = self.resend
            tasks.append(cls(**params))
        return tasks


__all__ = ["ScheduleSlot", *define_slots(__name__, ScheduleSlot, globals())]
