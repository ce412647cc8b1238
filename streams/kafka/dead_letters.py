"""Dead letters: an input event that can never be processed, kept with its bytes and why.

In the style of Kafka Connect's error headers: the record names the source
topic, partition and offset, carries the original key and value untouched,
and gives a reason a person can act on.
"""

from __future__ import annotations

from typing import Any

from streams.errors import PoisonEvent


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
    return {
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "original_key": key,
        "original_value": value,
        "error_kind": error.kind,
        "reason": error.reason,
        "failed_at": failed_at_ms,
    }
