"""Segment ids of a state stored in parts (a declarant's hours, an office's ten minutes).

A segment holds the entries of one span of event time; a busy span is
split into parts (``span``, ``span.1``, ``span.2``, ...) so no stored
record nears the broker's message limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sized
from typing import TypeVar

V = TypeVar("V")


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


def span_of(segment_id: str) -> int:
    """The span (hour, ten minutes) a segment id stands for, whatever its part."""
    return int(segment_id.partition(".")[0])


class Segments(MutableMapping[str, V]):
    """A state's segments by id, held in memory only while useful when they can be read back.

    Every id the state has is listed; a segment's entries are loaded on first
    use through ``reader`` (what the table holds for it, staged or stored)
    and let go by ``release`` once written. Without a reader (a state built
    in memory, as in the tests) every segment stays loaded. A declarant
    remembers eight days of declarations: all in memory, they made a
    worker's resident set grow with every declaration it saw.
    """

    def __init__(self, reader: Callable[[str], V | None] | None = None) -> None:
        self.reader = reader
        self._ids: set[str] = set()
        self._loaded: dict[str, V] = {}

    def __getitem__(self, segment_id: str) -> V:
        loaded = self._loaded.get(segment_id)
        if loaded is not None:
            return loaded
        if segment_id not in self._ids or self.reader is None:
            raise KeyError(segment_id)
        segment = self.reader(segment_id)
        if segment is None:
            raise LookupError(f"segment {segment_id!r} is listed but neither staged nor stored")
        self._loaded[segment_id] = segment
        return segment

    def __setitem__(self, segment_id: str, segment: V) -> None:
        self._ids.add(segment_id)
        self._loaded[segment_id] = segment

    def __delitem__(self, segment_id: str) -> None:
        self._ids.remove(segment_id)
        self._loaded.pop(segment_id, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def loaded(self) -> int:
        """How many segments are in memory."""
        return len(self._loaded)

    def release(self, keep_spans: int) -> None:
        """Let go of the loaded segments more than ``keep_spans`` spans before the newest loaded.

        Only when they can be read back. The newest loaded, not the newest
        listed: a few are loaded, and every id would be looked at per batch.
        """
        if self.reader is None or not self._loaded:
            return
        spans = {segment_id: span_of(segment_id) for segment_id in self._loaded}
        oldest_kept = max(spans.values()) - keep_spans
        for segment_id, span in spans.items():
            if span < oldest_kept:
                del self._loaded[segment_id]
