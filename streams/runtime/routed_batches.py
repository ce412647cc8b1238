"""The internal wire format: routed batches between the router and the subject agents.

Faust pays a fixed cost per Kafka message, so the router does not forward
events one by one: per step it sends one message to each partition of each
internal topic, holding every event for that partition plus the router's
stream-time progress (several, in order, when that would pass
``MAX_BATCH_BYTES``). Keys are placed by ``partition_for`` (CRC-32), the
same function the subject agents use to find their timers again.

Message value (version 1), JSON: ``{"v": 1, "events": [[key, kind, fields],
...], "progress": {...} | null}``. ``kind`` is ``decl``, ``manifest``,
``gate`` or ``link``; ``fields`` is the event's decoded fields. JSON is
written with orjson, an order of magnitude faster than the standard
library on this hot path.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

BATCH_VERSION = 1
# A step's share for one partition is split above this size: the producer refuses a
# message over 1 MiB (``max_request_size``), and a busy office's share of a 2,000-event
# step, each LODGED declaration with its feature vector and categories, passes it.
MAX_BATCH_BYTES = 512 * 1024


def partition_for(key: str, partitions: int) -> int:
    """The internal partition that owns a subject key."""
    return zlib.crc32(key.encode("utf-8")) % partitions


@dataclass(slots=True)
class RoutedBatch:
    """One decoded internal message."""

    events: list[tuple[str, str, dict[str, Any]]]
    progress: dict[str, Any] | None


def encode_batch(events: list[tuple[str, str, object]], progress: Mapping[str, Any] | None) -> bytes:
    """Serialize one partition's share of a routing step."""
    return orjson.dumps({"v": BATCH_VERSION, "events": events, "progress": progress})


def encode_batches(events: list[tuple[str, str, object]], progress: Mapping[str, Any] | None,
                   limit: int = MAX_BATCH_BYTES) -> list[bytes]:
    """One partition's share of a step as messages of at most ``limit`` bytes, in order, the progress with the last.

    The subject agent applies a batch's progress before its events and
    judges lateness against the stream time before it, so events sent ahead
    of their step's progress are judged as they would be with it.
    """
    value = encode_batch(events, progress)
    if len(value) <= limit or len(events) <= 1:
        return [value]
    half = len(events) // 2
    return encode_batches(events[:half], None, limit) + encode_batches(events[half:], progress, limit)


def decode_batch(data: bytes) -> RoutedBatch:
    """Parse an internal message; ``ValueError`` if it is not a version-1 batch."""
    doc = orjson.loads(data)
    if not isinstance(doc, dict) or doc.get("v") != BATCH_VERSION:
        raise ValueError(f"not a version {BATCH_VERSION} routed batch")
    return RoutedBatch(events=[(k, kind, f) for k, kind, f in doc["events"]],
                       progress=doc.get("progress"))


@dataclass(slots=True)
class Outbox:
    """Events bound for one internal topic, grouped by partition."""

    partitions: int
    by_partition: dict[int, list[tuple[str, str, object]]] = field(default_factory=dict)

    def add(self, key: str, kind: str, fields: object) -> None:
        """Queue an event (a mapping, or a dataclass such as a finding) for the subject ``key``."""
        self.by_partition.setdefault(partition_for(key, self.partitions), []).append((key, kind, fields))

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_partition.values())
