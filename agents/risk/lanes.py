"""Selectivity lanes: which declarations an office inspects, within what its officers can do in an hour.

Every LODGED declaration gets a lane: RED (physical inspection), YELLOW
(documents checked) or GREEN (released).

- A random control sample (``control_rate``, 2 % by default) is drawn from
  the declaration id alone, by a hash: independent of the score, the same on
  every replay, and marked as such. It is inspected (RED), so the share of
  infractions found in it estimates what the risk lanes let through.
- The others go by risk, within the office's rolling capacity: the share of
  declarations a window's capacity allows (an hour of event time by
  default) is that capacity over the declarations the office received in
  the last window, and a
  declaration is RED when its score ranks within that share among the
  office's recent scores, YELLOW within the next share (the yellow
  capacity's), GREEN otherwise. A day is never sorted: each lane is decided
  when its declaration comes, from what came before.
- No window of event time ever holds more RED lanes (control ones included)
  than the capacity, nor more YELLOW: a declaration the ranking would
  inspect when the last window's capacity is used up is demoted (RED to
  YELLOW, YELLOW to GREEN). A control pick then keeps its mark but is not
  inspected (``inspected`` False), so an estimate from the sample knows it.
  A lane that CRITICAL rule alerts force RED is beyond the capacity and
  outside this ranking (``agents.subjects.office``).

Decisions must be made in event-time order (the caller waits for stream
time), so the lanes do not depend on the speed or the interleaving of the
feeds: the same file replayed at any speed gets the same lanes.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

HOUR_MS = 3_600_000
# Below this much observed event time, the arrival rate is extrapolated from it
# rather than read off a whole hour: at the start every declaration would
# otherwise look like the hour's only one and be inspected.
MIN_RATE_SPAN_MS = 5 * 60_000
# Recent scores an office ranks a new one against.
RECENT_SCORES = 500
# An office's arrivals and lanes are counted in runs of consecutive times, each at
# most this fraction of the window's count: kept one by one, a week's window of a busy
# office (20,000 an hour) would have made a head of 47 MB of arrivals alone, far past
# the broker's 1 MiB message limit. Runs are merged to stay under 4 * RUN_SHARE
# (some 35 KB) however many times the window holds; an office that never has twice
# RUN_SHARE in its window keeps every time, exactly.
RUN_SHARE = 256

RED = "RED"
YELLOW = "YELLOW"
GREEN = "GREEN"


@dataclass(frozen=True, slots=True)
class Capacity:
    """Checks an office's officers can make in a window of event time (an hour by default).

    A sparse office (a few declarations an hour) cannot express "10 %" in whole
    checks per hour: with one RED an hour it would inspect every declaration
    that finds the hour free, first come first served. A longer window (a shift,
    a day) lets its capacity follow the ranking.
    """

    red: int
    yellow: int
    window_ms: int = HOUR_MS


@dataclass(frozen=True, slots=True)
class LanePolicy:
    """Every office's capacity (settings), and the control sample's rate."""

    capacities: Mapping[str, Capacity]
    default: Capacity
    control_rate: float

    def capacity_of(self, office_code: str) -> Capacity:
        """The office's capacity, else the default."""
        return self.capacities.get(office_code, self.default)


@dataclass(frozen=True, slots=True)
class Lane:
    """One declaration's lane and why."""

    declaration_id: str
    event_time: int
    lane: str
    score: float
    control_sample: bool
    # False for a control pick the full window could not inspect (demoted); the estimate must know.
    inspected: bool


def in_control_sample(declaration_id: str, rate: float) -> bool:
    """Whether a declaration is drawn for the random control sample (by its id alone, never its score)."""
    digest = hashlib.blake2b(declaration_id.encode(), digest_size=8, person=b"cg-control").digest()
    return int.from_bytes(digest, "big") / 2**64 < rate


