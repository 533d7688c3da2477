"""Vendor views as code: ``sql/views/<dataset>/<View>.sql`` → BigQuery views, deployed only
when their SQL changed (the SQL's sha256 is kept in the view's description).

Cadence: on deploy (and before the 05:00 exports). Sections: ``[bigquery]``, ``[views]
source_dataset`` (default ``powerschool``), ``[district]`` (code, name, address, city, state,
zip, phone: the SAVVAS district row). Placeholders in the SQL: ``{project}``, ``{source}``
and ``{district_<key>}``. Run: ``./run.sh luigi --module pipelines.views DeployViews``.

SQL file convention: in the top-level SELECT (before the first ``FROM`` at the start of a
line) each column ends a line with ``AS <Name>``; those names, in order, are the file header
an export writes (an explicit list keeps the vendor's case on every engine). Deploy checks
that the view has exactly those columns, no more and no fewer.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import luigi

from pipelines.base import DistrictTask, DistrictWrapperTask, ROOT
from targets.bigquery import BigQueryClient, ViewTarget
from targets.config import Section
from targets.errors import ConfigError

logger = logging.getLogger(__name__)

VIEWS_DIR = ROOT / "sql" / "views"
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_TOP_COLUMN = re.compile(r"^\s{2,}.*\bAS\s+`?([A-Za-z_][\w-]*)`?\s*,?\s*$")


def view_files(views_dir: Path = VIEWS_DIR) -> dict[str, Path]:
    """``dataset.View`` → its SQL file."""
    return {f"{p.parent.name}.{p.stem}": p for p in sorted(views_dir.glob("*/*.sql"))}


def placeholders() -> dict[str, str]:
    """Values for the SQL placeholders, from config (``[views]``, ``[district]``)."""
    bq = BigQueryClient.from_config()
    values = {"project": bq.settings.project}
    try:
        values["source"] = Section("views").str("source_dataset", "powerschool")
    except ConfigError:
        values["source"] = "powerschool"
    try:
        district = Section("district")
        for key in ("code", "name", "address", "city", "state", "zip", "phone"):
            values[f"district_{key}"] = (district.str(key) or "").replace("'", "\\'")
    except ConfigError:
        pass
    return values


def render(sql: str, values: dict[str, str], name: str = "view") -> str:
    def sub(m: re.Match) -> str:
        if m.group(1) not in values:
            raise ConfigError(f"{name}: no value for placeholder {{{m.group(1)}}} (see [district] / [views])")
        return values[m.group(1)]
    return _PLACEHOLDER.sub(sub, sql)


def view_columns(sql: str) -> list[str]:
    """The output column names of a view, from its top-level SELECT (see module docstring)."""
    columns = []
    for line in sql.splitlines():
        if line.startswith("FROM") or line.startswith("UNION"):
            break
        m = _TOP_COLUMN.match(line)
        if m:
            columns.append(m.group(1))
    return columns


class DeployView(DistrictTask):
    """One view in BigQuery, created or replaced because its SQL changed."""

    view = luigi.Parameter()  # dataset.View

    def _sql(self) -> str:
        path = view_files()[self.view]
        return render(path.read_text(encoding="utf-8"), placeholders(), path.name)

    def output(self):
        return ViewTarget(BigQueryClient.from_config(), self.view, self._sql())

    def run(self):
        client, sql = BigQueryClient.from_config(), self._sql()
        client.deploy_view(self.view, sql)
        columns = view_columns(sql)
        if not columns:
            raise ConfigError(f"{self.view}: no top-level 'AS <Name>' columns found (see pipelines/views.py)")
        table = f"`{client.table_id(self.view)}`"
        listed = ", ".join(f"`{c}`" for c in columns)
        client.query(f"SELECT {listed} FROM {table} LIMIT 0")  # fails if one is missing
        actual = client.columns(f"SELECT * FROM {table} LIMIT 0")
        if [c.lower() for c in actual] != [c.lower() for c in columns]:
            raise ConfigError(f"{self.view}: the view returns {actual} but its SQL file lists {columns} "
                              "(every top-level column must end its line with AS <Name>)")


class DeployViews(DistrictWrapperTask):
    """Every view under sql/views deployed with its current SQL."""

    def requires(self):
        return [DeployView(view=v) for v in view_files()]


def export_query(client: BigQueryClient, view: str, columns: list[str] | None = None) -> tuple[str, list[str]]:
    """``SELECT Col AS Col, ...`` over a deployed view (its own columns, or the ones given:
    a vendor's exact header), and that header."""
    columns = list(columns or view_columns(view_files()[view].read_text(encoding="utf-8")))
    listed = ", ".join(f"`{c}` AS `{c}`" for c in columns)
    return f"SELECT {listed} FROM `{client.table_id(view)}`", columns
