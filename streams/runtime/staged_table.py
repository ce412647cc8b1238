"""Per-key state staged in memory and written to a Faust table once per checkpoint.

A Faust table assignment costs one local store put plus one changelog
message sent through Faust's per-message machinery: about 170 us each,
measured here, and a subject agent would pay it for every routed event.
Staging keeps the live state of each subject in memory, and a checkpoint
writes only the keys that changed since the last one, in bulk:

1. the changelog records go to the broker in record batches, through a
   producer of their own and aiokafka's batch API (a few us per record),
   and the checkpoint waits until the broker has them all;
2. the same records are applied to the local store in one bulk write
   (``streams.runtime.stores``), with the changelog offset they reach, as a standby
   replica applying the changelog would leave it.

The table stays a normal Faust table: its changelog topic, recovery,
standbys and store are Faust's. Events whose effects are staged stay
unacknowledged until their partition's checkpoint, so a crash or a
rebalance re-delivers them and the state is rebuilt from the last
checkpoint; the subject logic is idempotent, so nothing counts twice.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import aiokafka
import faust
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from faust.types import TableT

from streams.runtime.stores import BulkStore
from streams.settings import Settings


def fingerprint(stored: bytes | None) -> int | None:
    """What a staged entry remembers of the bytes the table holds for it (None: nothing).

    Only whether a new encoding differs is ever asked, so the bytes themselves
    need not stay: kept for every cached subject, the hot HS codes' and the
    declarants' segments among them, they held 100-120 MiB of the worker's peak.
    CPython's bytes hash is SipHash with a key drawn per process, so neither
    chance (2**-64 per write) nor crafted input makes a changed state look stored.
    """
    return None if stored is None else hash(stored)


def in_slices(changes: Iterable[tuple[bytes, bytes | None]], limit_bytes: int) -> Iterator[dict[bytes, bytes | None]]:
    """``changes`` in consecutive slices of at least ``limit_bytes`` of keys and values (the last may be less)."""
    changed: dict[bytes, bytes | None] = {}
    size = 0
    for key, value in changes:
        changed[key] = value
        size += len(key) + len(value or b"")
        if size >= limit_bytes:
            yield changed
            changed, size = {}, 0
    if changed:
        yield changed


@dataclass(slots=True)
class Staged:
    """One key's staged value next to a fingerprint of what the table holds."""

    value: Any
    stored: int | None


# A checkpoint's records for one partition go out in batches of this size.
# aiokafka's default (16 KiB, some 30 states) made every checkpoint a chain of
# produce round trips, a batch waiting for the one before it to be sent: the
# shipments' changelog writes took 12 s of a 20 s run, with the worker idle
# meanwhile; at 512 KiB, 4 s. Under the broker's 1 MiB default message limit.
CHANGELOG_BATCH_BYTES = 512 * 1024
# A checkpoint encodes and writes its changed keys in slices of about this many bytes,
# so what one checkpoint holds at once is bounded whatever its subjects weigh. Encoded
# all at once, a backlog's checkpoint of up to 20,000 subjects had held 117 MB of bytes
# at the worker's heap peak (memray, 100k events, 2026-12-06); on the bench's 200k
# workload today slicing moved neither the peak nor the speed beyond the noise (the
# performance notes). A slice is several record batches, written in one go.
CHECKPOINT_SLICE_BYTES = 8 * 1024 * 1024


