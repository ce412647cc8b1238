"""A shipment's own events, newest kept, for the control room's case timeline.

The shipment state keeps only what its rules need (each declaration's
newest version, the newest manifest, some gate passages); an officer
deciding a case wants the sequence: every declaration version, the
manifest, each gate passage. Each event leaves a small entry with the
fields an officer reads, and the memory is bounded like the passages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

# Entries kept per shipment: the newest, by event time.
TIMELINE_MEMORY = 48

# The fields each kind of event shows, in the order the page shows them.
SHOWN_FIELDS: dict[str, tuple[str, ...]] = {
    "decl": ("declaration_id", "action", "procedure", "gross_weight_kg", "package_count", "total_value_usd",
             "declarant_id"),
    "manifest": ("manifest_id", "gross_weight_kg", "package_count"),
    "gate": ("gate_id", "direction", "vehicle_plate", "container_no", "seal_intact", "cargo_weight_kg"),
}
KIND_NAMES = {"decl": "declaration", "manifest": "manifest", "gate": "gate"}


class TimelineEntry(TypedDict):
    """One event of the shipment as the case timeline shows it."""

    event_id: str
    event_time: int
    kind: str
    office_code: str
    facts: dict[str, Any]


def entry_of(kind: str, event: Mapping[str, Any]) -> TimelineEntry:
    """The timeline entry of a routed shipment event (kind ``decl``, ``manifest`` or ``gate``)."""
    return {
        "event_id": event["event_id"],
        "event_time": event["event_time"],
        "kind": KIND_NAMES[kind],
        "office_code": event["office_code"],
        "facts": {name: event.get(name) for name in SHOWN_FIELDS[kind] if event.get(name) is not None},
    }


def add(timeline: list[TimelineEntry], entry: TimelineEntry) -> None:
    """Add ``entry`` once (a redelivered event adds nothing), keeping the newest ``TIMELINE_MEMORY`` by event time."""
    event_id = entry["event_id"]
    if any(known["event_id"] == event_id for known in timeline):
        return
    timeline.append(entry)
    if len(timeline) > 1 and (timeline[-2]["event_time"], timeline[-2]["event_id"]) > (entry["event_time"], event_id):
        timeline.sort(key=lambda e: (e["event_time"], e["event_id"]))
    if len(timeline) > TIMELINE_MEMORY:
        del timeline[: len(timeline) - TIMELINE_MEMORY]
