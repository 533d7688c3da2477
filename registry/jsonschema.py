"""The registries' JSON Schemas (``registry/schemas/``), made from the models: editors check
and complete the TOML files with them. ``python -m registry schemas`` writes them; a test
fails while a shipped one differs from its model."""
from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from registry.schedule import ScheduleFile
from registry.sources import SourcesFile
from registry.vendors import VendorsFile

SCHEMAS = Path(__file__).resolve().parent / "schemas"


def json_schema(model: type[BaseModel], title: str) -> dict:
    """The JSON Schema an editor uses for the registry file (what ``registry/schemas`` holds)."""
    schema = model.model_json_schema(mode="validation")
    hook = getattr(model, "file_schema", None)
    if hook is not None:
        schema = hook(schema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "title": title}


def schema_text(model: type[BaseModel], title: str) -> str:
    return json.dumps(json_schema(model, title), indent=2, ensure_ascii=False) + "\n"


def schemas() -> dict[str, str]:
    """File name → JSON Schema text, for every registry."""
    return {"vendors.schema.json": schema_text(VendorsFile, "vendors.toml"),
            "sources.schema.json": schema_text(SourcesFile, "sources.toml"),
            "schedule.schema.json": schema_text(ScheduleFile, "schedule.toml")}
