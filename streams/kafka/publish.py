"""Publishing events to the input topics: one confluent-kafka producer, Avro-encoded values."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from streams.errors import TransientError
from streams.kafka.codec import Codec
from streams.kafka.topics import EVENT_KINDS, PUBLIC_TOPICS, TopicNames
from streams.settings import Settings

# Told the topic and partition a published event was delivered to.
Delivered = Callable[[str, int], None]


class EventPublisher:
    """Encodes events of any kind and publishes them, keyed as the contract says."""

    def __init__(self, settings: Settings, codec: Codec | None = None) -> None:
        self.codec = codec if codec is not None else Codec.for_settings(settings)
        self.names = TopicNames(settings)
        self.producer = Producer({
            **settings.kafka_client_config(),
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 500_000,
            # Ordered and without duplicates across retries (a broker outage): the rules read amendments in order.
            "enable.idempotence": True,
            "acks": "all",
        })
        self.errors: list[str] = []
        self.delivered = 0
        self._on_delivery_plain = functools.partial(self._on_delivery, None)

    def _on_delivery(self, then: Delivered | None, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.errors.append(f"{message.topic()}: {error.str()}")
            return
        self.delivered += 1
        if then is not None:
            then(message.topic(), message.partition())  # type: ignore[arg-type]  # set once delivered

    def publish(self, kind: str, record: Mapping[str, Any], timestamp_ms: int | None = None,
                then: Delivered | None = None) -> None:
        """Encode ``record`` as a ``kind`` event and queue it for its topic; ``then`` hears where it went."""
        topic_key = EVENT_KINDS[kind]
        spec = PUBLIC_TOPICS[topic_key]
        topic = self.names.public(topic_key)
        value = self.codec.encode(spec.schema, record, topic=topic)
        self.publish_raw(topic, str(record[spec.key]).encode(), value, timestamp_ms, then)

    def publish_raw(self, topic: str, key: bytes | None, value: bytes | None,
                    timestamp_ms: int | None = None, then: Delivered | None = None) -> None:
        """Queue already-encoded bytes (e.g. a tombstone, or a test's garbage)."""
        on_delivery = self._on_delivery_plain if then is None else functools.partial(self._on_delivery, then)
        while True:
            try:
                if timestamp_ms is None:
                    self.producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
                else:
                    self.producer.produce(topic, key=key, value=value, on_delivery=on_delivery,
                                          timestamp=timestamp_ms)
                break
            except BufferError:
                self.producer.poll(0.05)
        self.producer.poll(0)

    def flush(self, timeout_s: float = 60.0) -> None:
        """Wait for every queued event; raise if any could not be delivered."""
        remaining = self.producer.flush(timeout_s)
        if remaining:
            raise TransientError(f"{remaining} events not delivered within {timeout_s:.0f} s")
        if self.errors:
            first = self.errors[0]
            raise TransientError(f"{len(self.errors)} events failed to deliver, first: {first}")

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.flush()
