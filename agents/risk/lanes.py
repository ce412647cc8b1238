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
class OfficeLanes:
    """An office's recent arrivals, scores and inspections: what its next lane is decided from.

    Plain lists of event times and scores (the state is stored as JSON);
    ``ranked`` is ``recent`` sorted, for ranking a new score.
    """

    arrivals: list[int] = field(default_factory=list)
    reds: list[int] = field(default_factory=list)
    yellows: list[int] = field(default_factory=list)
    recent: list[float] = field(default_factory=list)
    ranked: list[float] = field(default_factory=list)
    first_seen: int | None = None

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> OfficeLanes:
        """Rebuild from the stored JSON document."""
        recent = [float(s) for s in doc["recent"]]
        return cls(arrivals=list(doc["arrivals"]), reds=list(doc["reds"]), yellows=list(doc["yellows"]),
                   recent=recent, ranked=sorted(recent), first_seen=doc["first_seen"])

    def decide(self, declaration_id: str, event_time: int, score: float, capacity: Capacity,
               control_rate: float) -> Lane:
        """The lane of the office's next declaration (declarations come in event-time order)."""
        window = capacity.window_ms
        horizon = event_time - window
        for times in (self.arrivals, self.reds, self.yellows):
            del times[:bisect.bisect_right(times, horizon)]
        if self.first_seen is None:
            self.first_seen = event_time
        self.arrivals.append(event_time)
        per_window = len(self.arrivals) * window / max(MIN_RATE_SPAN_MS, min(window, event_time - self.first_seen))
        red_share = capacity.red / per_window
        yellow_share = capacity.yellow / per_window
        above = (len(self.ranked) - bisect.bisect_right(self.ranked, score)) / len(self.ranked) if self.ranked else 0.0
        self._remember(score)

        control = in_control_sample(declaration_id, control_rate)
        wanted = RED if control or above < red_share else YELLOW if above < red_share + yellow_share else GREEN
        lane = wanted
        if lane == RED and len(self.reds) >= capacity.red:
            lane = YELLOW
        if lane == YELLOW and len(self.yellows) >= capacity.yellow:
            lane = GREEN
        if lane == RED:
            self.reds.append(event_time)
        elif lane == YELLOW:
            self.yellows.append(event_time)
        return Lane(declaration_id, event_time, lane, score, control, inspected=lane == RED)

    def count(self, event_time: int, score: float, lane: str) -> None:
        """Count a lane ``decide`` gave before (read back after a crash) as ``decide`` counted it."""
        if self.first_seen is None:
            self.first_seen = event_time
        self.arrivals.append(event_time)
        self._remember(score)
        if lane == RED:
            self.reds.append(event_time)
        elif lane == YELLOW:
            self.yellows.append(event_time)

    def _remember(self, score: float) -> None:
        self.recent.append(score)
        bisect.insort(self.ranked, score)
        if len(self.recent) > RECENT_SCORES:
            old = self.recent.pop(0)
            del self.ranked[bisect.bisect_left(self.ranked, old)]

