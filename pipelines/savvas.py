"""Savvas push: the Savvas views → files → Savvas's SFTP server (see vendors.toml [savvas] and
pipelines/vendors.py for the chain, the rules and the shrink guard).

Cron: `./run.sh luigi --module pipelines.savvas SavvasPush` (add `--force` to send a refused push,
`--date D` to rerun a past day).
"""
import luigi

from pipelines.pulls import PullFiles
from pipelines.vendors import VendorPush


class SavvasPush(VendorPush):
    """Every Savvas file sent for the day."""

    vendor = luigi.Parameter(default="savvas")


class SavvasScoresPull(PullFiles):
    """The latest two SAVVAS score files, into misc_imports/ (vendors.toml [[pull]] savvas_scores)."""

    pull = luigi.Parameter(default="savvas_scores")
