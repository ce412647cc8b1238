"""Reading ``cargo.alerts`` as its readers do: which alerts to show, the newest version of each, and a follower.

The follower serves any public topic cargoguard writes (``follow_records``):
``evaluate`` reads ``cargo.selectivity`` with it.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, TopicPartition

from agents.rules.findings import SEVERITIES
from streams.errors import TransientError
from streams.kafka.codec import Codec
from streams.kafka.topics import PUBLIC_TOPICS, TopicNames
from streams.settings import Settings


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which alerts to show."""

    office: str | None = None
    min_severity: str | None = None

    def accepts(self, alert: Mapping[str, Any]) -> bool:
        """True when the alert passes the filter."""
        if self.office is not None and alert["office_code"] != self.office:
            return False
        return self.min_severity is None or SEVERITIES.index(alert["severity"]) >= SEVERITIES.index(
            self.min_severity)


class NewestAlerts:
    """The newest version of each alert id, in the order they last changed.

    A version no newer than the one kept is ignored: the alerts topic is
    at-least-once, so a redelivered or re-read version is not news. With a
    ``capacity``, only that many alerts are kept, the longest unchanged go.
    """

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = capacity
        self.alerts: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def offer(self, alert: dict[str, Any]) -> bool:
        """Keep ``alert`` (a record or its JSON document) if it is news; True when it was."""
        alert_id = alert["alert_id"]
        known = self.alerts.get(alert_id)
        if known is not None and known["version"] >= alert["version"]:
            return False
        self.alerts.pop(alert_id, None)
        self.alerts[alert_id] = alert
        if self.capacity is not None:
            while len(self.alerts) > self.capacity:
                self.alerts.popitem(last=False)
        return True


def follow_alerts(settings: Settings, from_beginning: bool = False, timeout_s: float | None = None,
                  should_stop: Callable[[], bool] = lambda: False) -> Iterator[dict[str, Any]]:
    """Yield alerts as they arrive (decoded), until ``timeout_s`` passes with none."""
    return follow_records(settings, "alerts", from_beginning, timeout_s, should_stop)


def follow_records(settings: Settings, key: str, from_beginning: bool = False, timeout_s: float | None = None,
                   should_stop: Callable[[], bool] = lambda: False) -> Iterator[dict[str, Any]]:
    """Yield the records of public topic ``key`` as they arrive (decoded), until ``timeout_s`` passes with none."""
    codec = Codec.for_settings(settings)
    schema = PUBLIC_TOPICS[key].schema
    topic = TopicNames(settings).public(key)
    consumer = Consumer({
        **settings.kafka_client_config(),
        "group.id": f"cargoguard-{key}-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest" if from_beginning else "latest",
    })

    # Assigned, not subscribed: a follower needs no consumer group (and no group join).
    metadata = consumer.list_topics(topic, timeout=10)
    partitions = metadata.topics[topic].partitions if topic in metadata.topics else {}
    if not partitions:
        consumer.close()
        raise TransientError(f"topic {topic} does not exist; run 'cargoguard topics create'")
    start = OFFSET_BEGINNING if from_beginning else OFFSET_END
    consumer.assign([TopicPartition(topic, p, start) for p in partitions])
    last_seen = time.monotonic()
    try:
        while not should_stop():
            message = consumer.poll(0.2)
            if message is None:
                if timeout_s is not None and time.monotonic() - last_seen > timeout_s:
                    return
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    continue
                raise TransientError(f"reading {topic}: {error.str()}")
            last_seen = time.monotonic()
            yield codec.decode(schema, message.value())
    finally:
        consumer.close()
