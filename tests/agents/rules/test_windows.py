"""The copy-free window behaves as the slice it stands for."""

from __future__ import annotations

import pytest

from agents.rules.windows import Window


@pytest.mark.parametrize(("start", "end"), [(0, 0), (2, 5), (0, 7), (6, 7)])
def test_a_window_reads_as_its_slice(start: int, end: int) -> None:
    items = list("abcdefg")
    window, expected = Window(items, start, end), items[start:end]
    assert len(window) == len(expected)
    assert list(window) == expected
    assert [window[i] for i in range(-len(expected), len(expected))] == expected + expected
    assert window[1:] == expected[1:] and window[::-1] == expected[::-1]
    with pytest.raises(IndexError):
        window[len(expected)]
