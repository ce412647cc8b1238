"""The declarant subject (key: ``declarant_id``): what a declarant files, over days and weeks.

Rules: AMENDMENT_CHURN and DECLARANT_SURGE. Declaration versions are judged
once stream time has passed them, in event-time order, so a replay at any
speed finds the same churn and the same surges. A version already late on
arrival (older than stream time less the allowed lateness) is kept, but
counts in no window.

A busy broker files hundreds of declarations a day, so the work per event
is kept independent of that history: settled filings and changes are kept
ready per declaration, only declarations with newly settled versions are
looked at again, and a surge is searched for only when the number of recent
filings could possibly make one.

Serialized form: the dataclass fields as a JSON object, version in ``v``
(currently 1): ``{"declarant_id": str, "versions": {declaration_id:
[VersionRecord]}, "pending": [[event time, declaration_id]], "filings":
{declaration_id: [event time, event_id, office_code]}, "changes":
{declaration_id: [[event_id, event time, office, kind, before, after]]},
"daily": {UTC day number: filings}, "churn_clusters": {anchor: [event_id]},
"surge_clusters": {anchor: [declaration_id]}, "pruned_day": int, "raised":
{alert_id: [version, digest]}, "v": 1}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from agents.rules import amendment_churn, declarant_surge
from agents.rules.amendment_churn import Change, Version
from agents.rules.declarant_surge import Filing, day_of
from agents.subjects.common import Context, Outcome, RoutedEvent, by_event_time, stable_anchor

STATE_VERSION = 1
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


class VersionRecord(TypedDict):
    """One version of a declaration as filed."""

    event_id: str
    event_time: int
    action: str
    value_usd: float
    office_code: str
    late: bool


@dataclass
class DeclarantState:
    """A declarant's recent declarations, its daily filing counts and the clusters raised."""

    declarant_id: str
    versions: dict[str, list[VersionRecord]] = field(default_factory=dict)
    pending: list[list[Any]] = field(default_factory=list)
    filings: dict[str, list[Any]] = field(default_factory=dict)
    changes: dict[str, list[list[Any]]] = field(default_factory=dict)
    daily: dict[str, int] = field(default_factory=dict)
    churn_clusters: dict[str, list[str]] = field(default_factory=dict)
    surge_clusters: dict[str, list[str]] = field(default_factory=dict)
    pruned_day: int = 0
    raised: dict[str, list[Any]] = field(default_factory=dict)
    v: int = STATE_VERSION

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> DeclarantState:
        """Rebuild from the serialized form (takes ownership of ``doc``)."""
        if doc.get("v") != STATE_VERSION:
            raise ValueError(f"declarant state version {doc.get('v')!r} is not {STATE_VERSION}")
        return cls(**doc)

    def filings_between(self, first_day: int, last_day: int) -> int:
        """Declarations first filed on days ``first_day`` to ``last_day`` (inclusive)."""
        return sum(count for day, count in self.daily.items() if first_day <= int(day) <= last_day)


def settle(state: DeclarantState, declaration_id: str, watermark: int) -> tuple[bool, bool]:
    """Refresh a declaration's settled filing and changes; return (new filing, changes differ)."""
    settled = sorted((r for r in state.versions.get(declaration_id, ())
                      if r["event_time"] <= watermark and not r["late"]),
                     key=lambda r: (r["event_time"], r["event_id"]))
    if not settled:
        return False, False
    first = settled[0]
    filing = [first["event_time"], first["event_id"], first["office_code"]]
    new_filing = state.filings.get(declaration_id) != filing
    state.filings[declaration_id] = filing
    changes = [[c.event_id, c.event_time, c.office_code, c.kind, c.value_before, c.value_after]
               for c in amendment_churn.changes_of(declaration_id, [
                   Version(r["event_id"], r["event_time"], r["action"], r["value_usd"], r["office_code"])
                   for r in settled])]
    changed = state.changes.get(declaration_id, []) != changes
    if changes:
        state.changes[declaration_id] = changes
    else:
        state.changes.pop(declaration_id, None)
    return new_filing, changed


