"""``cargoguard evaluate`` end to end: the default rules catch every planted pattern, nothing else."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_defaults_catch_every_planted_pattern_with_no_alert_on_clean_subjects(tmp_path):
    path = tmp_path / "labelled.jsonl"
    simulate = subprocess.run([sys.executable, "-m", "streams", "simulate", "--seed", "101", "--rate", "10",
                               "--duration", "600", "--pattern-rate", "0.3", "--out", str(path)],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
    assert simulate.returncode == 0, simulate.stderr
    planted_rules = {json.loads(line)["label"]["pattern"] for line in path.read_text().splitlines()
                     if '"label"' in line}
    plot = tmp_path / "quality.png"
    result = subprocess.run([sys.executable, "-m", "streams", "evaluate", str(path), "--json", "--plot", str(plot)],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rows = {row["rule_id"]: row for row in report["rules"]}
    assert set(rows) == planted_rules, "alerts of a rule nothing was planted for"
    for rule, row in rows.items():
        assert row["recall"] == 1.0, (rule, row["missed_subjects"])
        assert row["false_alerts"] == 0, (rule, row["false_subjects"])
    assert report["overall"]["planted"] >= 2 * len(planted_rules)
    assert report["latency_ms"]["alerts"] > 0 and report["latency_ms"]["p50"] > 0
    assert plot.read_bytes()[:8] == PNG_MAGIC
