"""Faust's table stores, with a bulk write for checkpoints and a prompt stop.

``read`` finds a key in the partition it belongs to, without Faust's
look-up of the current event and its KeyError on every miss (most
subjects are new when first read).

``apply_changes`` writes one checkpoint's changes of a partition straight
to the store. Faust's ``apply_changelog_batch`` takes changelog events
instead: the checkpoint built two objects per record for it to read back
(6 % of the worker's main thread in py-spy), and it wrote the changelog
offset apart from the records; here a RocksDB partition gets records and
offset in one atomic write batch.

RocksDB: Faust drops its database handles on stop and runs a full garbage
collection so that they get closed: one collection per table, of a heap
that holds every staged subject. After 100k events that was twelve
collections and 14 s of shutdown (py-spy), longer than a container's stop
grace period. This store closes each database directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import rocksdict
from faust.stores import STORES, memory, rocksdb

#: Store URL schemes, registered with Faust's store registry on import.
ROCKSDB_SCHEME = "cargoguard-rocksdb"
MEMORY_SCHEME = "cargoguard-memory"


class BulkStore(Protocol):
    """A store read by partition and written a checkpoint's changes of one partition at once."""

    def read(self, partition: int, key: bytes) -> bytes | None:
        """The stored value of ``key`` in ``partition``, if any."""

    def apply_changes(self, partition: int, changes: Mapping[bytes, bytes | None], offset: int) -> None:
        """Store ``changes`` (None deletes a key), which the changelog holds up to ``offset``."""


# Each memtable, at most: small enough that the shared budget holds one for every database.
MEMTABLE_BYTES = 8 * 1024 * 1024
# The share of the budget memtables may take before RocksDB flushes the largest.
MEMTABLE_SHARE = 0.5


class SharedMemory:
    """One block cache for every database of the process, with the memtables charged to it."""

    def __init__(self, budget_bytes: int) -> None:
        self.cache = rocksdict.Cache(budget_bytes)
        self.write_buffers = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
            int(budget_bytes * MEMTABLE_SHARE), False, self.cache)


_shared_memory: SharedMemory | None = None


def bound_rocksdb_memory(budget_mb: int) -> None:
    """Bound what every RocksDB database opened from now on may hold in memory, together."""
    global _shared_memory
    _shared_memory = SharedMemory(budget_mb * 1024 * 1024)


def shared_memory() -> SharedMemory | None:
    """The budget the databases opened now share (None: Faust's own memory per database)."""
    return _shared_memory


class BoundedOptions(rocksdb.RocksDBOptions):
    """Faust's RocksDB options (rocksdict), with the process's shared cache and memtable budget."""

    def as_options(self) -> Any:
        """Options as Faust builds them, then the shared cache in place of a cache per database."""
        options = super().as_options()
        if _shared_memory is None:
            return options
        options.set_write_buffer_size(MEMTABLE_BYTES)
        options.set_write_buffer_manager(_shared_memory.write_buffers)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, block_based=True)
        table.set_block_cache(_shared_memory.cache)
        # Index and filter blocks count in the cache too, or they grow with the files beside it.
        table.set_cache_index_and_filter_blocks(True)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table)
        return options


class RocksDBStore(rocksdb.Store):
    """RocksDB store with direct reads, atomic bulk writes and a ``stop`` that closes each database."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rocksdb_options = BoundedOptions(**(self.options or {}), use_rocksdict=True)

    def read(self, partition: int, key: bytes) -> bytes | None:
        """Read ``key`` from the partition's database."""
        return self._db_for_partition(partition).get(key)

    def apply_changes(self, partition: int, changes: Mapping[bytes, bytes | None], offset: int) -> None:
        """Write ``changes`` and the changelog offset they reach in one write batch."""
        batch = rocksdict.WriteBatch(raw_mode=True)
        for key, value in changes.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        batch.put(self.offset_key, str(offset).encode())
        self._db_for_partition(partition).write(batch)

    async def stop(self) -> None:
        """Close every open database (writes already in the write-ahead log stay durable)."""
        for db in self._dbs.values():
            db.close()
        self._dbs.clear()


class MemoryStore(memory.Store):
    """Faust's in-memory store with bulk writes (it keeps no offsets: it recovers from the start)."""

    def read(self, partition: int, key: bytes) -> bytes | None:
        """Read ``key`` (one dictionary holds every partition)."""
        return self.data.get(key)

    def apply_changes(self, partition: int, changes: Mapping[bytes, bytes | None], offset: int) -> None:
        """Apply ``changes``, remembering each key's partition as Faust's own recovery does."""
        data = self.data
        partition_of = self._key_partition
        for key, value in changes.items():
            if value is None:
                data.pop(key, None)
                partition_of.pop(key, None)
            else:
                data[key] = value
                partition_of[key] = partition


STORES.aliases[ROCKSDB_SCHEME] = f"{__name__}:RocksDBStore"
STORES.aliases[MEMORY_SCHEME] = f"{__name__}:MemoryStore"
