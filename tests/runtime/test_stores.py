"""The stores' bulk write: what a checkpoint leaves in each store."""

from __future__ import annotations

import time
from pathlib import Path

import faust
import pytest
from faust.types import TP

from streams.runtime import stores

SCHEMES = {"rocksdb": stores.ROCKSDB_SCHEME, "memory": stores.MEMORY_SCHEME}


def _table(scheme: str, datadir: Path) -> faust.Table:
    app = faust.App("stores-test", store=f"{scheme}://", datadir=str(datadir))
    return app.Table("subjects", partitions=2, key_type=bytes, value_type=bytes)


@pytest.mark.parametrize("store", SCHEMES)
def test_apply_changes_puts_and_deletes_in_one_partition(store, tmp_path):
    table = _table(SCHEMES[store], tmp_path)
    data = table.data
    data.apply_changes(1, {b"a": b"1", b"b": b"2"}, 10)
    data.apply_changes(1, {b"a": None, b"c": b"3"}, 12)
    if store == "rocksdb":
        db = data._db_for_partition(1)
        assert {key: db.get(key) for key in (b"a", b"b", b"c")} == {b"a": None, b"b": b"2", b"c": b"3"}
        assert data._db_for_partition(0).get(b"b") is None
    else:
        assert dict(data.data) == {b"b": b"2", b"c": b"3"}
        assert data._key_partition == {b"b": 1, b"c": 1}


def test_rocksdb_records_the_changelog_offset_with_the_changes(tmp_path):
    table = _table(stores.ROCKSDB_SCHEME, tmp_path)
    data = table.data
    data.apply_changes(0, {b"a": b"1"}, 41)
    changelog = table.changelog_topic.get_topic_name()
    assert data.persisted_offset(TP(changelog, 0)) == 41
    assert data.persisted_offset(TP(changelog, 1)) is None


@pytest.mark.parametrize("store", SCHEMES)
def test_read_finds_what_apply_changes_stored(store, tmp_path):
    data = _table(SCHEMES[store], tmp_path).data
    data.apply_changes(1, {b"a": b"1", b"b": b"2"}, 3)
    data.apply_changes(1, {b"b": None}, 4)
    assert data.read(1, b"a") == b"1"
    assert data.read(1, b"b") is None
    assert data.read(1, b"never") is None


def test_rocksdb_tables_share_one_memory_budget(tmp_path, monkeypatch):
    # 40 MiB written across two tables' partitions: Faust's defaults would hold it all in
    # memtables (64 MiB each); under a 16 MiB budget a flush follows the write that passes the
    # memtables' share (a soft limit), so they come back within the budget.
    monkeypatch.setattr(stores, "_shared_memory", None)  # the process's budget comes back after the test
    stores.bound_rocksdb_memory(16)
    budget = stores.shared_memory()
    assert budget is not None
    tables = [_table(stores.ROCKSDB_SCHEME, tmp_path / name) for name in ("one", "two")]
    value = bytes(1024) * 10
    for n in range(4_000):
        tables[n % 2].data.apply_changes(n % 4 // 2, {f"key-{n}".encode(): value}, n)
    # The flushes run on RocksDB's background threads: on a loaded machine the memtables
    # stand above the budget until they finish (CI saw 18 MiB right after the writes), and
    # the cache, which they are charged to, a little longer (CI saw 16.3 MiB).
    deadline = time.monotonic() + 30
    while (max(budget.write_buffers.get_usage(), budget.cache.get_usage()) > 16 * 1024 * 1024
           and time.monotonic() < deadline):
        time.sleep(0.05)
    assert 0 < budget.write_buffers.get_usage() <= 16 * 1024 * 1024
    assert budget.cache.get_usage() <= 16 * 1024 * 1024
    assert tables[1].data.read(1, b"key-3") == value
