"""What every subject kind shares: the processing context, the outcome, alert bookkeeping.

A subject (a shipment, an importer, a container) is processed one batch at a
time: ``process(state, events, context) -> (state, Outcome)``. Everything here
is pure and typed; the Faust agents only load state, call, and store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.risk.lanes import LanePolicy
from agents.rules.config import RuleBook
from agents.rules.findings import Finding
from agents.rules.reference_prices import PriceTable, shipped_price_table

# A routed event as the router forwards it: (kind, fields).
RoutedEvent = tuple[str, Mapping[str, Any]]

# How many decided trigger ids a subject remembers to ignore redeliveries.
DECIDED_MEMORY = 64


@dataclass(frozen=True, slots=True)
class Context:
    """What a batch is processed under: the rules in force and the stream time.

    ``watermark`` is the event time up to which every input partition has
    delivered (epoch ms), or None before any is known; timers fire on it.
    """

    rules: RuleBook
    watermark: int | None
    # Events this far behind stream time on arrival are late: they still update
    # what a subject knows, but no longer count in any window.
    lateness_ms: int = 0
    # When this subject partition first saw stream time: the start of its
    # observation, which history-based rules need to tell "new" from "unseen".
    stream_start: int | None = None
    # Stream time before this batch's own progress was merged. Lateness is
    # judged on it: a routed batch spans many events, and its progress report
    # covers the newest of them, which the oldest ones must not be measured by.
    arrival_watermark: int | None = None
    # Reference unit values by HS code, for UNDERVALUATION.
    prices: PriceTable = field(default_factory=shipped_price_table)
    # The offices' capacities (None: no lanes are decided).
    lane_policy: LanePolicy | None = None

    def is_late(self, event_time: int) -> bool:
        """Whether an event of this batch arrived too late to count in windows."""
        reference = self.arrival_watermark
        return reference is not None and event_time < reference - self.lateness_ms


@dataclass(frozen=True, slots=True)
class Forward:
    """An event a subject hands to another subject kind (e.g. container -> shipment)."""

    subject_kind: str
    key: str
    kind: str
    event: Mapping[str, Any]


@dataclass(slots=True)
class Outcome:
    """What processing one subject's batch produced."""

    findings: list[Finding] = field(default_factory=list)
    forwards: list[Forward] = field(default_factory=list)
    next_due: int | None = None
    late_events: int = 0
    # Per alert id, the lowest version its alert may be sent under (the version the deriving subject gave it).
    version_floor: dict[str, int] = field(default_factory=dict)
    # Selectivity records (``schemas/selectivity.avsc`` less ``decided_at``), one per declaration given a lane.
    lanes: list[dict[str, Any]] = field(default_factory=list)
    # Findings a history let go (moved to another) before it ever sent them: (version, rule, severity).
    withdrawn_unsent: list[tuple[int, str, str]] = field(default_factory=list)

    def wake_at(self, due: int | None) -> None:
        """Ask to be processed again once stream time reaches ``due``."""
        if due is not None and (self.next_due is None or due < self.next_due):
            self.next_due = due


def _event_order(item: RoutedEvent) -> tuple[int, str]:
    return item[1]["event_time"], item[1]["event_id"]


def by_event_time(events: Sequence[RoutedEvent]) -> Sequence[RoutedEvent]:
    """Events in event-time order (ties by event id), so a batch's arrival order never matters."""
    return events if len(events) < 2 else sorted(events, key=_event_order)


def remember(decided: list[str], trigger_id: str) -> None:
    """Append to a bounded memory of decided triggers."""
    decided.append(trigger_id)
    if len(decided) > DECIDED_MEMORY:
        del decided[: len(decided) - DECIDED_MEMORY]


def newer(time_a: int, id_a: str, time_b: int, id_b: str) -> bool:
    """True when event A is later than event B in event time (ties broken by id)."""
    return (time_a, id_a) > (time_b, id_b)


def stable_anchor(known: dict[str, list[str]], members: Sequence[str], first: str) -> str:
    """The id a cluster is raised under: an earlier cluster's it overlaps, else its first member's.

    Records the cluster's members under that anchor, so a cluster that grows
    (or gains an earlier member late) keeps the alert id it was raised with.
    """
    anchor = next((a for a, old in known.items() if set(old) & set(members)), first)
    known[anchor] = sorted(set(known.get(anchor, ())) | set(members))
    return anchor
