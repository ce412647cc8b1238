"""The alert board behind the control-room page, and the tails that feed it and the case board.

Each worker tails the alerts topic itself, outside any consumer group, so a
page served by any worker shows every worker's alerts. The board keeps the
newest version of the last ``capacity`` alerts and a sequence number that
grows with every change, so the page can ask for what changed since.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import aiokafka
from aiokafka.structs import ConsumerRecord

from streams.cases.board import CaseBoard
from streams.kafka.alert_feed import AlertFilter, NewestAlerts
from streams.kafka.codec import Codec
from streams.kafka.events_json import to_json_document
from streams.kafka.topics import TopicNames
from streams.runtime.topic_follower import RefusedHandler, follow_topic, partitions_of
from streams.settings import Settings

# How far back a starting worker reads, per partition.
LOOKBACK_PER_PARTITION = 1000


class AlertBoard:
    """The newest version of the most recent alerts, in the order they changed."""

    def __init__(self, capacity: int) -> None:
        self.newest = NewestAlerts(capacity)
        self.sequence = 0

    def offer(self, alert: dict[str, Any]) -> bool:
        """Take an alert (an Avro record); False when an equal or newer version is known."""
        document = to_json_document("alert", alert)
        if not self.newest.offer(document):
            return False
        self.sequence += 1
        document["sequence"] = self.sequence
        return True

    def view(self, since: int, alert_filter: AlertFilter,
             visible: Callable[[str], bool] = lambda office_code: True) -> dict[str, Any]:
        """Alerts changed after ``since`` (newest first) at offices ``visible`` admits that pass the filter."""
        selected = [alert for alert in reversed(self.newest.alerts.values())
                    if alert["sequence"] > since and visible(alert["office_code"]) and alert_filter.accepts(alert)]
        return {"sequence": self.sequence, "alerts": selected}


# What the tail does with each alert: the decoded record, its partition and offset.
AlertHandler = Callable[[dict[str, Any], int, int], None]


class AlertTail:
    """Reads the alerts topic for as long as the worker runs, handing each alert on (to the boards)."""

    def __init__(self, settings: Settings, codec: Codec, on_alert: AlertHandler,
                 credentials: Mapping[str, Any], refuse: RefusedHandler) -> None:
        self.settings = settings
        self.refuse = refuse
        self.codec = codec
        self.on_alert = on_alert
        self.credentials = credentials
        self.topic = TopicNames(settings).public("alerts")

    async def run(self) -> None:
        """Follow the topic until cancelled, starting each connection a lookback before its end."""
        await follow_topic(self.settings, self.credentials, self.topic, self._lookback, self._offer, self.refuse)

    async def _lookback(self, consumer: aiokafka.AIOKafkaConsumer) -> dict[int, int]:
        partitions = partitions_of(consumer, self.topic)
        ends = await consumer.end_offsets([aiokafka.TopicPartition(self.topic, p) for p in partitions])
        return {tp.partition: max(0, end - LOOKBACK_PER_PARTITION) for tp, end in ends.items()}

    def _offer(self, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.value is not None:
            self.on_alert(self.codec.decode("alert", record.value), record.partition, record.offset)


class CaseActionTail:
    """Reads the case-actions topic, from its start, into a ``CaseBoard`` for as long as the worker runs."""

    def __init__(self, settings: Settings, codec: Codec, cases: CaseBoard,
                 credentials: Mapping[str, Any], refuse: RefusedHandler) -> None:
        self.settings = settings
        self.codec = codec
        self.cases = cases
        self.credentials = credentials
        self.refuse = refuse
        self.topic = TopicNames(settings).public("case_actions")

    async def run(self) -> None:
        """Follow the topic until cancelled; after a reconnection, go on from the board's position."""
        await follow_topic(self.settings, self.credentials, self.topic, self._resume, self._offer, self.refuse)

    async def _resume(self, consumer: aiokafka.AIOKafkaConsumer) -> dict[int, int]:
        return {p: self.cases.positions.get(("c", p), 0) for p in partitions_of(consumer, self.topic)}

    def _offer(self, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.value is not None:
            self.cases.offer_action(self.codec.decode("case_action", record.value), record.partition, record.offset)
