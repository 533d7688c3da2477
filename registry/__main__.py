"""``python -m registry schemas``: write the registries' JSON Schemas to registry/schemas/
(a test fails while a shipped schema differs from its model)."""
from __future__ import annotations

import sys

from registry.jsonschema import SCHEMAS, schemas


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