class ChangelogWriter:
    """Writes changelog records in bulk: record batches of up to ``batch_bytes`` per partition."""

    def __init__(self, app: faust.App, settings: Settings, batch_bytes: int = CHANGELOG_BATCH_BYTES) -> None:
        self.app = app
        self.settings = settings
        self.batch_bytes = batch_bytes
        self._producer: aiokafka.AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()
        app.on_before_shutdown.connect(self._on_shutdown)  # type: ignore[arg-type]  # mode's handler type rejects coroutine functions it runs fine

    async def _ensure_producer(self) -> aiokafka.AIOKafkaProducer:
        async with self._starting:
            if self._producer is None:
                conf = self.app.conf
                producer = aiokafka.AIOKafkaProducer(
                    bootstrap_servers=self.settings.bootstrap_servers,
                    acks="all",
                    linger_ms=0,
                    max_batch_size=self.batch_bytes,
                    request_timeout_ms=int(conf.producer_request_timeout * 1000),
                    **credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
                )
                await producer.start()
                self._producer = producer
        return self._producer

    async def write(self, topic: str, partition: int, records: list[tuple[bytes, bytes | None]]) -> int:
        """Send ``(key, value)`` records to one partition; return the last one's offset once acknowledged."""
        producer = await self._ensure_producer()
        sent: list[tuple[Any, int]] = []
        batch = producer.create_batch()
        for key, value in records:
            if batch.append(key=key, value=value, timestamp=None) is None:
                sent.append((await producer.send_batch(batch, topic, partition=partition),
                             batch.record_count()))
                batch = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None) is None:
                    raise ValueError(f"a {len(value or b'')}-byte state does not fit in a record batch")
        sent.append((await producer.send_batch(batch, topic, partition=partition), batch.record_count()))
        last = -1
        for future, count in sent:
            last = (await future).offset + count - 1
        return last

    async def _on_shutdown(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


@dataclass(slots=True)
class StagedPartition:
    """The staged keys of one table partition, least recently used first."""

    entries: OrderedDict[bytes, Staged] = field(default_factory=OrderedDict)
    dirty: set[bytes] = field(default_factory=set)


class StagedTable:
    """A Faust table (raw bytes keys and values) with staged, checkpointed writes.

    ``encode`` turns a staged value into the bytes the table holds (None
    deletes the key); ``decode`` turns a key's stored bytes back into a value
    (called with the partition, the key and the bytes). With ``keep_written``
    false, a value is let go once written, its fingerprint kept: the segments
    of a state live in the state while it wants them, and are read back after.
    """

    def __init__(self, writer: ChangelogWriter, table: TableT,
                 encode: Callable[[Any], bytes | None], decode: Callable[[int, bytes, bytes], Any],
                 cache_entries: int, keep_written: bool = True) -> None:
        self.writer = writer
        self.table = table
        self.encode = encode
        self.decode = decode
        self.cache_entries = cache_entries
        self.keep_written = keep_written
        self.partitions: dict[int, StagedPartition] = {}

    def entry(self, partition: int, key: bytes) -> Staged:
        """The staged entry of ``key``, read from the table on first use."""
        staged = self.partitions.setdefault(partition, StagedPartition())
        entry = staged.entries.get(key)
        if entry is None:
            stored = self.stored(partition, key)
            value = None if stored is None else self.decode(partition, key, stored)
            entry = staged.entries[key] = Staged(value=value, stored=fingerprint(stored))
        else:
            staged.entries.move_to_end(key)
        return entry

    def staged(self, partition: int, key: bytes) -> Any:
        """The value staged for ``key`` and not yet let go, else None (the table holds what there is).

        None too for a key staged for deletion and not yet written, whose
        stored bytes are stale: a caller must not ask for such a key.
        """
        staged = self.partitions.get(partition)
        entry = None if staged is None else staged.entries.get(key)
        return None if entry is None else entry.value

    def stored(self, partition: int, key: bytes) -> bytes | None:
        """What the table holds for ``key`` in ``partition`` (not what is staged)."""
        return cast(BulkStore, self.table.data).read(partition, key)

    def changed(self, partition: int, key: bytes, value: Any) -> None:
        """Stage a new value for ``key`` (read with ``entry`` first)."""
        staged = self.partitions[partition]
        staged.entries[key].value = value
        staged.dirty.add(key)

    def put(self, partition: int, key: bytes, value: Any) -> None:
        """Stage a new value for ``key`` without using its old one (read first, so its stored bytes are known)."""
        self.entry(partition, key)
        self.changed(partition, key, value)

    def dirty_count(self, partition: int) -> int:
        """How many keys of ``partition`` changed since its last checkpoint."""
        staged = self.partitions.get(partition)
        return 0 if staged is None else len(staged.dirty)

    async def checkpoint(self, partition: int) -> int:
        """Write the keys of ``partition`` whose bytes changed, a slice at a time; return how many."""
        staged = self.partitions.get(partition)
        if staged is None or not staged.dirty:
            return 0
        fingerprints: dict[bytes, int | None] = {}

        def changes() -> Iterator[tuple[bytes, bytes | None]]:
            for key in list(staged.dirty):
                value = self.encode(staged.entries[key].value)
                fingerprints[key] = stored = fingerprint(value)
                if staged.entries[key].stored != stored:
                    yield key, value

        written = 0
        for changed in in_slices(changes(), CHECKPOINT_SLICE_BYTES):
            topic = self.table.changelog_topic.get_topic_name()
            offset = await self.writer.write(topic, partition, list(changed.items()))
            # The store takes each slice with the changelog offset it reaches, as a standby would.
            cast(BulkStore, self.table.data).apply_changes(partition, changed, offset)
            written += len(changed)
        # Only once written: a checkpoint that failed is made again, and must not find these stored.
        for key, stored in fingerprints.items():
            entry = staged.entries[key]
            entry.stored = stored
            if not self.keep_written:
                entry.value = None
        staged.dirty.clear()
        self._trim(staged)
        return written

    def _trim(self, staged: StagedPartition) -> None:
        # Evict the least recently used entries; all are clean right after a checkpoint.
        while len(staged.entries) > self.cache_entries:
            staged.entries.popitem(last=False)

    def drop(self) -> None:
        """Forget everything staged (after a rebalance the events are re-delivered)."""
        self.partitions.clear()
