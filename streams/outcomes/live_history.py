"""The worker's live outcome history: follows the inspected declarations and the results, joins them for scoring.

Every worker reads both topics from their start, so each scores with the
same outcomes once it has caught up; a result that reaches one worker
before another can score a declaration lodged meanwhile differently (the
one place a score depends on arrival, like a rule change).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiokafka
from aiokafka.structs import ConsumerRecord

from agents.risk.live_outcomes import LiveOutcomes
from streams.kafka.codec import Codec
from streams.kafka.topics import TopicNames
from streams.runtime.metrics import Metrics
from streams.runtime.topic_follower import RefusedHandler, follow_topic, partitions_of
from streams.settings import Settings

# How often the gauges are refreshed.
REFRESH_S = 5.0


class LiveHistoryFeed:
    """Feeds ``LiveOutcomes`` from ``cargo.inspected-declarations`` and ``cargo.inspection-results``."""

    def __init__(self, settings: Settings, codec: Codec, metrics: Metrics, live: LiveOutcomes,
                 credentials: Mapping[str, Any], refuse: dict[str, RefusedHandler]) -> None:
        self.settings = settings
        self.codec = codec
        self.metrics = metrics
        self.live = live
        self.credentials = credentials
        self.refuse = refuse
        names = TopicNames(settings)
        self.topics = {"inspected_declarations": names.public("inspected_declarations"),
                       "inspection_results": names.public("inspection_results")}
        self._next_offsets: dict[str, dict[int, int]] = {key: {} for key in self.topics}

    async def run(self) -> None:
        """Follow both topics from their start, and refresh the gauges, until cancelled."""
        await asyncio.gather(*(follow_topic(self.settings, self.credentials, topic, self._resume(key),
                                            self._offer(key), self.refuse[key])
                               for key, topic in self.topics.items()),
                             self._refresh())

    def _resume(self, key: str) -> Any:
        async def resume(consumer: aiokafka.AIOKafkaConsumer) -> dict[int, int]:
            return {p: self._next_offsets[key].get(p, 0) for p in partitions_of(consumer, self.topics[key])}
        return resume

    def _offer(self, key: str) -> Any:
        def offer(record: ConsumerRecord[bytes, bytes]) -> None:
            self._next_offsets[key][record.partition] = record.offset + 1
            if record.value is None:
                return
            if key == "inspected_declarations":
                sent = self.codec.decode("inspected_declaration", record.value)
                self.live.add_sent(sent["declaration_id"], sent["event_time"], sent["categories"])
            else:
                result = self.codec.decode("inspection_result", record.value)
                self.live.add_result(result["declaration_id"], result["inspected_at"],
                                     result["result"] == "INFRACTION")
        return offer

    async def _refresh(self) -> None:
        gauge = self.metrics.live_outcomes
        while True:
            gauge.labels("counted").set(self.live.outcomes)
            gauge.labels("declaration_waiting").set(len(self.live.sent))
            gauge.labels("result_waiting").set(len(self.live.waiting))
            await asyncio.sleep(REFRESH_S)
