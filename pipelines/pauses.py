"""Paused flows (``./run.sh pause FLOW`` / ``resume FLOW``): a flow is a vendor of
vendors.toml (``clever``) or a pipelines module (``dps``, ``eis``, ``feeds``, ``warehouse``).
A paused flow's runs do nothing, say so and exit 0; a slot that starts several flows leaves the
paused ones out. The pauses are files in ``<var>/paused/`` (who, when, why; a district's in
``<var>/paused/<district>/``), so they hold for every run on this host until resumed.
"""
from __future__ import annotations

import json
from pathlib import Path

import luigi

from pipelines.base import var_dir
from targets.config import district

MODULE_FLOWS = ("dps", "eis", "feeds", "feeds_weekly", "meetmax", "warehouse", "powerschool", "easyiep", "texas",
                "pulls", "views", "merge")


def pause_dir() -> Path:
    return var_dir() / "paused" / district() if district() else var_dir() / "paused"


def flows() -> list[str]:
    from pipelines.vendors import vendors_file
    return sorted(set(vendors_file().vendors) | set(MODULE_FLOWS))


def paused(flow: str) -> dict | None:
    """The pause of ``flow`` (who, when, why), or None if it runs."""
    try:
        return json.loads((pause_dir() / f"{flow}.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def flows_of(task: luigi.Task) -> list[str]:
    """The flows a task belongs to: its vendor (if it has one) and its module."""
    out = [task.__module__.rsplit(".", 1)[-1]]
    vendor = getattr(task, "vendor", None)
    if isinstance(vendor, str):
        out.insert(0, vendor)
    return out


def pause_of(task: luigi.Task) -> tuple[str, dict] | None:
    for flow in flows_of(task):
        info = paused(flow)
        if info is not None:
            return flow, info
    return None


def describe(flow: str, info: dict) -> str:
    why = f": {info['reason']}" if info.get("reason") else ""
    return (f"{flow} is paused (since {info.get('since', '?')}, by {info.get('by', '?')}{why}); "
            f"nothing of it runs until ./run.sh resume {flow}")