@dataclass
class TimeRuns:
    """Event times counted in runs ``[first, last, count]`` of consecutive ones (``RUN_SHARE``).

    A run takes a time while it holds under a ``RUN_SHARE``-th of all the
    runs hold; below twice ``RUN_SHARE`` times, every run is one time.
    """

    runs: list[list[int]] = field(default_factory=list)
    total: int = 0

    @classmethod
    def from_doc(cls, doc: Any) -> TimeRuns:
        """Rebuild from the stored form (a list of times: one stored before runs)."""
        if isinstance(doc, list):
            return cls([[t, t, 1] for t in doc], len(doc))
        return cls([list(run) for run in doc["runs"]], int(doc["total"]))

    def add(self, time: int) -> None:
        """Count a time no earlier than any counted."""
        last = self.runs[-1] if self.runs else None
        if last is not None and last[2] < self.total // RUN_SHARE:
            last[1:] = [time, last[2] + 1]
        else:
            self.runs.append([time, time, 1])
        self.total += 1
        if len(self.runs) > 4 * RUN_SHARE:
            self._merge()

    def _merge(self) -> None:
        # The runs made while the count was smaller are smaller: merge neighbours
        # within today's share, leaving under 2 * RUN_SHARE + 1 runs.
        share = max(1, self.total // RUN_SHARE)
        merged: list[list[int]] = []
        for run in self.runs:
            if merged and merged[-1][2] + run[2] <= share:
                merged[-1][1:] = [run[1], merged[-1][2] + run[2]]
            else:
                merged.append(run)
        self.runs = merged

    def forget(self, horizon: int) -> None:
        """Drop the runs that ended at or before ``horizon``."""
        gone = 0
        while gone < len(self.runs) and self.runs[gone][1] <= horizon:
            self.total -= self.runs[gone][2]
            gone += 1
        del self.runs[:gone]

    def estimate_after(self, horizon: int) -> float:
        """The times after ``horizon`` (``forget`` it first), a run across it counted in part.

        Within a run the times are taken as spread evenly over its span, so the
        estimate is off by less than that run's count.
        """
        if not self.runs or self.runs[0][0] > horizon:
            return float(self.total)
        first, last, count = self.runs[0]
        return self.total - count * (horizon - first + 1) / (last - first + 1)


@dataclass
class OfficeLanes:
    """An office's recent arrivals, scores and inspections: what its next lane is decided from.

    Plain lists and numbers (the state is stored as JSON); ``ranked`` is
    ``recent`` sorted, for ranking a new score. Arrivals and
    the RED and YELLOW lanes are counted in runs (``TimeRuns``): a window
    can hold far more than a message may (``RUN_SHARE``). The arrival rate
    is estimated within a run; the lanes, counted against the capacity,
    count a run across the window's start whole, so no window ever holds
    more than the capacity.
    """

    arrivals: TimeRuns = field(default_factory=TimeRuns)
    reds: TimeRuns = field(default_factory=TimeRuns)
    yellows: TimeRuns = field(default_factory=TimeRuns)
    recent: list[float] = field(default_factory=list)
    ranked: list[float] = field(default_factory=list)
    first_seen: int | None = None

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> OfficeLanes:
        """Rebuild from the stored JSON document."""
        recent = [float(s) for s in doc["recent"]]
        return cls(arrivals=TimeRuns.from_doc(doc["arrivals"]), reds=TimeRuns.from_doc(doc["reds"]),
                   yellows=TimeRuns.from_doc(doc["yellows"]), recent=recent, ranked=sorted(recent),
                   first_seen=doc["first_seen"])

    def decide(self, declaration_id: str, event_time: int, score: float, capacity: Capacity,
               control_rate: float) -> Lane:
        """The lane of the office's next declaration (declarations come in event-time order)."""
        window = capacity.window_ms
        horizon = event_time - window
        for runs in (self.arrivals, self.reds, self.yellows):
            runs.forget(horizon)
        if self.first_seen is None:
            self.first_seen = event_time
        self.arrivals.add(event_time)
        per_window = (self.arrivals.estimate_after(horizon) * window
                      / max(MIN_RATE_SPAN_MS, min(window, event_time - self.first_seen)))
        red_share = capacity.red / per_window
        yellow_share = capacity.yellow / per_window
        above = (len(self.ranked) - bisect.bisect_right(self.ranked, score)) / len(self.ranked) if self.ranked else 0.0
        self._remember(score)

        control = in_control_sample(declaration_id, control_rate)
        wanted = RED if control or above < red_share else YELLOW if above < red_share + yellow_share else GREEN
        lane = wanted
        # Forgotten up to the horizon, a run across it counts whole: never fewer than the window holds.
        if lane == RED and self.reds.total >= capacity.red:
            lane = YELLOW
        if lane == YELLOW and self.yellows.total >= capacity.yellow:
            lane = GREEN
        if lane == RED:
            self.reds.add(event_time)
        elif lane == YELLOW:
            self.yellows.add(event_time)
        return Lane(declaration_id, event_time, lane, score, control, inspected=lane == RED)

    def count(self, event_time: int, score: float, lane: str) -> None:
        """Count a lane ``decide`` gave before (read back after a crash) as ``decide`` counted it."""
        if self.first_seen is None:
            self.first_seen = event_time
        self.arrivals.add(event_time)
        self._remember(score)
        if lane == RED:
            self.reds.add(event_time)
        elif lane == YELLOW:
            self.yellows.add(event_time)

    def _remember(self, score: float) -> None:
        self.recent.append(score)
        bisect.insort(self.ranked, score)
        if len(self.recent) > RECENT_SCORES:
            old = self.recent.pop(0)
            del self.ranked[bisect.bisect_left(self.ranked, old)]

