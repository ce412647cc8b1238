"""Dead letters: an input event that can never be processed, kept with its bytes and why.

In the style of Kafka Connect's error headers: the record names the source
topic, partition and offset, carries the original key and value untouched,
and gives a reason a person can act on.
"""

from __future__ import annotations

from typing import Any

from streams.errors import PoisonEvent

# A dead letter must fit under the broker's message limit (1 MB by default),
# or the send fails and the event is lost. Key and value are kept whole up to
# this size; a larger one keeps its first bytes and the reason says where the
# whole record is (its source topic, partition and offset).
KEPT_BYTES = 256 * 1024
MAX_REASON_CHARS = 2_000


def _kept(name: str, data: bytes | None, notes: list[str]) -> bytes | None:
    if data is None or len(data) <= KEPT_BYTES:
        return data
    notes.append(f"the {name} of {len(data):,} bytes is cut to its first {KEPT_BYTES:,}")
    return data[:KEPT_BYTES]


def dead_letter_record(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    error: PoisonEvent,
    failed_at_ms: int,
) -> dict[str, Any]:
    """The ``dead_letter.avsc`` record for a poison event."""
    reason = error.reason
    if len(reason) > MAX_REASON_CHARS:
        reason = f"{reason[:MAX_REASON_CHARS]}... ({len(reason):,} chars)"
    notes: list[str] = []
    kept_key = _kept("key", key, notes)
    kept_value = _kept("value", value, notes)
    if notes:
        reason += f" ({'; '.join(notes)}; the whole record is at {topic}[{partition}]@{offset})"
    return {
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "original_key": kept_key,
        "original_value": kept_value,
        "error_kind": error.kind,
        "reason": reason,
        "failed_at": failed_at_ms,
    }
