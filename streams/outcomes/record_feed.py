"""One reader per topic a worker follows whole: each record decoded once, handed to every listener.

Rule precision (``LivePrecision``) and the live outcome history
(``LiveHistoryFeed``) both need every inspection result from the topic's
start; each had followed and decoded it itself, twice the reading for one
feed. The history follows ``cargo.inspected-declarations`` the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import aiokafka
from aiokafka.structs import ConsumerRecord

from streams.kafka.codec import Codec
from streams.kafka.topics import PUBLIC_TOPICS, TopicNames
from streams.runtime.topic_follower import RefusedHandler, follow_topic, partitions_of
from streams.settings import Settings

# Takes one decoded record (the topic's schema).
RecordListener = Callable[[dict[str, Any]], None]


class RecordFeed:
    """Follows a public topic from its start and hands each decoded record to ``listeners``, in order."""

    def __init__(self, settings: Settings, codec: Codec, credentials: Mapping[str, Any], key: str,
                 refuse: RefusedHandler) -> None:
        self.settings = settings
        self.codec = codec
        self.credentials = credentials
        self.refuse = refuse
        self.topic = TopicNames(settings).public(key)
        self.schema = PUBLIC_TOPICS[key].schema
        self.listeners: list[RecordListener] = []
        self._next_offsets: dict[int, int] = {}

    async def run(self) -> None:
        """Follow the topic until cancelled (reconnecting where it stopped)."""
        await follow_topic(self.settings, self.credentials, self.topic, self._resume, self._offer, self.refuse)

    async def _resume(self, consumer: aiokafka.AIOKafkaConsumer) -> dict[int, int]:
        return {p: self._next_offsets.get(p, 0) for p in partitions_of(consumer, self.topic)}

    def _offer(self, record: ConsumerRecord[bytes, bytes]) -> None:
        self._next_offsets[record.partition] = record.offset + 1
        if record.value is None:
            return
        decoded = self.codec.decode(self.schema, record.value)
        for listener in self.listeners:
            listener(decoded)
