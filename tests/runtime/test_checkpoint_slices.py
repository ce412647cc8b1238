"""A checkpoint's changes in slices: every change once, in order, each slice closed once past its size."""

from __future__ import annotations

from streams.runtime.staged_table import in_slices


def test_changes_come_in_order_in_slices_closed_once_past_the_limit():
    changes = [(f"k{i}".encode(), None if i % 5 == 0 else b"x" * 98) for i in range(12)]
    slices = list(in_slices(changes, 250))
    assert [item for changed in slices for item in changed.items()] == changes
    # k0 (2 bytes) + k1, k2 (100 each) + k3: 302 closes the first; a deletion counts its key only.
    assert [list(changed) for changed in slices][:2] == [[b"k0", b"k1", b"k2", b"k3"], [b"k4", b"k5", b"k6", b"k7"]]
    assert all(sum(len(k) + len(v or b"") for k, v in changed.items()) >= 250 for changed in slices[:-1])


def test_no_changes_make_no_slice():
    assert list(in_slices(iter(()), 250)) == []
