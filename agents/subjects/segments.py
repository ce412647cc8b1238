"""Segment ids of a state stored in parts (a declarant's hours, an office's ten minutes).

A segment holds the entries of one span of event time; a busy span is
split into parts (``span``, ``span.1``, ``span.2``, ...) so no stored
record nears the broker's message limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sized


def first_with_room(segments: Mapping[str, Sized], span: int, capacity: int) -> str:
    """The id of the first part of ``span`` holding fewer than ``capacity`` entries (or none yet)."""
    part = 0
    while True:
        segment_id = str(span) if part == 0 else f"{span}.{part}"
        segment = segments.get(segment_id)
        if segment is None or len(segment) < capacity:
            return segment_id
        part += 1


def segment_order(segment_id: str) -> tuple[int, ...]:
    """Sorts segment ids by span, then part."""
    return tuple(int(number) for number in segment_id.split("."))
