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


# Every cron line of the system: (minute hour day-of-month month day-of-week, module, task).
SCHEDULE = [
    ("0 3 * * *", "pipelines.warehouse", "BigQueryOperations"),
    ("0 5 * * *", "pipelines.slots", "SftpOperations"),
    ("50 6 * * *", "pipelines.slots", "SftpOperationsMisc"),
    ("55 6 * * *", "pipelines.warehouse", "BigQueryOperationsMisc"),
    ("5 7 * * *", "pipelines.slots", "SftpOperationsLocal"),
    ("0 6 1 12,3,6,9 *", "pipelines.dps", "SendToDps"),
    ("*/15 * * * *", "pipelines.dps", "ReceiveFromDps"),
]


def crontab(run_sh: str, secrets_env: str = "/etc/district-etl/secrets.env") -> str:
    """The crontab for this checkout (``./run.sh cron``)."""
    lines = ["# district-etl: install with `./run.sh cron | crontab -` as the service user.",
             "# Times are the machine's; set CRON_TZ if it is not the district's time zone.",
             f"ETL_SECRETS_ENV={secrets_env}"]
    lines += [f"{when:18} {run_sh} luigi --module {module} {task}" for when, module, task in SCHEDULE]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys
    print(crontab(sys.argv[1] if len(sys.argv) > 1 else "run.sh"), end="")
