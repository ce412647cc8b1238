"""Measuring lanes against labels: ranking, what the lanes caught, the control sample's estimate."""

from __future__ import annotations

import random
from typing import Any

import pytest

from streams.tools.lane_quality import lane_report, recall_at, wilson


def lane(score: float, lane: str, control: bool = False) -> dict[str, Any]:
    return {"score": score, "lane": lane, "control_sample": control}


def test_wilson_interval_holds_the_proportion_and_narrows_with_trials():
    low, high = wilson(20, 100)
    assert low < 0.2 < high
    wide, narrow = wilson(2, 10), wilson(200, 1000)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    assert wilson(0, 0) == (0.0, 1.0)


def test_recall_at_counts_the_wanted_among_the_top_share():
    scores = [i / 100 for i in range(100)]
    wanted = [i >= 95 for i in range(100)]
    assert recall_at(scores, wanted)["5"] == 1.0 and recall_at(scores, wanted)["1"] == 0.2
    assert recall_at(scores, [False] * 100)["10"] is None


def test_a_perfect_ranking_caught_by_red_lanes_and_estimated_from_the_control_sample():
    rng = random.Random(1)
    lanes = {}
    infractions = set()
    for i in range(2_000):
        bad = rng.random() < 0.2
        score = rng.uniform(0.6, 1.0) if bad else rng.uniform(0.0, 0.59)
        control = rng.random() < 0.05
        lanes[f"D{i}"] = lane(score, "RED" if control or score > 0.9 else "GREEN", control)
        if bad:
            infractions.add(f"D{i}")
    report = lane_report(lanes, infractions, {d for d in infractions if lanes[d]["score"] > 0.95}, ["D1", "D2"])
    assert report["auc"] == 1.0 and report["precision_at"]["10"] == 1.0
    assert report["critical_recall_at"]["10"] == 1.0
    red = [d for d, record in lanes.items() if record["lane"] == "RED"]
    assert report["lanes"]["RED"] == len(red)
    assert report["caught"]["by_lanes"] == len(set(red) & infractions)
    # Every score-chosen RED is an infraction; the control picks bring the base rate into the RED lanes.
    assert report["red_precision_by_score"] == 1.0 > report["red_precision"]
    assert report["caught"]["by_random_on_average"] == pytest.approx(len(red) * len(infractions) / 2_000, abs=0.1)
    missed = report["missed_infraction_rate"]
    assert missed["ci95"][0] <= missed["true"] <= missed["ci95"][1]
    low, high = report["control_sample"]["infraction_rate_ci95"]
    assert low <= report["true_infraction_rate"] <= high


def test_no_lanes_is_an_error_not_a_report():
    with pytest.raises(ValueError, match="no lanes"):
        lane_report({}, set(), set(), [])
