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
from targets.errors import ConfigError

logger = logging.getLogger(__name__)
_told: set[str] = set()  # paused tasks already reported (requires() is asked more than once)


class ScheduleSlot(DistrictWrapperTask):
    """What one slot of schedule.toml starts, for the day."""

    date = RunDateParameter()
    force = luigi.BoolParameter(default=False, significant=False)
    resend = luigi.BoolParameter(default=False, significant=False)

    def requires(self):
        from pipelines.pauses import describe, pause_of
        tasks, listed = [], set()  # listed: the vendors schedule.toml names here, paused or not
        for run in load_schedule().named(self.task_family).tasks:
            cls = run.task_class()
            params = {"date": self.date, **run.params}
            names = cls.get_param_names(include_significant=True)
            if "force" in names:
                params["force"] = self.force
            if "resend" in names:
                params["resend"] = self.resend
            task = cls(**params)
            listed.add(getattr(task, "vendor", None))
            pause = pause_of(task)
            if pause is not None:  # left out of the slot; the others run
                if task.task_id not in _told:
                    _told.add(task.task_id)
                    logger.warning("%s: %s left out. %s", self.task_family, task.task_family, describe(*pause))
                continue
            tasks.append(task)
        return tasks + self._registry_pushes(listed)

    def _registry_pushes(self, listed: set) -> list:
        """The vendors.toml pushes this slot owns (``slot = ...``) that schedule.toml does not
        list by name: a vendor added as a table is pushed with no other change."""
        from pipelines.base import vendors_file
        from pipelines.pauses import describe, pause_of
        from pipelines.vendors import VendorPush
        slots = {s.task for s in load_schedule().wrappers(__name__)}
        out = []
        for name, vendor in vendors_file().vendors.items():
            if vendor.slot not in slots:  # never pushed by any slot: said, not silently skipped
                raise ConfigError(f"vendors.toml: [{name}] slot = {vendor.slot!r} is no slot of schedule.toml that "
                                  f"runs tasks ({', '.join(sorted(slots))})")
            if vendor.slot != self.task_family or name in listed:
                continue
            task = VendorPush(vendor=name, date=self.date, force=self.force, resend=self.resend)
            pause = pause_of(task)
            if pause is None:
                out.append(task)
            elif task.task_id not in _told:
                _told.add(task.task_id)
                logger.warning("%s: %s left out. %s", self.task_family, name, describe(*pause))
        return out


__all__ = ["ScheduleSlot", *define_slots(__name__, ScheduleSlot, globals())]
