"""How well scores rank declarations by their outcomes: AUC and precision in the top share."""

from __future__ import annotations

from collections.abc import Sequence

SHARES_PERCENT = (1, 5, 10, 20)


def auc(scores: Sequence[float], infractions: Sequence[bool]) -> float:
    """Area under the ROC curve (ties count half), by the rank-sum formula."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    positives = sum(infractions)
    negatives = len(infractions) - positives
    if not positives or not negatives:
        raise ValueError("AUC needs infractions and declarations without")
    rank_sum = sum(rank for rank, infraction in zip(ranks, infractions, strict=True) if infraction)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def precision_at(scores: Sequence[float], infractions: Sequence[bool],
                 shares_percent: Sequence[int] = SHARES_PERCENT) -> dict[str, float]:
    """The share of infractions among the highest-scored ``p`` % of declarations, for each ``p``."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    result = {}
    for share in shares_percent:
        top = order[: max(1, len(order) * share // 100)]
        result[str(share)] = sum(infractions[i] for i in top) / len(top)
    return result
