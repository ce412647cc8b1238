"""When a subject partition's observation begins: at the first stream time, and again after a rest."""

from __future__ import annotations

import pytest

from streams.runtime.agents.subject_agent import observation_start


@pytest.mark.parametrize(("start", "was_resting", "resting", "watermark", "expected"), [
    (None, False, False, None, None),  # no stream time yet
    (None, False, False, 500, 500),  # the first stream time known
    (100, False, False, 500, 100),  # kept while the kind works
    (100, False, True, 500, 100),  # nor does a rest move it (nothing is judged meanwhile)
    (100, True, True, 900, 100),
    (100, True, False, 900, 900),  # back from a rest: the hole must not look like quiet days
    (None, True, False, 900, 900),
])
def test_observation_start(start, was_resting, resting, watermark, expected):
    assert observation_start(start, was_resting, resting, watermark) == expected
