"""The worker's live outcome history: follows the inspected declarations, hears the results, joins them for scoring.

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
from streams.outcomes.results_feed import InspectionResultsFeed
from streams.runtime.metrics import Metrics
from streams.runtime.topic_follower import RefusedHandler, follow_topic, partitions_of
from streams.settings import Settings

# How often the gauges are refreshed.
REFRESH_S = 5.0


class LiveHistoryFeed:
    """Feeds ``LiveOutcomes`` from ``cargo.inspected-declarations`` and the worker's ``InspectionResultsFeed``."""

    def __init__(self, settings: Settings, codec: Codec, metrics: Metrics, live: LiveOutcomes,
                 credentials: Mapping[str, Any], refuse: RefusedHandler, results: InspectionResultsFeed) -> None:
        self.settings = settings
        self.codec = codec
        self.metrics = metrics
        self.live = live
        self.credentials = credentials
        self.refuse = refuse
        self.topic = TopicNames(settings).public("inspected_declarations")
        self._next_offsets: dict[int, int] = {}
        results.listeners.append(self._on_result)

    async def run(self) -> None:
        """Follow the inspected declarations from their start, and refresh the gauges, until cancelled."""
        await asyncio.gather(follow_topic(self.settings, self.credentials, self.topic, self._resume,
                                          self._offer, self.refuse),
                             self._refresh())

    async def _resume(self, consumer: aiokafka.AIOKafkaConsumer) -> dict[int, int]:
        return {p: self._next_offsets.get(p, 0) for p in partitions_of(consumer, self.topic)}

    def _offer(self, record: ConsumerRecord[bytes, bytes]) -> None:
        self._next_offsets[record.partition] = record.offset + 1
        if record.value is not None:
            sent = self.codec.decode("inspected_declaration", record.value)
            self.live.add_sent(sent["declaration_id"], sent["event_time"], sent["categories"])

    def _on_result(self, result: dict[str, Any]) -> None:
        self.live.add_result(result["declaration_id"], result["inspected_at"], result["result"] == "INFRACTION")

    async def _refresh(self) -> None:
        gauge = self.metrics.live_outcomes
        while True:
            gauge.labels("counted").set(self.live.outcomes)
            gauge.labels("declaration_waiting").set(len(self.live.sent))
            gauge.labels("result_waiting").set(len(self.live.waiting))
            await asyncio.sleep(REFRESH_S)
