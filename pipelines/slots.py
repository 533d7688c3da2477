"""Schedule slots: one wrapper per cron line (README has the crontab).

- ``SftpOperations`` (05:00): Clever, SAVVAS, Ellevation pushes; OTUS attendance/discipline
  (Mondays; the other days it has nothing to do).
- ``SftpOperationsMisc`` (06:50): pulls (Clever IDM, the latest two SAVVAS score files,
  EasyIEP) and the SAVVAS score files forwarded to OTUS.
- ``SftpOperationsLocal`` (07:05): the PowerSchool import file to PS_imports.

Each takes ``--date`` (default today) and ``--force`` (pushes only: send refused files).
"""
import luigi

from pipelines.base import RunDateParameter
from pipelines.clever import CleverIdmPull, CleverPush
from pipelines.easyiep import EasyIepPull
from pipelines.ellevation import EllevationPush
from pipelines.otus import OtusPush, OtusScoresForward
from pipelines.powerschool import PowerSchoolImport
from pipelines.savvas import SavvasPush, SavvasScoresPull


class SftpOperations(luigi.WrapperTask):
    """The 05:00 vendor exports."""

    date = RunDateParameter()
    force = luigi.BoolParameter(default=False, significant=False)

    def requires(self):
        return [cls(date=self.date, force=self.force) for cls in (CleverPush, SavvasPush, EllevationPush, OtusPush)]


class SftpOperationsMisc(luigi.WrapperTask):
    """The 06:50 pulls and forwards."""

    date = RunDateParameter()

    def requires(self):
        return [CleverIdmPull(date=self.date), SavvasScoresPull(date=self.date), EasyIepPull(date=self.date),
                OtusScoresForward(date=self.date)]


class SftpOperationsLocal(luigi.WrapperTask):
    """The 07:05 PowerSchool import."""

    date = RunDateParameter()
    force = luigi.BoolParameter(default=False, significant=False)

    def requires(self):
        return PowerSchoolImport(date=self.date, force=self.force)
