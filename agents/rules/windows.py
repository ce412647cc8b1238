"""Sliding event-time windows, shared by the rules that count things over time.

A window starts at each item and spans ``span`` milliseconds (the item's time
included, the end excluded). A window qualifies when ``qualifies(items,
first)`` says so; qualifying windows that overlap merge into one cluster.
Items are ordered by ``(time, tiebreak)``, so the result never depends on the
order they arrived in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar


class Timed(Protocol):
    """Anything with an event time and a tiebreak."""

    @property
    def event_time(self) -> int:
        """When it happened, epoch milliseconds."""
        ...

    @property
    def tiebreak(self) -> str:
        """Orders items with the same event time, so clusters never depend on arrival order."""
        ...


T = TypeVar("T", bound=Timed)


def sliding_clusters(items: Sequence[T], span: int, qualifies: Callable[[Sequence[T], T], bool]) -> list[list[T]]:
    """Clusters of items lying in overlapping qualifying windows, each in time order."""
    ordered = sorted(items, key=lambda item: (item.event_time, item.tiebreak))
    clusters: list[list[T]] = []
    covered_until = -1  # index of the last item in the current cluster
    end = 0
    for start, first in enumerate(ordered):
        while end < len(ordered) and ordered[end].event_time < first.event_time + span:
            end += 1
        if qualifies(ordered[start:end], first):
            if clusters and start <= covered_until:
                clusters[-1].extend(ordered[covered_until + 1 : end])
            else:
                clusters.append(list(ordered[start:end]))
            covered_until = end - 1
    return clusters
