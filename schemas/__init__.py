"""The Avro schemas of every cargoguard topic value, shipped as package data.

Each ``*.avsc`` file is the contract for one topic; ``load(name)`` returns the
parsed JSON of ``<name>.avsc``.
"""

import json
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_NAMES = (
    "declaration",
    "manifest",
    "gate_event",
    "watchlist_entry",
    "rule_config",
    "alert",
    "dead_letter",
)


@cache
def load(name: str) -> dict[str, Any]:
    """Return the JSON document of ``schemas/<name>.avsc``."""
    if name not in SCHEMA_NAMES:
        raise KeyError(f"no schema named {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    text = resources.files(__name__).joinpath(f"{name}.avsc").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
