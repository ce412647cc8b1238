"""How good the lanes a worker wrote are, against labelled declarations (``evaluate --model``).

Everything here reads the ``cargo.selectivity`` records the workers wrote
(their scores and lanes), never a score computed apart.

- Ranking: AUC and precision in the top 1/5/10/20 % by score, and the share
  of the critical infractions found there (``critical_recall_at``).
- Lanes: infractions caught by the RED lanes, beside what as many random
  inspections would catch on average and what the rules' alerts named; the
  precision of all RED lanes and of those the score chose (not control picks).
- The control sample: its infraction rate estimates the whole file's (a
  Wilson 95 % interval), so the infractions the RED lanes missed can be
  estimated without knowing the labels, beside the true figure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from agents.risk.ranking import SHARES_PERCENT, auc, precision_at

# The normal quantile of a two-sided 95 % interval.
Z95 = 1.959964


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion."""
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return (max(0.0, centre - half), min(1.0, centre + half))


def recall_at(scores: list[float], wanted: list[bool]) -> dict[str, float | None]:
    """The share of the ``wanted`` declarations among the highest-scored p % (None when there are none)."""
    total = sum(wanted)
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    result: dict[str, float | None] = {}
    for share in SHARES_PERCENT:
        top = order[: max(1, len(order) * share // 100)]
        result[str(share)] = sum(wanted[i] for i in top) / total if total else None
    return result


def lane_report(lanes: Mapping[str, Mapping[str, Any]], infractions: set[str], critical: set[str],
                alerted: Iterable[str]) -> dict[str, Any]:
    """The ``risk`` block of ``evaluate --json`` from the lanes (declaration id -> selectivity record)."""
    ids = sorted(lanes)
    if not ids:
        raise ValueError("no lanes to evaluate: was a model loaded?")
    scores = [float(lanes[d]["score"]) for d in ids]
    bad = [d in infractions for d in ids]
    counts = {lane: sum(1 for d in ids if lanes[d]["lane"] == lane) for lane in ("RED", "YELLOW", "GREEN")}
    red = [d for d in ids if lanes[d]["lane"] == "RED"]
    true_rate = sum(bad) / len(ids)
    caught = sum(1 for d in red if d in infractions)
    # The control picks take RED capacity whatever their score: the score's own choice is measured apart.
    red_by_score = [d for d in red if not lanes[d]["control_sample"]]
    control = [d for d in ids if lanes[d]["control_sample"]]
    control_bad = sum(1 for d in control if d in infractions)
    low, high = wilson(control_bad, len(control))
    not_red = len(ids) - len(red)

    def missed_rate(rate: float) -> float:
        return max(0.0, rate * len(ids) - caught) / not_red if not_red else 0.0

    named = set(alerted) & set(ids)
    return {
        "declarations": len(ids),
        "auc": auc(scores, bad),
        "precision_at": precision_at(scores, bad),
        "critical_recall_at": recall_at(scores, [d in critical for d in ids]),
        "lanes": counts,
        "red_precision": caught / len(red) if red else None,
        "red_precision_by_score": (sum(1 for d in red_by_score if d in infractions) / len(red_by_score)
                                   if red_by_score else None),
        "caught": {"by_lanes": caught, "by_random_on_average": round(len(red) * true_rate, 1),
                   "by_rules": len(named & infractions), "rules_named": len(named)},
        "control_sample": {"declarations": len(control), "infractions": control_bad,
                           "infraction_rate": control_bad / len(control) if control else None,
                           "infraction_rate_ci95": [low, high]},
        "missed_infraction_rate": {"estimated": missed_rate(control_bad / len(control)) if control else None,
                                   "ci95": [missed_rate(low), missed_rate(high)],
                                   "true": sum(1 for d in ids if d in infractions and lanes[d]["lane"] != "RED")
                                   / not_red if not_red else None},
        "true_infraction_rate": true_rate,
    }
