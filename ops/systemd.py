"""``./run.sh systemd [--user U] [--out DIR]``: systemd units from the one schedule table
(schedule.toml), the alternative to the crontab (``./run.sh cron``):

- a ``district-etl-<task>.service`` per slot (``Type=oneshot``: ``run.sh luigi --module M
  Task``, as the service user, with the secrets file in ``ETL_SECRETS_ENV``);
- a ``district-etl-<task>.timer`` for it: ``OnCalendar=`` in the district's time zone
  (``[etl] timezone``, whatever the machine's), ``Persistent=true`` (a run missed while the
  machine was off happens when it is back);
- ``district-etl-luigid.service``: the visualiser (``./run.sh scheduler``), restarted on failure.

With ``--district NAME`` (one district of several, its overlay districts/NAME.cfg): that
district's units, ``district-etl-NAME-<task>``, running ``run.sh luigi --district NAME ...``
at the times of its own ``[etl] timezone``, written beside the other districts' (the luigid
unit is the same for all).

Cron's day-of-month and day-of-week are "either" when both are given; systemd's are "both", so
such a line becomes two ``OnCalendar=`` entries. Exit 3 (the same run still going) and 20
(waiting for a partner's file, e.g. DPS) are successes to systemd: they are states, not
failures, and every real failure mails the operators itself. Like the crontab, a slot whose
flow is not configured (its ``needs`` sections missing from luigi.cfg) is left out.

Install (docs/operations.md): ``sudo ./run.sh systemd --user etl --out /etc/systemd/system``,
then ``sudo systemctl daemon-reload`` and ``sudo systemctl enable --now 'district-etl-*.timer'
district-etl-luigid.service``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import grp
import os
import pwd
import stat
import sys
import zoneinfo
from pathlib import Path

import luigi.configuration

from ops.cron import DEFAULT_SECRETS
from pipelines.base import today
from registry import ROOT
from registry.schedule import ScheduleFile, Slot, clock_times, cron_fields, load_schedule, runs_on
from targets.config import district as current_district

PREFIX = "district-etl-"
DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]


def spring_gaps(zone: str, start: dt.date, years: int) -> list[tuple[dt.date, dt.time, dt.time]]:
    """The days the clocks jump forward in ``zone`` from ``start`` for ``years``: (day, first
    missing local time, the time the clocks jump to), e.g. (2027-03-14, 02:00, 03:00)."""
    tz = zoneinfo.ZoneInfo(zone)
    gaps = []
    day = start
    while day < start.replace(year=start.year + years):
        nxt = day + dt.timedelta(days=1)
        before = dt.datetime.combine(day, dt.time(0), tz).utcoffset()
        after = dt.datetime.combine(nxt, dt.time(0), tz).utcoffset()
        if after > before:  # forward within this day (or at its midnight): find the missing minutes
            for m in range(24 * 60):
                local = dt.datetime.combine(day, dt.time(m // 60, m % 60))
                if local.replace(tzinfo=tz).astimezone(dt.timezone.utc).astimezone(tz).replace(tzinfo=None) != local:
                    jump = (dt.datetime.combine(day, dt.time(m // 60, m % 60)) + (after - before)).time()
                    gaps.append((day, local.time(), jump))
                    break
        day = nxt
    return gaps


def on_calendar(cron: str, zone: str, start: dt.date | None = None, years: int = 10) -> list[str]:
    """The ``OnCalendar=`` values of a five-field cron line, in ``zone``.

    Where a run falls in the hour the clocks skip in spring, systemd skips that day's run; cron
    (Debian's) runs it when the clocks have jumped. So for each such day of the next ``years``
    (from ``start``, default today), one more dated value runs it then: regenerate the units
    within ``years`` (the timer's description says until when)."""
    minute, hour, dom, month, dow = cron_fields(cron)
    extra = [f"{day:%Y-%m-%d} {jump:%H:%M}:00 {zone}" for day, first, jump in spring_gaps(zone, start or today(), years)
             if runs_on(cron, day) and any(first <= t < jump for t in clock_times(cron))]

    def part(values: list[int] | None) -> str:
        return "*" if values is None else ",".join(f"{v:02d}" for v in values)

    def spec(days: list[int] | None, day_of_month: list[int] | None) -> str:
        weekday = ",".join(DAYS[d] for d in days) + " " if days is not None else ""
        return f"{weekday}*-{part(month)}-{part(day_of_month)} {part(hour)}:{part(minute)}:00 {zone}"

    if dom is not None and dow is not None:  # cron: either matches; systemd: both must
        return [spec(None, dom), spec(dow, None)] + extra
    return [spec(dow, dom)] + extra


def unit_name(task: str, district: str = "") -> str:
    """``district-etl-<task>``, or ``district-etl-<district>-<task>`` for one district of several."""
    name = "".join("-" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(task))
    return PREFIX + (f"{district}-" if district else "") + name


def service(slot: Slot, run_sh: str, user: str, secrets_env: str, district: str = "") -> str:
    return "\n".join([
        "[Unit]",
        f"Description=district-etl {slot.task}{f' ({district})' if district else ''}: {slot.about}",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        f"User={user}",
        f"Group={user}",
        f"WorkingDirectory={Path(run_sh).parent}",
        f"Environment=ETL_SECRETS_ENV={secrets_env}",
        f"ExecStart={run_sh} luigi{f' --district {district}' if district else ''} --module {slot.module} {slot.task}",
        "# 3: the same run is still going; 20: waiting for a partner's file (e.g. DPS). Real failures",
        "# mail the operators themselves and show in ./run.sh status.",
        "SuccessExitStatus=3 20",
        "UMask=0007",
        "",
    ])


def timer(slot: Slot, zone: str, start: dt.date | None = None, years: int = 10, district: str = "") -> str:
    start = start or today()
    calendar = on_calendar(slot.cron, zone, start, years)
    dated = [c for c in calendar if c[:1].isdigit()]
    note = f"; the dated runs (spring clock changes) last until {start.year + years}: regenerate before" if dated else ""
    return "\n".join([
        "[Unit]",
        f"Description=district-etl {slot.task}{f' ({district})' if district else ''} ({slot.cron} in {zone}{note})",
        "",
        "[Timer]",
        *[f"OnCalendar={c}" for c in calendar],
        "Persistent=true",
        "AccuracySec=1s",
        f"Unit={unit_name(slot.task, district)}.service",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ])


def luigid(run_sh: str, user: str, secrets_env: str) -> str:
    return "\n".join([
        "[Unit]",
        "Description=district-etl luigid: Luigi's central scheduler and visualiser (127.0.0.1:8082)",
        "After=network-online.target",
        "",
        "[Service]",
        f"User={user}",
        f"Group={user}",
        f"WorkingDirectory={Path(run_sh).parent}",
        f"Environment=ETL_SECRETS_ENV={secrets_env}",
        f"ExecStart={run_sh} scheduler",
        "Restart=on-failure",
        "RestartSec=10",
        "UMask=0007",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])


def units(schedule: ScheduleFile, run_sh: str, user: str, zone: str, secrets_env: str = DEFAULT_SECRETS,
          sections: set[str] | None = None, district: str = "") -> dict[str, str]:
    """File name -> contents of every unit, for the slots whose flow is configured. For one
    district of several (``district``): its own units, named and run for it, beside the
    others'; the one luigid unit is the same for every district."""
    out = {f"{PREFIX}luigid.service": luigid(run_sh, user, secrets_env)}
    for slot in schedule.slot:
        if sections is not None and any(n not in sections for n in slot.needs):
            continue
        name = unit_name(slot.task, district)
        out[f"{name}.service"] = service(slot, run_sh, user, secrets_env, district)
        out[f"{name}.timer"] = timer(slot, zone, district=district)
    return out


def _may(user: pwd.struct_passwd, path: Path, bits: int) -> bool:
    """Would ``user`` have ``bits`` (r=4, w=2, x=1) on ``path`` by its mode (root has them all)?"""
    if user.pw_uid == 0:
        return True
    st = path.stat()
    groups = {user.pw_gid} | {g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem}
    mode = st.st_mode >> 6 if st.st_uid == user.pw_uid else st.st_mode >> 3 if st.st_gid in groups else st.st_mode
    return mode & bits == bits


def access_problems(user: str, checkout: Path) -> list[str]:
    """Why the units, run as ``user``, could not start ``run.sh`` in ``checkout`` (none: they can)."""
    try:
        who = pwd.getpwnam(user)
    except KeyError:
        return [f"user {user!r} does not exist on this machine: create it (docs/deploy.md) or give --user"]
    for folder in [*reversed(checkout.parents), checkout]:
        if not _may(who, folder, 1):
            return [f"{user} cannot enter {folder} (mode {stat.S_IMODE(folder.stat().st_mode):o}, owner "
                    f"{pwd.getpwuid(folder.stat().st_uid).pw_name}): the units would fail; put the checkout where "
                    f"{user} can read it (docs/deploy.md), or give --user {pwd.getpwuid(checkout.stat().st_uid).pw_name}"]
    if not _may(who, checkout / "run.sh", 5):
        return [f"{user} cannot read and run {checkout / 'run.sh'}: the units would fail"]
    return []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="run.sh systemd", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run-sh", default=str(ROOT / "run.sh"))
    ap.add_argument("--user", help="the service user (and group) the units run as (default: the checkout's owner)")
    ap.add_argument("--secrets-env", default=os.environ.get("ETL_SECRETS_ENV") or DEFAULT_SECRETS,
                    help=f"the secrets file the runs read (default: ETL_SECRETS_ENV, else {DEFAULT_SECRETS})")
    ap.add_argument("--out", type=Path, help="write the unit files into this folder instead of printing them")
    args = ap.parse_args(argv)
    checkout = Path(args.run_sh).resolve().parent
    if checkout.is_dir():  # (units for another machine's checkout are not checked here)
        args.user = args.user or pwd.getpwuid(checkout.stat().st_uid).pw_name
        for problem in access_problems(args.user, checkout):
            print(f"run.sh systemd: WARNING: {problem}", file=sys.stderr)
    args.user = args.user or "etl"
    cfg = luigi.configuration.get_config()
    zone = cfg.get("etl", "timezone", "America/Chicago")
    made = units(load_schedule(), args.run_sh, args.user, zone, args.secrets_env, set(cfg.sections()), current_district())
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, text in made.items():
            (args.out / name).write_text(text, encoding="utf-8")
        print(f"wrote {len(made)} units to {args.out}; then: systemctl daemon-reload && systemctl enable --now "
              f"'{PREFIX}*.timer' {PREFIX}luigid.service")
    else:
        for name, text in made.items():
            print(f"# ---- {name}\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
