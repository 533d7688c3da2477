"""Schedule slots: one wrapper per cron line that starts several tasks, made from
``schedule.toml`` (``[[slot]]`` entries with ``runs``). Today: ``SftpOperations`` (05:00
pushes), ``SftpOperationsMisc`` (06:50 pulls and forwards), ``SftpOperationsLocal`` (07:05
PowerSchool import); the table says what each starts.

Each takes ``--date`` (default today), ``--force`` (send refused pushes) and ``--resend``
(send today's data for an earlier date), passed to the tasks that take them. Cron: ``./run.sh luigi --module pipelines.slots SftpOperations``;
``./run.sh cron`` prints every line.
"""
from __future__ import annotations

import logging

import luigi

from pipelines.base import DistrictWrapperTask, RunDateParameter, define_slots
from registry.schedule import load_schedule

logger = logging.getLogger(__name__)
_told: set[str] = set()  # paused tasks already reported (requires() is asked more than once)


class ScheduleSlot(DistrictWrapperTask):
    """What one slot of schedule.toml starts, for the day."""

    date = RunDateParameter()
    force = luigi.BoolParameter(default=False, significant=False)
    resend = luigi.BoolParameter(default=False, significant=False)

    def requires(self):
        from pipelines.pauses import describe, pause_of
        tasks = []
        for run in load_schedule().named(self.task_family).tasks:
            cls = run.task_class()
            params = {"date": self.date, **run.params}
            names = cls.get_param_names(include_significant=True)
            if "force" in names:
                params["force"] = self.force
            if "resend" in names:
                params["resend"] = self.resend
            task = cls(**params)
            pause = pause_of(task)
            if pause is not None:  # left out of the slot; the others run
                if task.task_id not in _told:
                    _told.add(task.task_id)
                    logger.warning("%s: %s left out. %s", self.task_family, task.task_family, describe(*pause))
                continue
            tasks.append(task)
        return tasks


__all__ = ["ScheduleSlot", *define_slots(__name__, ScheduleSlot, globals())]
