"""``./run.sh diagrams [--check]``: the diagrams in docs/ made from what they show, so they
cannot drift (Mermaid, which GitHub and most Markdown viewers draw):

- docs/erd.md: the ``dba`` schema, read from a migrated database's catalogue (tables, columns,
  keys, foreign keys);
- docs/flows.md: the flows, from the registries as the crontab is (schedule.toml's slots,
  vendors.toml's pushes, pulls and forwards, sources.toml's folders and tables).

``--check`` writes nothing and exits 1 when a file differs from what it would write.
tests/ops/test_diagrams.py checks both against a freshly migrated database and the registries.
"""
from __future__ import annotations

import argparse
import re
import sys

from pipelines.base import ROOT

ERD = ROOT / "docs" / "erd.md"
FLOWS = ROOT / "docs" / "flows.md"
MADE_BY = "<!-- made by ./run.sh diagrams from {what}: edit that, not this file -->"


def _id(text: str) -> str:
    return re.sub(r"\W", "_", text)


def erd(cur, schema: str = "dba") -> str:
    """The schema's tables as a Mermaid erDiagram, from the catalogue."""
    cur.execute("""SELECT c.table_name, c.column_name, c.data_type, c.is_nullable = 'YES',
                          EXISTS (SELECT 1 FROM information_schema.table_constraints t
                                  JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name)
                                  WHERE t.constraint_type = 'PRIMARY KEY' AND t.table_schema = c.table_schema
                                    AND t.table_name = c.table_name AND k.column_name = c.column_name)
                   FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
                   WHERE c.table_schema = %s AND t.table_type = 'BASE TABLE'
                   ORDER BY c.table_name, c.ordinal_position""", (schema,))
    tables: dict[str, list[str]] = {}
    for table, column, kind, nullable, key in cur.fetchall():
        note = "PK" if key else ""
        comment = ' "null"' if nullable and not key else ""
        tables.setdefault(table, []).append(f"        {_id(kind)} {column}{' ' + note if note else ''}{comment}")
    cur.execute("""SELECT tc.table_name, kcu.column_name, ccu.table_name
                   FROM information_schema.table_constraints tc
                   JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name)
                   JOIN information_schema.constraint_column_usage ccu USING (constraint_schema, constraint_name)
                   WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = %s
                   ORDER BY 1, 2""", (schema,))
    links = [f'    {target} ||--o{{ {table} : "{column}"' for table, column, target in cur.fetchall()]
    lines = [MADE_BY.format(what=f"the migrated database's catalogue (schema {schema}, sql/*.sql)"), "",
             f"# The `{schema}` schema", "", "Every table and column of a database migrated by `sql/` "
             "(`PostgresClient.migrate`), with its type; `PK` marks the primary key, \"null\" a column that may be "
             "empty.", "", "```mermaid", "erDiagram"]
    for table, columns in tables.items():
        lines += [f"    {table} {{", *columns, "    }"]
    lines += links + ["```", ""]
    return "\n".join(lines)


def _run_node(run) -> str:
    """A slot's task as the node of what it does: a push, pull or forward by its parameter, else
    the task itself."""
    cls = run.task_class()
    try:
        values = dict(cls.get_param_values(cls.get_params(), [], dict(run.params)))
    except Exception:  # noqa: BLE001  (a task whose parameters have no defaults: drawn by its name)
        values = dict(run.params)
    for key, prefix in (("vendor", "push"), ("pull", "pull"), ("forward", "forward")):
        if isinstance(values.get(key), str):
            return f"{prefix}_{_id(values[key])}"
    return f'task_{_id(cls.__name__)}["{cls.__name__}"]'


def flows() -> str:
    """The flows as a Mermaid flowchart, from schedule.toml, vendors.toml and sources.toml."""
    from pipelines.base import sources_file, vendors_file
    from registry.schedule import load_schedule
    schedule, vendors, sources = load_schedule(), vendors_file(), sources_file()
    lines = [MADE_BY.format(what="schedule.toml, vendors.toml and sources.toml"), "", "# The flows", "",
             "What runs when (schedule.toml), where each vendor's files go and come from (vendors.toml) and "
             "which folders load into which tables (sources.toml); the crontab is made from the same tables "
             "(`./run.sh cron`).", "", "```mermaid", "flowchart LR"]
    lines.append('    warehouse[("BigQuery warehouse")]')
    for slot in schedule.slot:
        node = f"slot_{_id(slot.task)}"
        lines.append(f'    {node}(["{slot.task}<br/>{slot.cron}"])')
        for folder in slot.loads:
            lines.append(f"    {node} -->|loads| folder_{_id(folder)}")
        drawn = [_run_node(run) for run in slot.tasks]
        drawn += [f"push_{_id(name)}" for name, v in vendors.vendors.items()
                  if v.slot == slot.task and f"push_{_id(name)}" not in drawn]  # vendors.toml's own (slot = ...)
        for target in drawn:
            lines.append(f"    {node} --> {target}")
    kinds: dict[str, list[str]] = {}
    for source in sources.source:
        kinds.setdefault(source.folder, []).append(source.pattern)
    for folder, patterns in kinds.items():
        label = patterns[0] if len(patterns) == 1 else f"{len(patterns)} kinds of file"
        lines.append(f'    folder_{_id(folder)}["{folder}/"] -->|"{label}"| warehouse')
    for name, vendor in vendors.vendors.items():
        lines.append(f'    warehouse -->|"views"| push_{_id(name)}["push {name}"]')
        lines.append(f'    push_{_id(name)} -->|SFTP| server_{_id(vendor.server)}{{{{"{vendor.server}"}}}}')
    for pull in vendors.pull:
        lines.append(f'    server_{_id(pull.server)}{{{{"{pull.server}"}}}} -->|"{pull.pattern}"| '
                     f'pull_{_id(pull.name)}["pull {pull.name}"] --> folder_{_id(pull.dest)}["{pull.dest}/"]')
    for forward in vendors.forward:
        lines.append(f'    pull_{_id(forward.pull)} --> forward_{_id(forward.name)}["forward {forward.name}"] '
                     f'-->|SFTP| server_{_id(forward.server)}{{{{"{forward.server}"}}}}')
    lines += ["```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="run.sh diagrams", description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 where a diagram is stale")
    args = ap.parse_args(argv)
    from targets.postgres import PostgresClient
    client = PostgresClient.from_config()
    try:
        with client.transaction() as cur:
            made = {ERD: erd(cur), FLOWS: flows()}
    finally:
        client.close()
    stale = [path for path, text in made.items() if not path.exists() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"run.sh diagrams: {path.relative_to(ROOT)} is stale: ./run.sh diagrams writes it anew",
                  file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(made[path], encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
