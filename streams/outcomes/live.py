"""The worker's live rule precision: follows ``cargo.inspection-results``, hears every alert, exports gauges."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiokafka
from aiokafka.structs import ConsumerRecord

from agents.rules.config import RuleBook
from streams.kafka.codec import Codec
from streams.kafka.topics import TopicNames
from streams.outcomes.precision import RulePrecision
from streams.runtime.metrics import Metrics
from streams.runtime.topic_follower import RefusedHandler, follow_topic, partitions_of
from streams.settings import Settings

# How often the gauges are recomputed (over every result in the window).
REFRESH_S = 5.0


class LivePrecision:
    """Keeps a ``RulePrecision`` current and its figures on /metrics."""

    def __init__(self, settings: Settings, codec: Codec, metrics: Metrics, credentials: Mapping[str, Any],
                 refuse: RefusedHandler) -> None:
        self.settings = settings
        self.codec = codec
        self.metrics = metrics
        self.credentials = credentials
        self.refuse = refuse
        self.precision = RulePrecision()
        self.topic = TopicNames(settings).public("inspection_results")
        self._next_offsets: dict[int, int] = {}

    def floor_of(self, rule_id: str) -> float:
        """The precision under which ``rule_id`` is reported as drifting."""
        return self.settings.rule_precision_floors.get(rule_id, self.settings.rule_precision_floor)

    def floors(self, rules: RuleBook) -> None:
        """Export each rule's precision floor."""
        for rule_id in rules.rules:
            self.metrics.rule_precision_floor.labels(rule_id).set(self.floor_of(rule_id))

    def statistics(self) -> list[dict[str, Any]]:
        """Each rule with outcomes: inspected, confirmed, precision and floor (for analysts' page)."""
        return [{"rule_id": rule_id, "inspected": figures.inspected, "confirmed": figures.confirmed,
                 "precision": figures.precision, "floor": self.floor_of(rule_id)}
                for rule_id, figures in self.precision.figures().items()]

    async def run(self) -> None:
        """Follow the results topic from its start, and refresh the gauges, until cancelled."""
        await asyncio.gather(
            follow_topic(self.settings, self.credentials, self.topic, self._resume, self._offer, self.refuse),
            self._refresh())

    async def _resume(self, consumer: aiokafka.AIOKafkaConsumer) -> dict[int, int]:
        return {p: self._next_offsets.get(p, 0) for p in partitions_of(consumer, self.topic)}

    def _offer(self, record: ConsumerRecord[bytes, bytes]) -> None:
        self._next_offsets[record.partition] = record.offset + 1
        if record.value is not None:
            self.precision.add_result(self.codec.decode("inspection_result", record.value))

    async def _refresh(self) -> None:
        shown: set[str] = set()
        gauges = (self.metrics.rule_inspected, self.metrics.rule_confirmed, self.metrics.rule_precision)
        while True:
            figures = self.precision.figures()
            for rule_id, rule_figures in figures.items():
                self.metrics.rule_inspected.labels(rule_id).set(rule_figures.inspected)
                self.metrics.rule_confirmed.labels(rule_id).set(rule_figures.confirmed)
                self.metrics.rule_precision.labels(rule_id).set(rule_figures.precision)
            for rule_id in shown - figures.keys():  # no outcome left in the window
                for gauge in gauges:
                    Metrics.forget(gauge, rule_id)
            shown = set(figures)
            await asyncio.sleep(REFRESH_S)
