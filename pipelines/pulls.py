"""Pulls and forwards over SFTP, declared in ``vendors.toml`` (``[[pull]]``, ``[[forward]]``):
files on a partner's server that were not pulled before — keyed in the ledger by remote name,
size and mtime, so a file is pulled once whatever day it appears — are copied atomically into
one of our folders (the warehouse load picks them up); a forward sends the files a pull
brings in on to another partner (SAVVAS scores to OTUS), one ledger row per file and day.

Entry points: ``pipelines/clever.py`` (CleverIdmPull), ``savvas.py`` (SavvasScoresPull),
``easyiep.py`` (EasyIepPull), ``otus.py`` (OtusScoresForward); cron runs them in the 06:50
slot (``schedule.toml``). Sections: ``[vendors] vendors_file``, ``[sftp_<server>]``,
``[postgres]``, ``[etl]``. Rerun: ``./run.sh luigi --module pipelines.slots SftpOperationsMisc --date D``.
"""
from __future__ import annotations

import logging
from pathlib import Path

import luigi

from pipelines.base import (DistrictTask, DistrictWrapperTask, Progress, RunDateParameter, data_dir, file_group,
                            vendors_file)
from pipelines.workers import sftp_sessions
from registry.vendors import Forward, Pull
from targets import clock
from targets.local import file_digest
from targets.ledger import Ledger, LedgerItemTarget, LedgerTarget, file_item
from targets.sftp import SftpClient

logger = logging.getLogger(__name__)


def pull(name: str) -> Pull:
    return vendors_file().pull_named(name)


def forward(name: str) -> Forward:
    return vendors_file().forward_named(name)


class PullFile(DistrictTask):
    """One remote file copied (atomically) into our folder; keyed by its name, size and mtime."""

    date = RunDateParameter()
    pull = luigi.Parameter()
    remote_name = luigi.Parameter()
    size = luigi.IntParameter()
    mtime = luigi.IntParameter()

    @property
    def resources(self):
        return sftp_sessions(pull(self.pull).server)

    def output(self):
        return LedgerItemTarget(Ledger.of(), pull(self.pull).job,
                                file_item(self.remote_name, self.size, self.mtime), self.date)

    def run(self):
        p = pull(self.pull)
        client = SftpClient.from_config(p.server)
        remote = f"{p.remote_dir.rstrip('/')}/{self.remote_name}" if p.remote_dir else self.remote_name
        local = data_dir() / p.dest / (p.local_name or self.remote_name)
        started = clock.now()
        size = client.download(remote, local, progress=Progress(self, f"pull {self.remote_name}"), group=file_group())
        _, sha = file_digest(local)
        self.output().mark_done(direction="in", source=f"sftp://{p.server}{client.path(remote)}",
                                destination=str(local), bytes=size, sha256=sha, started_at=started)
        if p.remove_remote:
            client.remove(remote)


class PullFiles(DistrictWrapperTask):
    """Every remote file of a pull that was not pulled before (or the newest ``latest``)."""

    date = RunDateParameter()
    pull = luigi.Parameter()

    def requires(self):
        # A listing (looking, not changing anything) on the pooled connection. Not cached on
        # the task: Luigi reuses task instances across builds in one process.
        p = pull(self.pull)
        files = SftpClient.from_config(p.server).list_files(p.pattern, folder=p.remote_dir)
        if p.local_name:  # one local file: only the newest remote one matters
            files = sorted(files, key=lambda f: (f.mtime, f.name))[-1:]
        elif p.latest:
            files = sorted(files, key=lambda f: (f.mtime, f.name))[-p.latest:]
        if not files and not getattr(self, "_said_nothing", False):  # luigi asks more than once
            self._said_nothing = True
            logger.info("%s: no files matching %s at the partner; nothing to pull", p.name, p.pattern)
        return [PullFile(date=self.date, pull=p.name, remote_name=f.name, size=f.size, mtime=f.mtime) for f in files]


class ForwardFile(DistrictTask):
    """One pulled file sent on to another partner; done = its ledger row for the day."""

    date = RunDateParameter()
    forward = luigi.Parameter()
    remote_name = luigi.Parameter()
    size = luigi.IntParameter()
    mtime = luigi.IntParameter()

    def requires(self):
        return PullFile(date=self.date, pull=forward(self.forward).pull, remote_name=self.remote_name,
                        size=self.size, mtime=self.mtime)

    def _local(self) -> Path:
        p = pull(forward(self.forward).pull)
        return data_dir() / p.dest / (p.local_name or self.remote_name)

    @property
    def resources(self):
        return sftp_sessions(forward(self.forward).server)

    def output(self):
        return LedgerTarget(Ledger.of(), forward(self.forward).job, self._local().name, self.date)

    def run(self):
        f, path = forward(self.forward), self._local()
        client = SftpClient.from_config(f.server)
        name = f"{f.remote_dir.rstrip('/')}/{path.name}" if f.remote_dir else path.name
        size = client.upload_atomic(path, name, progress=Progress(self, f"forward {path.name}"))
        self.output().mark_done(direction="out", source=str(path), bytes=size, sha256=file_digest(path)[1],
                                destination=f"sftp://{f.server}{client.path(name)}")


class ForwardPulledFiles(DistrictWrapperTask):
    """The files a pull brings in on the day, sent on to another partner: a file pulled on an
    earlier day is not sent again (a quiet day forwards nothing, and is done)."""

    date = RunDateParameter()
    forward = luigi.Parameter()

    def requires(self):
        p = pull(forward(self.forward).pull)
        pulled_on = Ledger.of().item_dates(p.job)  # one query: when each file came
        todo = [t for t in PullFiles(date=self.date, pull=p.name).requires()
                if pulled_on.get(file_item(t.remote_name, t.size, t.mtime), self.date) == self.date]
        if not todo and not getattr(self, "_said_nothing", False):  # luigi asks more than once
            self._said_nothing = True
            logger.info("%s: nothing pulled on %s, nothing to forward", self.forward, self.date)
        return [ForwardFile(date=self.date, forward=self.forward, remote_name=t.remote_name, size=t.size,
                            mtime=t.mtime) for t in todo]
