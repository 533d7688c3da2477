"""EasyIEP pull: new EasyIEP export files from its SFTP server into misc_imports/ for the 06:55
load (vendors.toml [[pull]] easyiep; files keyed in the ledger by name, size and mtime).

Cron (06:50, in SftpOperationsMisc): `./run.sh luigi --module pipelines.easyiep EasyIepPull`.
"""
import luigi

from pipelines.pulls import PullFiles


class EasyIepPull(PullFiles):
    """EasyIEP files not pulled before."""

    pull = luigi.Parameter(default="easyiep")
