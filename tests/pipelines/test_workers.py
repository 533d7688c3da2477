"""What several workers need: session limits and the worker count from the config, and a
task that another worker completed is not run again."""
import configparser

import luigi
import pytest

from pipelines.workers import apply_session_limits, apply_worker_count, skip_done
from targets.errors import ConfigError


def test_session_limits_and_worker_count_come_from_the_config():
    config = configparser.ConfigParser()
    config.read_string("[sftp_clever]\nhost = h\nmax_sessions = 3\n[sftp_otus]\nhost = h\n[sftp_savvas]\nhost = h\n"
                       "[resources]\nsftp_savvas = 5\n[worker]\nworkers = 4\n[core]\n")
    assert apply_session_limits(config) == {"sftp_clever": 3, "sftp_otus": 2, "sftp_savvas": 5}
    assert config.getint("resources", "sftp_otus") == 2  # what Luigi's scheduler reads
    apply_worker_count(config)
    assert config.getint("core", "workers") == 4
    config.set("sftp_otus", "max_sessions", "two")
    config.remove_option("resources", "sftp_otus")
    with pytest.raises(ConfigError, match=r"\[sftp_otus\] max_sessions"):
        apply_session_limits(config)


class _DoneMeanwhile(luigi.Task):
    """Incomplete when scheduled; complete by the time its worker starts it (another worker
    finished it, then died before telling luigid)."""

    name = luigi.Parameter()
    asked = 0
    ran = []

    def complete(self):
        type(self).asked += 1
        return type(self).asked > 1

    def run(self):
        self.ran.append(self.name)


def test_a_task_done_meanwhile_is_not_run_again():
    skip_done()
    assert luigi.build([_DoneMeanwhile(name="upload")], local_scheduler=True, workers=1)
    assert _DoneMeanwhile.ran == []
