"""``./run.sh cron``: the crontab for this checkout, from schedule.toml; ``--markdown``: the
README's schedule section (a test keeps the README equal to it; ``--update-readme`` rewrites
it)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import luigi.configuration

from registry import ROOT
from registry.schedule import ScheduleFile, load_schedule
from targets.config import district

README = ROOT / "README.md"
BEGIN, END = "<!-- schedule: made by ./run.sh cron --markdown -->", "<!-- /schedule -->"
DEFAULT_SECRETS = "/etc/district-etl/secrets.env"


def crontab(schedule: ScheduleFile, run_sh: str, secrets_env: str = DEFAULT_SECRETS,
            sections: set[str] | None = None, district: str = "") -> str:
    """The cron line of every slot whose flow is configured (its ``needs`` sections are all in
    ``sections``; None: print every line), for the checkout whose run.sh is ``run_sh``. Runs
    log to logs/ and mail their own failures, so cron mails nothing (MAILTO=""). ``district``:
    the lines of that district (``--district``), to be installed beside the others'."""
    lines = ["# district-etl: install with `./run.sh cron | crontab -` as the service user." if not district else
             f"# district-etl, district {district}: install with every district's lines as the service user, e.g."
             f" `{{ ./run.sh cron --district {district}; ./run.sh cron --district other; }} | crontab -`.",
             "# Times are the machine's; set CRON_TZ if it is not the district's time zone.",
             "# Each run logs to logs/<date>/ and mails its own failures: cron mails nothing.",
             'MAILTO=""', f"ETL_SECRETS_ENV={secrets_env}"]
    left_out = []
    for s in schedule.slot:
        missing = [n for n in s.needs if sections is not None and n not in sections]
        if missing:
            left_out.append(f"# {s.task} left out: luigi.cfg has no {', '.join(f'[{n}]' for n in missing)}")
            continue
        lines.append(f"{s.cron:18} {run_sh} luigi{' --district ' + district if district else ''}"
                     f" --module {s.module} {s.task}")
    return "\n".join(lines + left_out) + "\n"


def markdown(schedule: ScheduleFile, run_sh: str = "/srv/district-etl/run.sh") -> str:
    """The README's schedule: a table of the slots, then the crontab."""
    rows = ["| cron | task | what |", "|---|---|---|"]
    for s in schedule.slot:
        what = s.about + (f" (needs {', '.join(f'[{n}]' for n in s.needs)})" if s.needs else "")
        if s.runs:
            what += " — runs " + ", ".join(f"`{r.task.rsplit('.', 1)[1]}`" for r in s.tasks)
        if s.loads:
            what += " — loads " + ", ".join(f"`{f}/`" for f in s.loads)
        rows.append(f"| `{s.cron}` | `{s.module}` `{s.task}` | {what} |")
    return "\n".join([BEGIN, *rows, "", "```cron", crontab(schedule, run_sh).rstrip("\n"), "```", END])


def readme_section(text: str) -> str:
    """The schedule section as the README has it now ('' if it has none)."""
    if BEGIN not in text or END not in text:
        return ""
    return text[text.index(BEGIN):text.index(END) + len(END)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="run.sh cron", description=__doc__.split("\n\n")[0])
    ap.add_argument("run_sh", nargs="?", default=str(ROOT / "run.sh"), help="the run.sh cron calls")
    ap.add_argument("--markdown", action="store_true", help="print the README's schedule section")
    ap.add_argument("--update-readme", action="store_true", help="rewrite the README's schedule section")
    args = ap.parse_args(argv)
    schedule = load_schedule()
    if args.update_readme:
        text = README.read_text(encoding="utf-8")
        old = readme_section(text)
        if not old:
            print(f"{README} has no {BEGIN} ... {END} section", file=sys.stderr)
            return 2
        Path(README).write_text(text.replace(old, markdown(schedule)), encoding="utf-8")
        return 0
    if args.markdown:
        print(markdown(schedule))
    else:
        print(crontab(schedule, args.run_sh, sections=set(luigi.configuration.get_config().sections()),
                      district=district()), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
