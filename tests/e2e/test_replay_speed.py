"""The same file replayed at full speed and at a slow rate raises the same alerts.

Windows and timers run on event time (stream time), never on arrival, so the
rate at which events arrive must not change what is found.
"""

import subprocess
import sys

import pytest

from agents.rules.config import load_rule_book
from tests.conftest import REPO, newest_versions
from tests.oracle import expected_alerts
from tests.scenarios import build

pytestmark = pytest.mark.e2e

SLOW_RATE = 80  # events per second: the file takes seconds, many router steps and progress reports


def replay(deployed, path, *options):
    env = {"PATH": "", **deployed.settings.as_env()}
    result = subprocess.run([sys.executable, "-m", "streams", "replay", str(path), *options], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr


def test_full_speed_and_slow_replays_raise_identical_alert_ids(deployment, tmp_path):
    scenario = build(seed=5, clean_shipments=60, clean_parcels=80)
    path = scenario.write_jsonl(tmp_path / "traffic.jsonl")
    expected = set(expected_alerts(scenario.events, load_rule_book(), flush_after_ms=3_600_000))

    def alert_ids(deployed):
        seen = deployed.read_topic("alerts", "alert", until=lambda s: set(newest_versions(s)) >= expected,
                                   timeout_s=90, settle_s=3)
        return set(newest_versions(seen))

    # The backlog case: the file is published, then a worker starts on it. (A full-speed
    # burst into a worker whose partitions are all idle can be judged against a
    # partition reported idle a moment before its data arrived: see the README.)
    fast, slow = deployment(), deployment()
    replay(fast, path)
    fast.start_worker()
    slow.start_worker()
    replay(slow, path, "--rate", str(SLOW_RATE))
    fast_ids, slow_ids = alert_ids(fast), alert_ids(slow)
    assert fast_ids == expected, fast.workers[0].tail()
    assert slow_ids == fast_ids, slow.workers[0].tail()
