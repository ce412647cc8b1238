"""Stream time: how far in event time every input partition has delivered.

Rules that wait (the exit decision waits out the feed skew; split parcels
are judged once nothing earlier can still arrive) fire on stream time, never
on the wall clock, so a replay of last month decides exactly as the live run.

The router tracks, per input partition it owns, the newest event time it has
forwarded (``SourceTracker``) and attaches that progress to what it sends,
after the events it covers: a report never vouches for an event not yet on
its way. With several workers each router reports the partitions it owns, to
every subject partition. Each subject partition merges the reports
(``ProgressBoard``) and keeps its board with its checkpointed state, so a
partition that moves to another worker resumes at the stream time its
committed input reached. Stream time is the minimum over all input
partitions of how far each has delivered.

Idle partitions: an input partition with no backlog and no new event for
``idle_partition_after_s`` is idle. It has delivered everything it holds,
and its next event cannot be older than its last by more than the wall time
since (a feed publishes in event-time order, in real time or faster), so it
holds stream time back to its newest event time plus the wall time since
that event.

An idle partition that never delivered anything has no event time of its
own. Its first event may still be on its way: a producer sends each
partition's batch on its own, so the batch of one can land well after the
batches of others that carry later events (seen in CI: a replay's
declarations arrived after the gate events hours later than them, and
stream time had run past them on the strength of the gate events alone).
Such a partition holds stream time to the newest event time any partition
had delivered ``idle_partition_after_s`` ago: what was published before
then, it would have delivered by now.

When every input partition is idle, stream time follows the wall clock from
the newest event seen, so a pending decision is still made when the feeds go
quiet. Stream time never moves backwards.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def wall_ms() -> int:
    """The wall clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def tp_name(topic: str, partition: int) -> str:
    """How a topic partition is named in progress reports."""
    return f"{topic}:{partition}"


@dataclass(slots=True)
class _Seen:
    max_event_time: int
    last_event_wall_ms: int
    last_offset: int


@dataclass(slots=True)
class SourceTracker:
    """The router's record of the input partitions it has read."""

    idle_after_ms: int
    seen: dict[str, _Seen] = field(default_factory=dict)
    start_positions: dict[str, int] = field(default_factory=dict)

    def saw(self, tp: str, event_time: int, offset: int, now_ms: int) -> None:
        """Record an event forwarded from input partition ``tp``."""
        seen = self.seen.get(tp)
        if seen is None:
            self.seen[tp] = _Seen(event_time, now_ms, offset)
        else:
            if event_time > seen.max_event_time:
                seen.max_event_time = event_time
            seen.last_event_wall_ms = now_ms
            if offset > seen.last_offset:
                seen.last_offset = offset

    def next_offset(self, tp: str) -> int | None:
        """The offset after the last one read from ``tp``, if known."""
        seen = self.seen.get(tp)
        if seen is not None:
            return seen.last_offset + 1
        return self.start_positions.get(tp)

    def note_start_position(self, tp: str, position: int) -> None:
        """Where reading ``tp`` started, for a partition that has delivered nothing yet."""
        self.start_positions[tp] = position

    def forget_start_positions(self) -> None:
        """After a rebalance, positions must be asked again."""
        self.start_positions.clear()

    def step_report(self, tps: set[str]) -> dict[str, Any]:
        """Progress of the partitions a routing step just read (all active)."""
        return {"tps": {tp: [self.seen[tp].max_event_time, self.seen[tp].last_event_wall_ms, False]
                        for tp in tps if tp in self.seen}}

    def full_report(self, backlog: Mapping[str, int | None], partition_counts: Mapping[str, int],
                    now_ms: int) -> dict[str, Any]:
        """Progress of every assigned input partition, with idleness.

        ``backlog`` maps each assigned partition to how many events remain
        unread (None when unknown); ``partition_counts`` gives every input
        topic's partition count, so readers know which partitions exist.
        """
        tps: dict[str, list[Any]] = {}
        for tp, remaining in backlog.items():
            seen = self.seen.get(tp)
            quiet = seen is None or now_ms - seen.last_event_wall_ms >= self.idle_after_ms
            idle = remaining == 0 and quiet
            tps[tp] = ([seen.max_event_time, seen.last_event_wall_ms, idle] if seen
                       else [None, None, idle])
        return {"sources": dict(partition_counts), "tps": tps}


