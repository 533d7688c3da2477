"""Issue 28 item 3: Luigi's private API is used in one module, targets/luigi_patches.py. The
version it was written against is the one installed and locked, every private name it reaches
still exists, and no other module reaches one (a Luigi upgrade fails here, not silently)."""
import re
from pathlib import Path

import luigi
import luigi.configuration
import luigi.parameter
import luigi.server
import luigi.worker

from targets.luigi_patches import LUIGI_VERSION

ROOT = Path(__file__).resolve().parent.parent
PRIVATE = re.compile(r"luigi\.[\w.]*\._\w+|\b(?:_config_paths|_no_value|_run_get_new_deps|_log_complete_error)\b"
                     r"|get_template_path|super\(\)\._value_iterator")


def test_the_patched_luigi_is_the_one_installed_and_locked():
    assert luigi.__version__ == LUIGI_VERSION
    assert f"luigi=={LUIGI_VERSION}" in (ROOT / "requirements.in").read_text()
    assert f"luigi=={LUIGI_VERSION} " in (ROOT / "requirements.txt").read_text()


def test_every_private_name_patched_still_exists():
    assert callable(luigi.parameter.Parameter._value_iterator)
    assert hasattr(luigi.parameter, "_no_value")
    assert callable(luigi.worker.TaskProcess._run_get_new_deps)
    assert callable(luigi.worker.Worker._log_complete_error)
    assert isinstance(type(luigi.configuration.get_config())._config_paths, list)
    assert callable(luigi.server.BaseTaskHistoryHandler.get_template_path)


def test_no_other_module_reaches_luigis_private_api():
    found = []
    for package in ("pipelines", "targets", "formats", "registry", "ops", "stack", "bench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "luigi_patches.py":
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if PRIVATE.search(line.split("#")[0]):
                    found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "Luigi's private API outside targets/luigi_patches.py:\n" + "\n".join(found)
