"""Publishing cases to ``cargo.cases``: one worker of the group sends each change, every version whole.

Every worker folds every case, so any of them could; the one that holds
partition 0 of the declarations topic does (the group gives it to exactly one
worker), so readers get each change once, more than once around a
rebalance: they keep the highest ``version`` per ``case_id``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from faust.types import TP

from streams.kafka.codec import Codec

log = logging.getLogger(__name__)

# Changes waiting to be sent; past this a change is not queued (the case's next change sends it whole).
PENDING_CAP = 10_000


class CasePublisher:
    """Queues the leader's case changes and sends them in order."""

    def __init__(self, app: faust.App, codec: Codec, topic: faust.types.TopicT, topic_name: str,
                 publishing_partition: TP) -> None:
        self.app = app
        self.publishing_partition = publishing_partition
        self.codec = codec
        self.topic = topic
        self.topic_name = topic_name
        self.pending: asyncio.Queue[dict[str, Any]] = asyncio.Queue(PENDING_CAP)

    def changed(self, case: dict[str, Any]) -> None:
        """A case changed on this worker's board (called by the board)."""
        if self.publishing_partition in self.app.consumer.assignment() and not self.pending.full():
            self.pending.put_nowait(case)

    async def run(self) -> None:
        """Send queued cases until cancelled; a failed send is logged and retried."""
        while True:
            case = await self.pending.get()
            value = self.codec.encode("case", case, topic=self.topic_name)
            while True:
                try:
                    await (await self.topic.send(key=case["case_id"].encode(), value=value))
                    break
                except Exception:  # the broker is away: keep the case, try again
                    log.exception("could not publish case %s; retrying", case["case_id"])
                    await asyncio.sleep(1.0)
