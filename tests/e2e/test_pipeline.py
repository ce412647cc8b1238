"""The whole pipeline on the embedded broker: replay a file, read the alerts back."""

import subprocess
import sys

import pytest

from agents.rules.config import load_rule_book
from tests.conftest import REPO, newest_versions
from tests.oracle import expected_alerts
from tests.scenarios import build

pytestmark = pytest.mark.e2e


def test_replayed_file_raises_exactly_the_expected_alerts(deployment, tmp_path):
    deployed = deployment()
    deployed.start_worker()
    scenario = build(seed=11)
    path = scenario.write_jsonl(tmp_path / "traffic.jsonl")
    env = {"PATH": "", **deployed.settings.as_env()}
    replay = subprocess.run([sys.executable, "-m", "streams", "replay", str(path)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert replay.returncode == 0, replay.stderr
    assert f"published {len(scenario.events)} events" in replay.stdout

    expected = expected_alerts(scenario.events, load_rule_book(), flush_after_ms=3_600_000)
    assert {(f.rule_id, f.subject_type, f.subject_id) for f in expected.values()} == scenario.planted

    alerts = deployed.read_topic("alerts", "alert",
                                 until=lambda seen: set(newest_versions(seen)) >= set(expected),
                                 timeout_s=90, settle_s=3)
    newest = newest_versions(alerts)
    assert set(newest) == set(expected), deployed.workers[0].tail()
    for alert_id, finding in expected.items():
        alert = newest[alert_id]
        assert (alert["rule_id"], alert["severity"], alert["subject_type"], alert["subject_id"]) == (
            finding.rule_id, finding.severity, finding.subject_type, finding.subject_id)
        assert alert["explanation"] == finding.explanation
        assert [e["name"] for e in alert["evidence"]] == [e.name for e in finding.evidence]
        assert alert["trigger_event_ids"] == list(finding.trigger_event_ids)
        assert 0 <= alert["score"] <= 100
        assert alert["detected_at"] >= alert["event_time"]
