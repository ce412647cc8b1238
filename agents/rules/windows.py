"""Sliding event-time windows, shared by the rules that count things over time.

A window starts at each item and spans ``span`` milliseconds (the item's time
included, the end excluded). A window qualifies when ``qualifies(items,
first)`` says so; qualifying windows that overlap merge into one cluster.
Items are ordered by ``(time, tiebreak)``, so the result never depends on the
order they arrived in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import Protocol, TypeVar, overload


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


class Window(Sequence[T]):
    """The items ``start`` to ``end`` of an ordered list, without copying them.

    A busy subject's every window had been copied to be counted: a quadratic
    cost for a platform declarant with hundreds of filings a day.
    """

    __slots__ = ("end", "items", "start")

    def __init__(self, items: list[T], start: int, end: int) -> None:
        self.items, self.start, self.end = items, start, end

    def __len__(self) -> int:
        return self.end - self.start

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        positions = range(self.start, self.end)[index]
        if isinstance(positions, range):
            return [self.items[i] for i in positions]
        return self.items[positions]

    def __iter__(self) -> Iterator[T]:
        return islice(self.items, self.start, self.end)


def sliding_clusters(items: Sequence[T], span: int, qualifies: Callable[[Sequence[T], T], bool]) -> list[list[T]]:
    """Clusters of items lying in overlapping qualifying windows, each in time order."""
    ordered = sorted(items, key=lambda item: (item.event_time, item.tiebreak))
    clusters: list[list[T]] = []
    covered_until = -1  # index of the last item in the current cluster
    end = 0
    for start, first in enumerate(ordered):
        while end < len(ordered) and ordered[end].event_time < first.event_time + span:
            end += 1
        if qualifies(Window(ordered, start, end), first):
            if clusters and start <= covered_until:
                clusters[-1].extend(ordered[covered_until + 1 : end])
            else:
                clusters.append(list(ordered[start:end]))
            covered_until = end - 1
    return clusters
