"""The alert board behind the control-room page: the newest alerts of the whole cluster.

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

from streams.errors import CargoguardError
from streams.kafka.alert_feed import AlertFilter, NewestAlerts
from streams.kafka.codec import Codec
from streams.kafka.events_json import to_json_document
from streams.kafka.topics import TopicNames
from streams.runtime.topic_follower import RefusedHandler, follow_topic
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


class AlertTail:
    """Reads the alerts topic into an ``AlertBoard`` for as long as the worker runs."""

    def __init__(self, settings: Settings, codec: Codec, board: AlertBoard,
                 credentials: Mapping[str, Any], refuse: RefusedHandler) -> None:
        self.settings = settings
        self.refuse = refuse
        self.codec = codec
        self.board = board
        self.credentials = credentials
        self.topic = TopicNames(settings).public("alerts")

    async def run(self) -> None:
        """Follow the topic until cancelled, starting each connection a lookback before its end."""
        await follow_topic(self.settings, self.credentials, self.topic, self._lookback, self._offer, self.refuse)

    async def _lookback(self, consumer: aiokafka.AIOKafkaConsumer) -> dict[int, int]:
        partitions = consumer.partitions_for_topic(self.topic) or set()
        if not partitions:
            raise CargoguardError(f"topic {self.topic} not found")
        ends = await consumer.end_offsets([aiokafka.TopicPartition(self.topic, p) for p in partitions])
        return {tp.partition: max(0, end - LOOKBACK_PER_PARTITION) for tp, end in ends.items()}

    def _offer(self, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.value is not None:
            self.board.offer(self.codec.decode("alert", record.value))
