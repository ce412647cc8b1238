"""The checkpoints' changelog writer on the embedded broker: many batches, every record, in order."""

from __future__ import annotations

import asyncio
import time
import uuid

import faust
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streams.runtime.staged_table import ChangelogWriter
from streams.settings import Settings

pytestmark = pytest.mark.e2e


def read_all(broker: str, topic: str, partition: int, count: int) -> list[tuple[bytes, bytes | None, int]]:
    consumer = Consumer({"bootstrap.servers": broker, "group.id": f"read-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
    records: list[tuple[bytes, bytes | None, int]] = []
    deadline = time.monotonic() + 20
    try:
        while len(records) < count and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=count, timeout=0.5):
                assert message.error() is None, message.error()
                records.append((message.key(), message.value(), message.offset()))
    finally:
        consumer.close()
    return records


def test_a_checkpoint_larger_than_a_batch_arrives_whole_and_in_order(broker_address):
    topic = f"changelog-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker_address})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(timeout=30)
    records = [(f"key-{i}".encode(), None if i % 7 == 0 else bytes([i % 256]) * 300) for i in range(200)]

    async def write() -> tuple[int, int]:
        writer = ChangelogWriter(faust.App("changelog-test", broker=f"kafka://{broker_address}"),
                                 Settings(broker=broker_address), batch_bytes=2048)
        try:
            return (await writer.write(topic, 1, records[:100]), await writer.write(topic, 1, records[100:]))
        finally:
            await writer._on_shutdown(None)

    first_last, last = asyncio.run(write())
    written = read_all(broker_address, topic, 1, len(records))
    assert [(key, value) for key, value, _ in written] == records
    # Each write reports the offset of its own last record: where a checkpoint's store says it is.
    assert (first_last, last) == (written[99][2], written[-1][2])
