"""The Avro schemas of every cargoguard topic value, shipped as package data.

Each ``*.avsc`` file is the contract for one topic; ``load(name)`` returns the
parsed JSON of ``<name>.avsc``, the current version. Every earlier published
version stays beside it as ``history/<name>.v<N>.avsc`` (N from 1, oldest
first; the current one is not repeated there), because values written with it
may still sit in a topic and must stay readable; ``history(name)`` returns them.
"""

import json
import re
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
    "user",
    "case",
    "case_action",
    "inspection_result",
    "selectivity",
    "lane_capacity",
    "inspected_declaration",
)

_HISTORY_FILE = re.compile(r"(?P<name>\w+)\.v(?P<version>[1-9][0-9]*)\.avsc")


def _check_name(name: str) -> None:
    if name not in SCHEMA_NAMES:
        raise KeyError(f"no schema named {name!r}; known: {', '.join(SCHEMA_NAMES)}")


@cache
def load(name: str) -> dict[str, Any]:
    """Return the JSON document of ``schemas/<name>.avsc``."""
    _check_name(name)
    text = resources.files(__name__).joinpath(f"{name}.avsc").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def history(name: str) -> dict[int, dict[str, Any]]:
    """Every earlier published version of ``<name>.avsc`` by its number, oldest first.

    Empty for a schema that never changed.
    """
    _check_name(name)
    found: dict[int, dict[str, Any]] = {}
    for entry in resources.files(__name__).joinpath("history").iterdir():
        match = _HISTORY_FILE.fullmatch(entry.name)
        if match and match["name"] == name:
            found[int(match["version"])] = json.loads(entry.read_text(encoding="utf-8"))
    return dict(sorted(found.items()))
