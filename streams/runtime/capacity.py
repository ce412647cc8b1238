"""Each office's inspection capacity: from the settings, changed at run time through ``cargo.lane-capacity``.

The settings give the capacities a worker starts from (``lane_capacity``,
``default_lane_capacity``, ``lane_window_s``). A record on the compacted
topic (key: the office code, or ``EVERY_OFFICE`` for the offices not named)
replaces one office's capacity; a tombstone restores the settings'. Workers
read the topic whole before they process anything and follow it like the
rules, so a change applies to the lanes decided after a worker reads it. A
longer window counts only the arrivals the office kept under the shorter one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.risk.lanes import Capacity, LanePolicy
from streams.errors import UserError
from streams.runtime.control import publish_control, read_compacted
from streams.runtime.stream_time import wall_ms
from streams.settings import Settings

# The key of the record that replaces the default capacity (the offices no record or setting names).
EVERY_OFFICE = "*"


def lane_policy(settings: Settings, records: Mapping[str, Mapping[str, Any] | None] | None = None) -> LanePolicy:
    """The offices' capacities from the settings with the topic's records applied, and the control rate."""
    window_ms = int(settings.lane_window_s * 1000)
    capacities = {office: Capacity(*pair, window_ms) for office, pair in settings.lane_capacity.items()}
    default = Capacity(*settings.default_lane_capacity, window_ms)
    for office, record in (records or {}).items():
        if record is None:
            continue
        seconds = record["window_seconds"]
        capacity = Capacity(record["red"], record["yellow"], window_ms if seconds is None else int(seconds * 1000))
        if office == EVERY_OFFICE:
            default = capacity
        else:
            capacities[office] = capacity
    return LanePolicy(capacities, default, settings.control_sample_rate)


def current_policy(settings: Settings) -> LanePolicy:
    """The capacities in force now: the settings with the topic applied."""
    return lane_policy(settings, read_compacted(settings, "lane_capacity").records)


def set_capacity(settings: Settings, office_code: str, red: int, yellow: int, window_s: float | None = None,
                 updated_by: str | None = None) -> Capacity:
    """Write an office's new capacity (``EVERY_OFFICE``: the default) to the topic; return it."""
    if not office_code.strip():
        raise UserError("the office code is empty")
    if red < 0 or yellow < 0:
        raise UserError(f"capacities are counts of checks, not {red} red and {yellow} yellow")
    if window_s is not None and window_s <= 0:
        raise UserError(f"the window must be positive, not {window_s:g} s")
    publish_control(settings, "lane_capacity", office_code, {
        "office_code": office_code, "red": red, "yellow": yellow, "window_seconds": window_s,
        "updated_by": updated_by, "updated_at": wall_ms()})
    window_ms = int((window_s if window_s is not None else settings.lane_window_s) * 1000)
    return Capacity(red, yellow, window_ms)


def reset_capacity(settings: Settings, office_code: str) -> None:
    """Drop an office's run-time capacity (a tombstone): the settings' applies again."""
    if read_compacted(settings, "lane_capacity").records.get(office_code) is None:
        raise UserError(f"office {office_code!r} has no run-time capacity to reset")
    publish_control(settings, "lane_capacity", office_code, None)
