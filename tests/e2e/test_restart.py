"""A worker killed mid-stream (SIGKILL) and restarted loses no finding and raises none twice."""

import time

import pytest

from agents.rules.config import load_rule_book
from tests.conftest import newest_versions
from tests.oracle import expected_alerts
from tests.scenarios import build

pytestmark = pytest.mark.e2e


def run(deployed, events, crash_at):
    """Publish, start a worker, SIGKILL it once ``crash_at`` of the events are routed, and restart it."""
    deployed.publish(events)
    worker = deployed.start_worker()
    deadline = time.monotonic() + 60
    while (routed := worker.metric("cargoguard_events_total")) < crash_at * len(events):
        assert time.monotonic() < deadline, worker.tail()
        time.sleep(0.02)
    worker.kill()
    deployed.start_worker()
    return routed


@pytest.mark.parametrize("store", ["rocksdb", "memory"])
def test_sigkill_mid_stream_gives_the_same_alert_ids(deployment, store):
    """The alerts of the crashed run are the oracle's, so the ones an uninterrupted run gives (``test_pipeline``)."""
    scenario = build(seed=23, clean_shipments=3000, clean_parcels=3000)
    expected = expected_alerts(scenario.events, load_rule_book(), flush_after_ms=3_600_000)

    crashed = deployment(store=store)
    routed_before_crash = run(crashed, scenario.events, crash_at=0.3)
    assert routed_before_crash < len(scenario.events), "the crash came after the stream ended"

    def complete(seen):
        return set(newest_versions(seen)) >= set(expected)

    with_crash = crashed.read_topic("alerts", "alert", until=complete, timeout_s=120, settle_s=3)
    assert set(newest_versions(with_crash)) == set(expected), crashed.workers[-1].tail()
    assert {(a["rule_id"], a["subject_type"], a["subject_id"]) for a in newest_versions(with_crash).values()} \
        == scenario.planted