def process(state: DeclarantState | None, key: str, events: Sequence[RoutedEvent],
            context: Context) -> tuple[DeclarantState, Outcome]:
    """Record declaration versions; look for churn and surges among the settled ones."""
    state = state if state is not None else DeclarantState(declarant_id=key)
    outcome = Outcome()
    watermark = context.watermark
    touched: set[str] = set()
    for kind, event in by_event_time(events):
        if kind != "decl":
            continue
        declaration_id = event["declaration_id"]
        versions = state.versions.setdefault(declaration_id, [])
        if any(v["event_id"] == event["event_id"] for v in versions):
            continue  # a redelivery
        if not versions:
            day = str(day_of(event["event_time"]))
            state.daily[day] = state.daily.get(day, 0) + 1
        late = context.is_late(event["event_time"])
        outcome.late_events += late
        versions.append({"event_id": event["event_id"], "event_time": event["event_time"],
                         "action": event["action"], "value_usd": float(event["total_value_usd"]),
                         "office_code": event["office_code"], "late": late})
        state.pending.append([event["event_time"], declaration_id])

    if watermark is not None:
        still_pending = []
        for time, declaration_id in state.pending:
            if time <= watermark:
                touched.add(declaration_id)
            else:
                still_pending.append([time, declaration_id])
        state.pending = still_pending
    for time, _declaration_id in state.pending:
        outcome.wake_at(time)
    if watermark is None or not touched:
        return state, outcome

    new_filings: list[int] = []
    churn_moved = False
    for declaration_id in sorted(touched):
        new_filing, changed = settle(state, declaration_id, watermark)
        if new_filing:
            new_filings.append(state.filings[declaration_id][0])
        churn_moved |= changed
    rules = context.rules
    if churn_moved:
        judge_churn(state, key, rules, outcome)
    if new_filings:
        judge_surge(state, key, min(new_filings), max(new_filings), context, outcome)
    if day_of(watermark) > state.pruned_day:
        forget_old(state, watermark, context)
    return state, outcome


def judge_churn(state: DeclarantState, key: str, rules: Any, outcome: Outcome) -> None:
    """Look for churn clusters among all settled changes (there are few)."""
    changes = [Change(declaration_id, c[0], c[1], c[2], c[3], c[4], c[5])
               for declaration_id, records in state.changes.items() for c in records]
    for cluster in amendment_churn.find_clusters(changes, rules):
        anchor = stable_anchor(state.churn_clusters, [c.event_id for c in cluster], cluster[0].event_id)
        finding = amendment_churn.finding_for(key, cluster, anchor, rules)
        if finding is not None:
            outcome.findings.append(finding)


def judge_surge(state: DeclarantState, key: str, earliest: int, latest: int, context: Context,
                outcome: Outcome) -> None:
    """Look for surging windows that contain a newly settled filing."""
    rules = context.rules
    config = rules[declarant_surge.RULE_ID]
    span = int(config.number("window_hours") * HOUR_MS)
    start = context.stream_start
    if start is None or latest < start + int(config.number("warmup_days") * DAY_MS):
        return
    # A window holding a new filing holds at most the filings of the days it can touch
    # (the daily counts, cheap to add up): too few, or too few for the lowest baseline of
    # the days it can start on, and no window surges. Busy regular brokers stop here.
    first_day, last_day = day_of(earliest - span), day_of(latest)
    bound = state.filings_between(first_day, day_of(latest + span))
    least_mean = min(declarant_surge.trailing_mean(day, state.filings_between, start, rules)
                     for day in range(first_day, last_day + 1))
    if bound < config.number("min_declarations") or bound <= config.number("ratio") * least_mean:
        return
    nearby = [Filing(declaration_id, f[1], f[0], f[2]) for declaration_id, f in state.filings.items()
              if earliest - span < f[0] < latest + span]
    for cluster, mean in declarant_surge.find_clusters(nearby, state.filings_between, context.stream_start, rules):
        anchor = stable_anchor(state.surge_clusters, [f.declaration_id for f in cluster], cluster[0].declaration_id)
        finding = declarant_surge.finding_for(key, cluster, mean, anchor, rules)
        if finding is not None:
            outcome.findings.append(finding)


def forget_old(state: DeclarantState, watermark: int, context: Context) -> None:
    """Once a day: drop what no churn window, surge window or baseline can reach any more."""
    rules = context.rules
    churn_days = rules[amendment_churn.RULE_ID].number("window_days")
    surge_days = rules[declarant_surge.RULE_ID].number("window_hours") / 24
    baseline_days = rules[declarant_surge.RULE_ID].number("baseline_days")
    horizon = watermark - int((max(churn_days, surge_days) + 1) * DAY_MS)
    for declaration_id in [d for d, versions in state.versions.items()
                           if max(v["event_time"] for v in versions) < horizon]:
        del state.versions[declaration_id]
        state.filings.pop(declaration_id, None)
        state.changes.pop(declaration_id, None)
    oldest_day = day_of(watermark) - int(baseline_days) - 2
    for day in [d for d in state.daily if int(d) < oldest_day]:
        del state.daily[day]
    live_events = {c[0] for records in state.changes.values() for c in records}
    for clusters, alive in ((state.churn_clusters, live_events), (state.surge_clusters, set(state.filings))):
        for anchor in [a for a, members in clusters.items() if not alive & set(members)]:
            del clusters[anchor]
    state.pruned_day = day_of(watermark)


def is_empty(state: DeclarantState) -> bool:
    """True when nothing is remembered."""
    return not (state.versions or state.daily or state.raised)
