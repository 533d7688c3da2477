"""``./run.sh cron``: the crontab for this checkout, from schedule.toml; ``--plain``: the same
lines in the design card's form, the venv's own ``luigi --module M Task`` (pipelines/plain.py:
the same run); ``--markdown``: the README's schedule section (a test keeps the README equal to
it; ``--update-readme`` rewrites it).

The times are the district's (``[etl] timezone``), set for the crontab by ``CRON_TZ``. cronie
(RHEL, Fedora, Arch, SUSE) honours it; Debian's and Ubuntu's cron do not (their crontab(5):
"does not support per-user timezones") and fire at the machine's times: the crontab says so
when the machine's zone is not the district's (./run.sh systemd has no such limit)."""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import zoneinfo
from pathlib import Path

import luigi.configuration

from registry import ROOT
from registry.schedule import ScheduleFile, load_schedule
from targets import clock
from targets.config import district

README = ROOT / "README.md"
BEGIN, END = "<!-- schedule: made by ./run.sh cron --markdown -->", "<!-- /schedule -->"
DEFAULT_SECRETS = "/etc/district-etl/secrets.env"


def crontab(schedule: ScheduleFile, run_sh: str, secrets_env: str = DEFAULT_SECRETS,
            sections: set[str] | None = None, district: str = "", zone: str = "America/Chicago",
            luigi_bin: str = "", notes: list[str] = ()) -> str:
    """The cron line of every slot whose flow is configured (its ``needs`` sections are all in
    ``sections``; None: print every line), for the checkout whose run.sh is ``run_sh`` (or, with
    ``luigi_bin``, in the plain form: that venv's luigi). Runs log to logs/ and mail their own
    failures, so cron mails nothing (MAILTO=""). ``district``: the lines of that district
    (``--district``), to be installed beside the others'. ``zone``: the district's, as CRON_TZ.
    ``notes``: comment lines about this machine (zone_warning)."""
    install = "./run.sh cron" + (" --plain" if luigi_bin else "")
    lines = [f"# district-etl: install with `{install} | crontab -` as the service user." if not district else
             f"# district-etl, district {district}: install with every district's lines as the service user, e.g."
             f" `{{ {install} --district {district}; {install} --district other; }} | crontab -`.",
             f"# Times are the district's ({zone}): CRON_TZ sets them for cronie; Debian's and Ubuntu's cron",
             "# ignore it and use the machine's zone (set it to the district's, or use ./run.sh systemd).",
             *notes,
             "# Each run logs to logs/<date>/ and mails its own failures: cron mails nothing.",
             'MAILTO=""', f"CRON_TZ={zone}", f"ETL_SECRETS_ENV={secrets_env}"]
    left_out = []
    for s in schedule.slot:
        missing = [n for n in s.needs if sections is not None and n not in sections]
        if missing:
            left_out.append(f"# {s.task} left out: luigi.cfg has no {', '.join(f'[{n}]' for n in missing)}")
            continue
        command = luigi_bin if luigi_bin else f"{run_sh} luigi"
        lines.append(f"{s.cron:18} {command}{' --district ' + district if district else ''}"
                     f" --module {s.module} {s.task}")
    return "\n".join(lines + left_out) + "\n"


def zone_warning(zone: str) -> list[str]:
    """A comment when this machine's local time is not the district's (compared in January and
    July, so daylight saving counts): a cron that ignores CRON_TZ would fire at other hours."""
    tz = zoneinfo.ZoneInfo(zone)
    year = clock.now().year
    for month in (1, 7):
        moment = dt.datetime(year, month, 15, 12, tzinfo=dt.timezone.utc)
        if moment.astimezone().utcoffset() != moment.astimezone(tz).utcoffset():
            local = dt.datetime.now().astimezone().tzname()
            return [f"# WARNING: this machine's zone ({local}) is not {zone}: with Debian's or Ubuntu's cron these "
                    "lines fire at the machine's times."]
    return []


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
    ap.add_argument("--plain", action="store_true",
                    help="the design card's form: this venv's luigi --module M Task (the same run as run.sh luigi)")
    ap.add_argument("--secrets-env", default=os.environ.get("ETL_SECRETS_ENV") or DEFAULT_SECRETS,
                    help=f"the secrets file the runs read (default: ETL_SECRETS_ENV, else {DEFAULT_SECRETS})")
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
        cfg = luigi.configuration.get_config()
        zone = cfg.get("etl", "timezone", "America/Chicago")
        luigi_bin = str(Path(args.run_sh).resolve().parent / ".venv" / "bin" / "luigi") if args.plain else ""
        print(crontab(schedule, args.run_sh, secrets_env=args.secrets_env, sections=set(cfg.sections()),
                      district=district(), zone=zone, luigi_bin=luigi_bin, notes=zone_warning(zone)),
              end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
