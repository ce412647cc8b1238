"""Read the alerts topic in a thread and note when each alert was first seen: the clock of bench and evaluate."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition

from streams.kafka.alert_feed import NewestAlerts
from streams.kafka.codec import Codec
from streams.kafka.topics import TopicNames
from streams.settings import Settings

POLL_S = 0.05
METADATA_TIMEOUT_S = 10.0


class AlertClock:
    """Reads the alerts topic in a thread, noting when each alert id was first seen, and its newest version.

    Used as a context manager: reading starts on entry and stops on exit,
    also when the body raises, so no consumer outlives the broker.
    ``from_beginning`` reads alerts already on the topic (a fresh topic:
    nothing can slip by before the first fetch); otherwise only new ones.
    """

    def __init__(self, settings: Settings, group_id: str, from_beginning: bool = False) -> None:
        self.codec = Codec.for_settings(settings)
        self.seen: dict[str, tuple[float, dict[str, Any]]] = {}
        self.newest = NewestAlerts()
        self.last_read = time.monotonic()
        self._stop = threading.Event()
        topic = TopicNames(settings).public("alerts")
        self.consumer = Consumer({**settings.kafka_client_config(), "group.id": group_id,
                                  "enable.auto.commit": False, "fetch.wait.max.ms": 10})
        partitions = self.consumer.list_topics(topic, timeout=METADATA_TIMEOUT_S).topics[topic].partitions
        start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        self.consumer.assign([TopicPartition(topic, p, start) for p in partitions])
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> AlertClock:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self.consumer.poll(POLL_S)
            if message is None or message.error() is not None:
                continue
            alert = self.codec.decode("alert", message.value())
            self.last_read = time.monotonic()
            self.seen.setdefault(alert["alert_id"], (self.last_read, alert))
            self.newest.offer(alert)
        self.consumer.close()
