"""Config reading: errors name the setting; secrets come from the environment."""
import pytest
from luigi.configuration import LuigiConfigParser

from targets.config import Section, known_secrets
from targets.errors import ConfigError
from targets.postgres import PostgresSettings


def _parser(tmp_path, text):
    path = tmp_path / "luigi.cfg"
    path.write_text(text)
    parser = LuigiConfigParser()
    parser.read([str(path)])
    return parser


def test_missing_environment_variable_names_the_setting(tmp_path, monkeypatch):
    monkeypatch.delenv("ETL_TEST_NOT_SET", raising=False)
    p = _parser(tmp_path, "[postgres]\nhost = db\ndbname = d\nuser = u\npassword = ${ETL_TEST_NOT_SET}\n")
    with pytest.raises(ConfigError, match=r"\[postgres\] password"):
        Section("postgres", p).secret("password")


def test_secret_from_environment_is_registered_for_redaction(tmp_path, monkeypatch):
    monkeypatch.setenv("ETL_TEST_SECRET", "pa55-word-xyz")
    p = _parser(tmp_path, "[postgres]\npassword = ${ETL_TEST_SECRET}\n")
    assert Section("postgres", p).secret("password") == "pa55-word-xyz"
    assert "pa55-word-xyz" in known_secrets()


def test_typed_getters_name_section_and_key(tmp_path):
    p = _parser(tmp_path, "[sftp_x]\nport = twenty-two\ndone_marker = maybe\n")
    s = Section("sftp_x", p)
    with pytest.raises(ConfigError, match=r"\[sftp_x\] port must be a whole number"):
        s.int("port")
    with pytest.raises(ConfigError, match=r"\[sftp_x\] done_marker must be true or false"):
        s.bool("done_marker")
    with pytest.raises(ConfigError, match=r"\[sftp_x\] host is required"):
        s.str("host", required=True)
    with pytest.raises(ConfigError, match=r"no \[nope\] section"):
        Section("nope", p)


def test_postgres_settings_repr_hides_password():
    s = PostgresSettings(host="h", port=1, dbname="d", user="u", password="hunter2-secret")
    assert "hunter2" not in repr(s) and "hunter2" not in s.describe()


def test_a_districts_overlay_is_read_over_the_shared_config(tmp_path):
    """ETL_DISTRICT (run.sh --district) reads districts/<name>.cfg over luigi.cfg and
    LUIGI_CONFIG_PATH: what it sets wins, the rest is shared; hints name the district."""
    import os
    import subprocess
    import sys

    from pipelines.base import ROOT
    (tmp_path / "shared.cfg").write_text("[etl]\ndata_dir = /srv/shared\ntimezone = America/Denver\n")
    (tmp_path / "north.cfg").write_text("[etl]\ndata_dir = /srv/north\n")
    code = ("from targets.config import Section, district, with_district; s = Section('etl');"
            "print(district(), s.str('data_dir'), s.str('timezone'));"
            "print(with_district('run ./run.sh clear push_clever --date D, then ./run.sh status'))")
    env = dict(os.environ, LUIGI_CONFIG_PATH=str(tmp_path / "shared.cfg"), ETL_DISTRICTS_DIR=str(tmp_path),
               PYTHONPATH=str(ROOT), ETL_DISTRICT="north")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.splitlines() == [
        "north /srv/north America/Denver",
        "run ./run.sh clear --district north push_clever --date D, then ./run.sh status --district north"], out.stderr
    env.pop("ETL_DISTRICT")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.splitlines()[0] == " /srv/shared America/Denver"  # no district: the shared config
    assert out.stdout.splitlines()[1] == "run ./run.sh clear push_clever --date D, then ./run.sh status"


def test_a_district_without_an_overlay_is_refused_naming_the_file(tmp_path, monkeypatch):
    from targets.config import district_overlay
    monkeypatch.setenv("ETL_DISTRICTS_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match=f"--district west: no overlay {tmp_path}/west.cfg"):
        district_overlay("west")
    with pytest.raises(ConfigError, match="lower-case letters"):
        district_overlay("../etc/passwd")