@dataclass(slots=True)
class ProgressBoard:
    """One subject-agent partition's view of every input partition's progress."""

    idle_after_ms: int
    sources: dict[str, int] = field(default_factory=dict)
    tps: dict[str, list[Any]] = field(default_factory=dict)
    last_watermark: int | None = None
    # (wall ms, newest event time delivered by any partition) whenever the latter grew;
    # only the samples still needed. Not stored: a restored board waits one idle period.
    newest_history: deque[tuple[int, int]] = field(default_factory=deque, compare=False)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any], idle_after_ms: int) -> ProgressBoard:
        """Rebuild a board from :meth:`to_doc`'s form."""
        return cls(idle_after_ms, sources=dict(doc["sources"]),
                   tps={tp: list(known) for tp, known in doc["tps"].items()}, last_watermark=doc["watermark"])

    def to_doc(self) -> dict[str, Any]:
        """The board as JSON-ready data, stored with its partition's checkpoint."""
        return {"sources": self.sources, "tps": self.tps, "watermark": self.last_watermark}

    def update(self, report: Mapping[str, Any] | None) -> None:
        """Merge a progress report; newest event times only ever grow."""
        if not report:
            return
        if report.get("sources"):
            self.sources = dict(report["sources"])
        for tp, (max_time, wall, idle) in report.get("tps", {}).items():
            known = self.tps.get(tp)
            if known is None:
                self.tps[tp] = [max_time, wall, idle]
                continue
            if max_time is not None and (known[0] is None or max_time > known[0]):
                known[0] = max_time
            if wall is not None and (known[1] is None or wall > known[1]):
                known[1] = wall
            known[2] = idle

    def watermark(self, now_ms: int) -> int | None:
        """Stream time in epoch ms, or None while some input partition is unaccounted for."""
        self._note_newest(now_ms)
        computed = self._compute(now_ms)
        if computed is not None and (self.last_watermark is None or computed > self.last_watermark):
            self.last_watermark = computed
        return self.last_watermark

    def _note_newest(self, now_ms: int) -> None:
        newest = max((known[0] for known in self.tps.values() if known[0] is not None), default=None)
        history = self.newest_history
        if newest is not None and (not history or newest > history[-1][1]):
            history.append((now_ms, newest))
        # The newest sample at least one idle period old is the only old one still needed.
        horizon = now_ms - self.idle_after_ms
        while len(history) >= 2 and history[1][0] <= horizon:
            history.popleft()

    def _delivered_an_idle_period_ago(self, now_ms: int) -> int | None:
        """The newest event time any partition had delivered ``idle_after_ms`` ago, if known."""
        history = self.newest_history
        if history and history[0][0] <= now_ms - self.idle_after_ms:
            return history[0][1]
        return None

    def _compute(self, now_ms: int) -> int | None:
        if not self.sources:
            return None
        bounds: list[int] = []
        any_active = False
        never_delivered_idle = False
        for topic, count in self.sources.items():
            for partition in range(count):
                known = self.tps.get(tp_name(topic, partition))
                if known is None:
                    return None
                max_time, wall, idle = known
                if not idle:
                    if max_time is None:
                        return None
                    any_active = True
                    bounds.append(max_time)
                elif max_time is not None:
                    bounds.append(max_time + max(0, now_ms - wall))
                else:
                    never_delivered_idle = True
        seen = [k for k in self.tps.values() if k[0] is not None]
        if not seen:
            return None
        if never_delivered_idle:
            floor = self._delivered_an_idle_period_ago(now_ms)
            if floor is None:
                return None
            bounds.append(floor)
        if any_active:
            return min(bounds)
        newest = max(k[0] for k in seen)
        last_wall = max(k[1] for k in seen)
        return int(newest + max(0, now_ms - last_wall))
