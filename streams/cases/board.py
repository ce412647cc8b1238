"""Every worker's copy of the cases: fed from ``cargo.alerts`` and ``cargo.case-actions``, watched by pages.

Where a page stands is a cursor of topic positions (the next offset of each
partition of both topics the board has read), the same on every worker and
after a restart: a page that reconnects anywhere with its last cursor gets
every case that changed after it, whole, so no row is lost and none doubled
(pages keep cases by id).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from streams.cases.fold import CaseFile, Snooze, case_id_of, case_key, snoozes_in, subject_of, summary

# Cases each worker keeps, the longest unchanged go first.
BOARD_CAPACITY = 2000
# Changes a page may fall behind before it is dropped (it reconnects with its cursor and catches up).
SUBSCRIBER_BACKLOG = 10_000

Position = tuple[str, int]  # ("a" alerts | "c" case actions, partition)


def format_cursor(positions: dict[Position, int]) -> str:
    """A cursor as text: ``a0=12.a1=40.c0=5``."""
    return ".".join(f"{feed}{partition}={offset}" for (feed, partition), offset in sorted(positions.items()))


def parse_cursor(text: str | None) -> dict[Position, int] | None:
    """A cursor from its text; ``None`` for anything else (the page then starts over)."""
    if not text:
        return None
    positions: dict[Position, int] = {}
    for part in text.split("."):
        feed, _, offset = part.partition("=")
        if feed[:1] not in ("a", "c") or not feed[1:].isdigit() or not offset.isdigit():
            return None
        positions[(feed[:1], int(feed[1:]))] = int(offset)
    return positions


class CaseBoard:
    """The cases a worker knows, kept current, with the pages that watch them."""

    def __init__(self, capacity: int = BOARD_CAPACITY) -> None:
        self.capacity = capacity
        self.files: OrderedDict[str, CaseFile] = OrderedDict()
        self.summaries: dict[str, dict[str, Any]] = {}
        # Where each case last changed, to answer "what changed after this cursor".
        self.changed_at: dict[str, dict[Position, int]] = {}
        self.positions: dict[Position, int] = {}
        self.snoozes: list[Snooze] = []
        self.subscribers: set[asyncio.Queue[str]] = set()
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def _file(self, case_id: str, key: str) -> CaseFile:
        case = self.files.get(case_id)
        if case is None:
            case = self.files[case_id] = CaseFile(case_id, key)
        return case

    def _changed(self, case: CaseFile, position: Position, offset: int) -> None:
        self.positions[position] = max(self.positions.get(position, 0), offset + 1)
        self.files.move_to_end(case.case_id)
        self.changed_at.setdefault(case.case_id, {})[position] = offset + 1
        self.summaries[case.case_id] = summary(case, self.snoozes)
        while len(self.files) > self.capacity:
            gone, _ = self.files.popitem(last=False)
            self.summaries.pop(gone, None)
            self.changed_at.pop(gone, None)
        for queue in list(self.subscribers):
            if queue.qsize() >= SUBSCRIBER_BACKLOG:
                self.subscribers.discard(queue)  # its page reconnects and catches up from its cursor
                continue
            queue.put_nowait(case.case_id)
        if case.alerts:
            for listener in self.listeners:
                listener(self.summaries[case.case_id])

    def offer_alert(self, alert: dict[str, Any], partition: int, offset: int) -> None:
        """Fold an alert (a decoded record of ``cargo.alerts``) into its case."""
        key = case_key(alert)
        case = self._file(case_id_of(key), key)
        if case.add_alert(alert):
            self._changed(case, ("a", partition), offset)
        else:
            self.positions[("a", partition)] = max(self.positions.get(("a", partition), 0), offset + 1)

    def offer_action(self, action: dict[str, Any], partition: int, offset: int) -> None:
        """Fold a recorded action (a decoded record of ``cargo.case-actions``) into its case."""
        case = self.files.get(action["case_id"])
        if case is None:  # its alerts are older than what this worker read: nothing to show it on
            case = self._file(action["case_id"], "")
        if not case.add_action(action):
            self.positions[("c", partition)] = max(self.positions.get(("c", partition), 0), offset + 1)
            return
        self._changed(case, ("c", partition), offset)
        if action["action"] == "SNOOZE":
            self.snoozes = [s for case_file in self.files.values() for s in snoozes_in(case_file.actions)]
            # Alerts of that subject and rule read before the snooze, in any case, are marked now.
            covered = [other for other in self.files.values()
                       if any(a["rule_id"] == action["rule_id"] and subject_of(a) == action["subject"]
                              for a in other.alerts.values())]
            for other in covered:
                self._changed(other, ("c", partition), offset)

    def get(self, case_id: str) -> dict[str, Any] | None:
        """A case's summary, if the board has it with alerts."""
        found = self.summaries.get(case_id)
        return found if found is not None and found["alert_ids"] else None

    def alerts_of(self, case_id: str) -> list[dict[str, Any]]:
        """The newest version of each of a case's alerts, oldest event first."""
        case = self.files.get(case_id)
        return sorted(case.alerts.values(), key=lambda a: a["event_time"]) if case else []

    def actions_of(self, case_id: str) -> list[dict[str, Any]]:
        """A case's recorded actions in order (its audit trail)."""
        case = self.files.get(case_id)
        return list(case.actions) if case else []

    def changed_after(self, cursor: dict[Position, int] | None) -> list[dict[str, Any]]:
        """The cases (with alerts) that changed after ``cursor``: all of them when there is none."""
        found = []
        for case_id in self.files:
            case = self.get(case_id)
            if case is None:
                continue
            if cursor is None or any(offset > cursor.get(position, 0)
                                     for position, offset in self.changed_at.get(case_id, {}).items()):
                found.append(case)
        return found

    def subscribe(self) -> asyncio.Queue[str]:
        """A queue of the ids of cases as they change, for one page."""
        queue: asyncio.Queue[str] = asyncio.Queue()
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        """Stop telling a page about changes."""
        self.subscribers.discard(queue)
