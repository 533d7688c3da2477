"""Clever push: the Clever views → files → Clever's SFTP server (see vendors.toml [clever] and
pipelines/vendors.py for the chain, the rules and the shrink guard).

Cron: `./run.sh luigi --module pipelines.clever CleverPush` (add `--force` to send a refused push,
`--date D` to rerun a past day).
"""
import luigi

from pipelines.pulls import PullFiles
from pipelines.vendors import VendorPush


class CleverPush(VendorPush):
    """Every Clever file sent for the day."""

    vendor = luigi.Parameter(default="clever")


class CleverIdmPull(PullFiles):
    """The newest Clever IDM export (Google addresses) from Clever's reports server, into
    powerschool_combined/ for the 03:00 load (vendors.toml [[pull]] clever_idm)."""

    pull = luigi.Parameter(default="clever_idm")
