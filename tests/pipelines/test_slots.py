"""The crontab names only tasks that exist, each a Luigi task with a run date."""
import importlib

import luigi

from pipelines.slots import SCHEDULE, crontab


def test_every_cron_line_names_a_real_dated_task():
    for when, module, task in SCHEDULE:
        assert len(when.split()) == 5, when
        cls = getattr(importlib.import_module(module), task)
        assert issubclass(cls, luigi.Task) and "date" in cls.get_param_names(), task


def test_crontab_text():
    text = crontab("/srv/district-etl/run.sh")
    assert "ETL_SECRETS_ENV=/etc/district-etl/secrets.env" in text
    assert "*/15 * * * *       /srv/district-etl/run.sh luigi --module pipelines.dps ReceiveFromDps" in text
    assert text.count("/srv/district-etl/run.sh luigi --module") == len(SCHEDULE)
