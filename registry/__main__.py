"""``python -m registry schemas``: write the registries' JSON Schemas to registry/schemas/
(a test fails while a shipped schema differs from its model)."""
from __future__ import annotations

import sys

from registry import SCHEMAS, schema_text


def schemas() -> dict[str, str]:
    """File name → JSON Schema text, for every registry."""
    from registry.schedule import ScheduleFile
    from registry.sources import SourcesFile
    from registry.vendors import VendorsFile
    return {"vendors.schema.json": schema_text(VendorsFile, "vendors.toml"),
            "sources.schema.json": schema_text(SourcesFile, "sources.toml"),
            "schedule.schema.json": schema_text(ScheduleFile, "schedule.toml")}


def main(argv: list[str]) -> int:
    if argv != ["schemas"]:
        print("usage: python -m registry schemas", file=sys.stderr)
        return 2
    SCHEMAS.mkdir(exist_ok=True)
    for name, text in schemas().items():
        (SCHEMAS / name).write_text(text, encoding="utf-8")
        print(f"wrote {SCHEMAS / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
