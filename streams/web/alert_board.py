"""The alert board behind the control-room page: the newest alerts of the whole cluster.

Each worker tails the alerts topic itself, outside any consumer group, so a
page served by any worker shows every worker's alerts. The board keeps the
newest version of the last ``capacity`` alerts and a sequence number that
grows with every change, so the page can ask for what changed since.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import aiokafka
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from streams.errors import CargoguardError
from streams.kafka.alert_feed import AlertFilter, NewestAlerts
from streams.kafka.codec import Codec
from streams.kafka.events_json import to_json_document
from streams.kafka.topics import TopicNames
from streams.settings import Settings

log = logging.getLogger(__name__)

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

    def view(self, since: int, alert_filter: AlertFilter) -> dict[str, Any]:
        """Alerts changed after ``since`` (newest first) that pass the filter."""
        selected = [alert for alert in reversed(self.newest.alerts.values())
                    if alert["sequence"] > since and alert_filter.accepts(alert)]
        return {"sequence": self.sequence, "alerts": selected}


class AlertTail:
    """Reads the alerts topic into an ``AlertBoard`` for as long as the worker runs."""

    def __init__(self, settings: Settings, codec: Codec, board: AlertBoard,
                 credentials: Mapping[str, Any]) -> None:
        self.settings = settings
        self.codec = codec
        self.board = board
        self.credentials = credentials
        self.topic = TopicNames(settings).public("alerts")

    async def run(self) -> None:
        """Follow the topic; retried after a broker hiccup, stopped by cancellation."""
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except (aiokafka.errors.KafkaError, OSError, CargoguardError) as exc:
                log.warning("alert board: %s; retrying in 2 s", exc)
                await asyncio.sleep(2)

    async def _follow(self) -> None:
        consumer = aiokafka.AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers, group_id=None,
            enable_auto_commit=False, fetch_max_wait_ms=self.settings.fetch_max_wait_ms,
            **self.credentials)
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(self.topic) or set()
            if not partitions:
                await consumer.stop()
                raise CargoguardError(f"topic {self.topic} not found")
            assigned = [aiokafka.TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(assigned)
            ends = await consumer.end_offsets(assigned)
            for tp in assigned:
                consumer.seek(tp, max(0, ends[tp] - LOOKBACK_PER_PARTITION))
            async for message in consumer:
                if message.value is not None:
                    self.board.offer(self.codec.decode("alert", message.value))
        finally:
            await consumer.stop()


def tail_credentials(conf: Any) -> Mapping[str, Any]:
    """Aiokafka security arguments from a Faust app's configuration."""
    return credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context)
