"""Issue 28 item 2: the operator commands are one table (ops/commands.py). run.sh's usage and
its unknown-command message are made from it, the README's command table names the same
commands, every row's module has a main, and every command run from the table says an error
in one line, never a traceback."""
import re
import subprocess
import types

import pytest

from ops import commands
from ops.commands import BY_NAME, COMMANDS
from pipelines.base import ROOT
from targets.errors import ConfigError


def test_the_readme_table_names_the_commands_of_the_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| command | what it does |"):].split("\n\n")[0]
    named = set()
    for row in table.splitlines():
        cells = re.split(r"(?<!\\)\|", row)  # a cell's own "\|" is no column
        if len(cells) > 2:
            named |= set(re.findall(r"`(?:\./run\.sh )?([a-z][a-z-]*)\b[^`]*`", cells[1]))
    assert named == {c.name for c in COMMANDS}, named ^ {c.name for c in COMMANDS}


def test_usage_and_the_unknown_command_message_come_from_the_table():
    usage = subprocess.run([str(ROOT / "run.sh")], capture_output=True, text=True)
    assert usage.returncode == 2
    shown = re.findall(r"^  \./run\.sh ([a-z-]+)", usage.stdout, re.M)
    assert shown == [c.name for c in COMMANDS]
    unknown = subprocess.run([str(ROOT / "run.sh"), "nope"], capture_output=True, text=True)
    assert unknown.returncode == 2 and unknown.stderr.strip() == commands.unknown("nope")
    assert all(c.name in unknown.stderr for c in COMMANDS)


def test_run_sh_keeps_only_its_own_arms_and_hands_the_rest_to_the_table():
    text = (ROOT / "run.sh").read_text(encoding="utf-8")
    arms = set(re.findall(r"^    ([a-z][a-z|-]*)\)$", text[text.index('case "$cmd" in'):], re.M))
    shell = {c.name for c in COMMANDS if c.module is None}
    assert arms == shell, arms ^ shell
    for command in COMMANDS:
        if command.module is not None:
            assert callable(__import__(command.module, fromlist=["main"]).main), command.name


@pytest.mark.parametrize("name", [c.name for c in COMMANDS if c.module is not None])
def test_every_table_command_says_an_error_in_one_line(name, monkeypatch, capsys):
    seen = []

    def main(argv):
        seen.append(argv)
        raise ConfigError("[postgres] host is not set")
    monkeypatch.setattr("importlib.import_module", lambda module: types.SimpleNamespace(main=main))
    assert commands.run(name, ["--x"]) == 2
    assert capsys.readouterr().err == f"run.sh {name}: [postgres] host is not set\n"
    assert seen == [[name, "--x"] if BY_NAME[name].verb else ["--x"]]
