import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.runtime.routed_batches import (
    MAX_BATCH_BYTES,
    Outbox,
    decode_batch,
    encode_batch,
    encode_batches,
    partition_for,
)


@given(st.text(min_size=1, max_size=40), st.integers(min_value=1, max_value=64))
def test_partition_is_stable_and_in_range(key, partitions):
    assert 0 <= partition_for(key, partitions) < partitions
    assert partition_for(key, partitions) == partition_for(key, partitions)


def test_batch_round_trip():
    events = [("BL1", "decl", {"event_id": "e1", "event_time": 5, "gross_weight_kg": 1.5}),
              ("BL2", "gate", {"event_id": "e2", "event_time": 6, "seal_intact": None})]
    progress = {"tps": {"t:0": [5, 7, False]}}
    batch = decode_batch(encode_batch(events, progress))
    assert batch.events == events and batch.progress == progress


def test_a_share_over_the_size_limit_is_split_in_order_with_the_progress_last():
    events = [(f"OFFICE-{n % 3}", "lodged", {"declaration_id": f"D{n}", "features": [0.123456789] * 30})
              for n in range(3_000)]
    progress = {"tps": {"t:0": [5, 7, False]}}
    values = encode_batches(events, progress)
    assert len(values) > 1 and all(len(value) <= MAX_BATCH_BYTES for value in values)
    batches = [decode_batch(value) for value in values]
    assert [event for batch in batches for event in batch.events] == events
    assert [batch.progress for batch in batches] == [None] * (len(batches) - 1) + [progress]
    assert encode_batches(events[:10], progress) == [encode_batch(events[:10], progress)]


def test_unknown_batch_version_is_refused():
    with pytest.raises(ValueError, match="routed batch"):
        decode_batch(b'{"v": 99, "events": []}')


def test_outbox_groups_by_partition():
    outbox = Outbox(partitions=4)
    for key in ["a", "b", "c", "a"]:
        outbox.add(key, "decl", {"k": key})
    assert len(outbox) == 4
    assert all(partition_for(e[0], 4) == p for p, events in outbox.by_partition.items() for e in events)
