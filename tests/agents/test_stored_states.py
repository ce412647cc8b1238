"""Every subject kind decides the same when its state is stored and loaded back after each step.

The subject agents keep states in memory and store them at checkpoints; a
restart or a rebalance goes on from what loads back. Run over simulated
traffic that plants every rule, through each kind's real encode and load.
"""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from agents.rules.config import load_rule_book
from streams.tools.simulate import FILE_START_MS
from streams.tools.traffic import SimulationConfig, generate
from tests.oracle import Oracle

EVENTS = 12_000


@pytest.fixture(scope="module")
def traffic():
    config = SimulationConfig(seed=11, start_ms=FILE_START_MS, duration_s=EVENTS / 10, rate=10.0)
    return [(event.kind, event.record) for event in itertools.islice(generate(config), EVENTS)]


def _run(traffic, reload: bool) -> Oracle:
    oracle = Oracle(load_rule_book(), reload=reload)
    for kind, record in traffic:
        oracle.feed(kind, record)
    assert oracle.watermark is not None
    oracle.advance(oracle.watermark + 86_400_000)
    return oracle


def test_reloading_every_state_after_every_step_changes_no_alert(traffic):
    kept = _run(traffic, reload=False)
    reloaded = _run(traffic, reload=True)
    rules = Counter(finding.rule_id for finding in kept.alerts.values())
    assert len(rules) >= 8, f"the traffic must exercise most rules, got {dict(rules)}"
    assert reloaded.alerts == kept.alerts
    assert reloaded.versions == kept.versions
    assert reloaded.stored_segments, "the declarant's segments were stored and read back"
