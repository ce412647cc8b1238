"""``cargoguard evaluate`` end to end: the default rules catch every planted pattern, nothing else; Ctrl-C cleans up."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.tools.simulate import FILE_START_MS, write_jsonl
from streams.tools.traffic import SimulationConfig, generate
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
    assert report["complete"], result.stderr
    rows = {row["rule_id"]: row for row in report["rules"]}
    assert set(rows) == planted_rules, "alerts of a rule nothing was planted for"
    for rule, row in rows.items():
        assert row["recall"] == 1.0, (rule, row["missed_subjects"])
        assert row["false_alerts"] == 0, (rule, row["false_subjects"])
    assert report["overall"]["planted"] >= 2 * len(planted_rules)
    assert report["latency_ms"]["alerts"] > 0 and report["latency_ms"]["p50"] > 0
    assert set(report["latency_ms_by_rule"]) == planted_rules
    assert plot.read_bytes()[:8] == PNG_MAGIC


def children_of(pid):
    """Pids of the live child processes of ``pid``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                # After the command's closing parenthesis: state, then the parent pid.
                state, parent = (proc / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            except OSError:
                continue
            if int(parent) == pid and state != "Z":
                found.append(int(proc.name))
    return found


def test_ctrl_c_stops_the_broker_and_the_worker_and_removes_the_run_folder(tmp_path):
    path = tmp_path / "labelled.jsonl"
    write_jsonl(generate(SimulationConfig(seed=5, start_ms=FILE_START_MS, duration_s=300, rate=5,
                                          pattern_rate=0.3)), path)
    runs = tmp_path / "runs"
    runs.mkdir()
    evaluate = subprocess.Popen([sys.executable, "-m", "streams", "evaluate", str(path)], cwd=REPO,
                                env={**os.environ, "TMPDIR": str(runs)}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        children: list[int] = []
        while len(children) < 2 and time.monotonic() < deadline:  # the broker and the worker
            time.sleep(0.2)
            children = children_of(evaluate.pid)
        assert len(children) == 2, f"evaluate started {children}"
        assert list(runs.iterdir()), "no run folder"
    finally:
        evaluate.send_signal(signal.SIGINT)
        code = evaluate.wait(timeout=60)
    assert code == 130, evaluate.stderr.read()
    assert [pid for pid in children if Path(f"/proc/{pid}").exists()] == []
    assert list(runs.iterdir()) == []


KCS = REPO.parent / "shared" / "data" / "kcs-synthetic-declarations"
KCS_ROWS = 2000


@pytest.mark.skipif(not KCS.is_dir(), reason=f"KCS data not present at {KCS} (see ../shared/data/README.md)")
def test_kcs_rows_are_scored_against_their_fraud_labels_per_declaration(tmp_path):
    lines = (KCS / "df_syn_test_eng.csv").read_text().splitlines()[: KCS_ROWS + 1]
    sample = tmp_path / "kcs-sample.csv"
    sample.write_text("\n".join(lines) + "\n")
    fraud = sum(row["Fraud"] == "1" for row in csv.DictReader(lines))
    result = subprocess.run([sys.executable, "-m", "streams", "evaluate", str(sample), "--mapping", "kcs", "--json"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    labels = report["against_labels"]
    assert report["complete"] and report["events"] == KCS_ROWS and report["alerts"] > 0
    assert (labels["declarations"], labels["labelled_positive"]) == (KCS_ROWS, fraud)
    assert labels["base_rate"] == fraud / KCS_ROWS
    overall = labels["overall"]
    assert 0 < overall["declarations"] <= KCS_ROWS and overall["labelled_positive"] <= fraud
    assert labels["recall"] == overall["labelled_positive"] / fraud
    assert overall["alerts"] == sum(row["alerts"] for row in labels["rules"]) == report["alerts"]


@pytest.mark.skipif(not KCS.is_dir(), reason=f"KCS data not present at {KCS} (see ../shared/data/README.md)")
def test_kcs_lanes_a_worker_wrote_are_measured_against_the_labels(tmp_path):
    train = tmp_path / "kcs-train.csv"
    train.write_text("\n".join((KCS / "df_syn_train_eng.csv").read_text().splitlines()[:4001]) + "\n")
    lines = (KCS / "df_syn_test_eng.csv").read_text().splitlines()[: KCS_ROWS + 1]
    sample = tmp_path / "kcs-sample.csv"
    sample.write_text("\n".join(lines) + "\n")
    model = tmp_path / "model.lgb"
    learned = subprocess.run([sys.executable, "-m", "streams", "learn", str(train), "--mapping", "kcs",
                              "--out", str(model)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert learned.returncode == 0, learned.stderr
    result = subprocess.run([sys.executable, "-m", "streams", "evaluate", str(sample), "--mapping", "kcs",
                             "--model", str(model), "--json"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    risk = json.loads(result.stdout.splitlines()[-1])["risk"]
    rows = list(csv.DictReader(lines))
    fraud = sum(row["Fraud"] == "1" for row in rows)
    # Every declaration got its lane, and the scores the worker wrote rank the labels better than chance.
    assert risk["capacity"] == {"red_share": 0.1, "window_days": 7.0}
    assert risk["declarations"] == KCS_ROWS and sum(risk["lanes"].values()) == KCS_ROWS
    assert risk["true_infraction_rate"] == fraud / KCS_ROWS
    assert risk["auc"] > 0.6 and risk["precision_at"]["10"] > 1.5 * risk["true_infraction_rate"]
    assert 0 < risk["lanes"]["RED"] < KCS_ROWS * 0.25 and risk["lanes"]["YELLOW"] == 0
    assert risk["caught"]["by_lanes"] > risk["caught"]["by_random_on_average"]
    assert risk["control_sample"]["declarations"] > 0
