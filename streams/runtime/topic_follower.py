"""Following one topic outside any consumer group, for as long as the worker runs.

The control topics and the control room's alert board are read this way:
every worker reads the whole topic itself (no group, no commits), from
offsets its caller chooses, and reconnects after a broker hiccup. A record
its handler cannot take (undecodable, or its handling raises) goes to the
caller's ``refuse`` (the dead-letter topic) and the follower reads on: one
bad record used to stall the follower on its offset for ever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiokafka
from aiokafka.structs import ConsumerRecord
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from streams.errors import CargoguardError, PoisonEvent, ProcessingFailed
from streams.settings import Settings

log = logging.getLogger(__name__)

RETRY_AFTER_S = 2.0

# Where a connection starts reading: partition -> offset, asked again on every reconnection.
StartOffsets = Callable[[aiokafka.AIOKafkaConsumer], Awaitable[Mapping[int, int]]]
RecordHandler = Callable[[ConsumerRecord[bytes, bytes]], None]
# What becomes of a record the handler refused: dead-lettered with the reason.
RefusedHandler = Callable[[ConsumerRecord[bytes, bytes], PoisonEvent], Awaitable[None]]


def partitions_of(consumer: aiokafka.AIOKafkaConsumer, topic: str) -> set[int]:
    """The partitions of ``topic`` the consumer's metadata knows; an error (retried) when there are none."""
    partitions = consumer.partitions_for_topic(topic) or set()
    if not partitions:
        raise CargoguardError(f"topic {topic} not found")
    return set(partitions)


def follower_credentials(conf: Any) -> Mapping[str, Any]:
    """Aiokafka security arguments from a Faust app's configuration."""
    return credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context)


async def follow_topic(settings: Settings, credentials: Mapping[str, Any], topic: str,
                       start_offsets: StartOffsets, handle: RecordHandler, refuse: RefusedHandler) -> None:
    """Hand every record of ``topic`` to ``handle`` until cancelled; reconnect after a broker hiccup."""
    while True:
        try:
            await _follow_once(settings, credentials, topic, start_offsets, handle, refuse)
        except (aiokafka.errors.KafkaError, OSError, CargoguardError) as exc:
            log.warning("following %s: %s; retrying in %g s", topic, exc, RETRY_AFTER_S)
            await asyncio.sleep(RETRY_AFTER_S)


async def _follow_once(settings: Settings, credentials: Mapping[str, Any], topic: str,
                       start_offsets: StartOffsets, handle: RecordHandler, refuse: RefusedHandler) -> None:
    consumer = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False,
        fetch_max_wait_ms=settings.fetch_max_wait_ms, **credentials)
    await consumer.start()
    try:
        starts = await start_offsets(consumer)
        assigned = [aiokafka.TopicPartition(topic, p) for p in sorted(starts)]
        consumer.assign(assigned)
        for tp in assigned:
            consumer.seek(tp, starts[tp.partition])
        async for record in consumer:
            try:
                handle(record)
            except PoisonEvent as exc:
                await refuse(record, exc)
            except Exception as exc:
                log.exception("following %s: record %d@%d refused", topic, record.partition, record.offset)
                await refuse(record, ProcessingFailed(f"{type(exc).__name__}: {exc}"))
    finally:
        await consumer.stop()
