"""Operator tooling behind ``./run.sh``: commands that read the ledger, the registries and the
schedule and print what an operator needs. They reuse the flows' own parts (targets, formats,
registry) and never duplicate a flow's logic."""

import logging
import sys
from typing import Callable


def quiet_console(name: str) -> None:
    """An operator command's console: its own lines and errors, not the libraries' warnings on
    the way (a retry's "unreachable, attempt 1 of 3"); the command says what failed itself."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.ERROR, format=f"run.sh {name}: %(message)s")


def one_line_errors(name: str, main: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
    """``main`` with a service that is down or a setting that is wrong said in one line (and
    what to do), exit 2, never a traceback."""
    def run(argv: list[str]) -> int:
        from targets.errors import ConfigError, EtlError
        quiet_console(name)
        try:
            return main(argv)
        except ConfigError as e:
            print(f"run.sh {name}: {e}", file=sys.stderr)
        except (EtlError, OSError) as e:
            print(f"run.sh {name}: {e}\n  Is it running? The embedded stack: ./run.sh stack up; a server: "
                  "./run.sh check says which part is down.", file=sys.stderr)
        return 2
    return run
