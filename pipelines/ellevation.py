"""Ellevation push: the Ellevation views → files → Ellevation's SFTP server (see vendors.toml [ellevation] and
pipelines/vendors.py for the chain, the rules and the shrink guard).

Cron: `./run.sh luigi --module pipelines.ellevation EllevationPush` (add `--force` to send a refused push,
`--date D` to rerun a past day).
"""
import luigi

from pipelines.vendors import VendorPush


class EllevationPush(VendorPush):
    """Every Ellevation file sent for the day."""

    vendor = luigi.Parameter(default="ellevation")
