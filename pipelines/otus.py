"""Otus push: the Otus views → files → Otus's SFTP server (see vendors.toml [otus] and
pipelines/vendors.py for the chain, the rules and the shrink guard).

Cron: `./run.sh luigi --module pipelines.otus OtusPush` (add `--force` to send a refused push,
`--date D` to rerun a past day).
"""
import luigi

from pipelines.pulls import ForwardPulledFiles
from pipelines.vendors import VendorPush


class OtusPush(VendorPush):
    """Every Otus file sent for the day."""

    vendor = luigi.Parameter(default="otus")


class OtusScoresForward(ForwardPulledFiles):
    """The SAVVAS score files pulled today, sent on to OTUS's incoming folder (daily)."""

    forward = luigi.Parameter(default="savvas_scores_to_otus")
