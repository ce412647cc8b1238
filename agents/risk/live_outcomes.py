"""Inspection outcomes reported since the model learned, joined to the declarations they judge.

An inspection result (``cargo.inspection-results``) names its declaration by
id alone. What the risk features need of it, its categories, the office
that sent it for inspection publishes on ``cargo.inspected-declarations``
when it decides a RED or YELLOW lane. Every worker follows both topics and
joins them here, in whichever order they come; a later result for a
declaration supersedes an earlier one.

Scoring reads ``history_between(after, before)``: the outcomes inspected
after the model's ``knows_until`` (the model's own history holds the
earlier ones) and strictly before the scored declaration's event time, so
no outcome from a declaration's future reaches its features. The window
moves with each declaration scored; moving it costs the outcomes it passes.

Bounded: a declaration sent for inspection, or a result whose declaration
is not known yet, is kept ``join_window_ms`` behind the newest one seen;
joined outcomes until a model that learned past them is in force.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field

from agents.risk.features import OutcomeHistory


@dataclass(frozen=True, slots=True)
class Judged:
    """One declaration's newest inspection outcome, with its categories."""

    event_time: int
    categories: Mapping[str, str]
    inspected_at: int
    infraction: bool


@dataclass
class LiveOutcomes:
    """The join of inspected declarations and results, and the outcome counts of a moving time window."""

    join_window_ms: int
    # declaration_id -> (event time, categories): sent for inspection, no result yet.
    sent: dict[str, tuple[int, Mapping[str, str]]] = field(default_factory=dict)
    # declaration_id -> (inspected at, infraction): a result whose declaration is not known yet.
    waiting: dict[str, tuple[int, bool]] = field(default_factory=dict)
    judged: dict[str, Judged] = field(default_factory=dict)
    # (inspected at, declaration_id) of the judged inspected after ``after``, in time order;
    # the first ``counted`` of them are in ``window``.
    timeline: list[tuple[int, str]] = field(default_factory=list)
    counted: int = 0
    window: OutcomeHistory = field(default_factory=OutcomeHistory)
    after: int | None = None
    newest_sent: int = 0
    newest_result: int = 0
    next_forget_sent: int = 0
    next_forget_waiting: int = 0

    def add_sent(self, declaration_id: str, event_time: int, categories: Mapping[str, str]) -> None:
        """A declaration an office sent for inspection; joins its result if that came first."""
        self.newest_sent = max(self.newest_sent, event_time)
        result = self.waiting.pop(declaration_id, None)
        if result is not None:
            self._judge(declaration_id, Judged(event_time, categories, *result))
        elif declaration_id in self.judged:
            return  # a lane restated: its result is in already
        else:
            self.sent[declaration_id] = (event_time, categories)
        self._forget_old()

    def add_result(self, declaration_id: str, inspected_at: int, infraction: bool) -> None:
        """An inspection result; counted once its declaration is known, in place of any earlier one."""
        self.newest_result = max(self.newest_result, inspected_at)
        known = self.sent.pop(declaration_id, None)
        earlier = self.judged.get(declaration_id)
        if known is not None:
            self._judge(declaration_id, Judged(*known, inspected_at, infraction))
        elif earlier is not None:
            self._judge(declaration_id, Judged(earlier.event_time, earlier.categories, inspected_at, infraction))
        else:
            self.waiting[declaration_id] = (inspected_at, infraction)
        self._forget_old()

    def history_between(self, after: int, before: int) -> OutcomeHistory:
        """The counts of the outcomes inspected after ``after`` and before ``before`` (both exclusive).

        The returned history is this object's own window: read it before the next call.
        """
        if after != self.after:
            self._restart(after)
        timeline = self.timeline
        while self.counted < len(timeline) and timeline[self.counted][0] < before:
            self._count(timeline[self.counted][1], 1)
            self.counted += 1
        while self.counted > 0 and timeline[self.counted - 1][0] >= before:
            self.counted -= 1
            self._count(timeline[self.counted][1], -1)
        return self.window

    @property
    def outcomes(self) -> int:
        """Joined outcomes held (inspected after the model in force learned)."""
        return len(self.timeline)

    def _judge(self, declaration_id: str, judged: Judged) -> None:
        self._drop(declaration_id)
        self.judged[declaration_id] = judged
        if self.after is None or judged.inspected_at <= self.after:
            return
        place = (judged.inspected_at, declaration_id)
        index = bisect.bisect_left(self.timeline, place)
        self.timeline.insert(index, place)
        if index < self.counted:
            self._count(declaration_id, 1)
            self.counted += 1

    def _drop(self, declaration_id: str) -> None:
        """Take a superseded outcome out of the timeline (and the window, if counted there)."""
        earlier = self.judged.pop(declaration_id, None)
        if earlier is None or self.after is None or earlier.inspected_at <= self.after:
            return
        index = bisect.bisect_left(self.timeline, (earlier.inspected_at, declaration_id))
        if index < self.counted:
            self._count_judged(earlier, -1)
            self.counted -= 1
        del self.timeline[index]

    def _restart(self, after: int) -> None:
        """A model that learned up to ``after`` came in force: count only the outcomes it does not know.

        Those it knows are let go; their declarations wait again (within the
        join window) for a result that supersedes them. A model that knows
        less than the one before it (a rollback) does not get them back: the
        worker reads them again when it restarts.
        """
        self.after = after
        for declaration_id in [d for d, judged in self.judged.items() if judged.inspected_at <= after]:
            judged = self.judged.pop(declaration_id)
            self.sent[declaration_id] = (judged.event_time, judged.categories)
        self.timeline = sorted((judged.inspected_at, d) for d, judged in self.judged.items())
        self.counted = 0
        self.window = OutcomeHistory()

    def _count(self, declaration_id: str, weight: int) -> None:
        self._count_judged(self.judged[declaration_id], weight)

    def _count_judged(self, judged: Judged, weight: int) -> None:
        self.window.count(judged.categories, judged.infraction, weight)

    def _forget_old(self) -> None:
        """Forget the declarations no result came for, and the results no declaration came for, in time.

        A pass over each every sixteenth of the window: nothing is kept more than 1/16 longer.
        """
        step = self.join_window_ms // 16
        if self.newest_sent >= self.next_forget_sent:
            self.next_forget_sent = self.newest_sent + step
            horizon = self.newest_sent - self.join_window_ms
            self.sent = {d: entry for d, entry in self.sent.items() if entry[0] >= horizon}
        if self.newest_result >= self.next_forget_waiting:
            self.next_forget_waiting = self.newest_result + step
            horizon = self.newest_result - self.join_window_ms
            self.waiting = {d: entry for d, entry in self.waiting.items() if entry[0] >= horizon}
