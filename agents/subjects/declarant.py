"""The declarant subject (key: ``declarant_id``): what a declarant files, over days and weeks.

Rules: AMENDMENT_CHURN and DECLARANT_SURGE. Declaration versions are judged
once stream time has passed them, in event-time order, so a replay at any
speed finds the same churn and the same surges. A version already late on
arrival (older than stream time less the allowed lateness) is kept, but
counts in no window.

A platform files thousands of declarations a day and this state remembers
each of them for eight days, so it is stored in parts: a small head (daily
counts, what waits for stream time, the churn seen, the clusters raised)
and one segment per hour of event time holding the declarations first seen
in that hour. A checkpoint rewrites the head and the segments that changed,
not eight days of declarations (measured: a platform's state had grown to
4 MB, re-encoded and re-written every second). An hour holds at most
``SEGMENT_MAX_DECLARATIONS`` per segment; more go to further parts of the
hour (ids ``hour.1``, ``hour.2``, ...): a platform filing 2,150 an hour had
made a 1 MB segment, at the broker's default message limit.

Segments are written before their head. A crash between the two leaves a
head older than its segments; every version carries the head ``epoch`` it
was recorded in, so on loading, versions newer than the head are counted
and queued again (``load``), and nothing is counted twice or lost. A
version-1 state (one document) is read too and rewritten in segments.

Serialized form, version 2. Head: ``{"declarant_id": str, "pending":
[[event time, declaration_id, segment]], "changes": {declaration_id:
[[event_id, event time, office, kind, before, after]]}, "daily": {UTC day
number: filings}, "churn_clusters": {anchor: [event_id]}, "surge_clusters":
{anchor: [declaration_id]}, "surge_sent": {anchor: declarations sent}, "surge_held":
{anchor: [first, last filing time]}, "pruned_day": int, "raised": {alert_id:
[version, digest]}, "epoch": int, "segments": [segment], "v": 2}``.
Segment (an hour number, or ``hour.part``): ``{declaration_id: {"day": UTC day counted,
"epoch": int, "versions": [VersionRecord], "filing": [event time,
event_id, office_code] | null}}``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, cast

from agents.rules import amendment_churn, declarant_surge
from agents.rules.amendment_churn import Change, Version
from agents.rules.declarant_surge import Filing, day_of
from agents.subjects.common import Context, Outcome, RoutedEvent, by_event_time, stable_anchor
from agents.subjects.segments import Segments, first_with_room, segment_order, span_of

STATE_VERSION = 2
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
# One segment per hour of event time: a checkpoint rewrites the hours that got versions.
SEGMENT_MS = HOUR_MS
# Some 500 bytes each as stored: a full segment is about a quarter of the broker's 1 MiB limit,
# room for declarations amended many times.
SEGMENT_MAX_DECLARATIONS = 500
# Hours of segments before the newest kept in memory between batches (the rest read back
# when an amendment, a surge or a late version needs them).
KEEP_LOADED_HOURS = 1


class VersionRecord(TypedDict):
    """One version of a declaration as filed, and the head epoch it was recorded in."""

    event_id: str
    event_time: int
    action: str
    value_usd: float
    office_code: str
    late: bool
    epoch: int


class DeclarationRecord(TypedDict):
    """What the declarant keeps of one declaration."""

    day: int
    epoch: int
    versions: list[VersionRecord]
    filing: list[Any] | None


Segment = dict[str, DeclarationRecord]


@dataclass
class DeclarantState:
    """A declarant's recent declarations (in hour segments), its daily filing counts and the clusters raised."""

    declarant_id: str
    pending: list[list[Any]] = field(default_factory=list)
    changes: dict[str, list[list[Any]]] = field(default_factory=dict)
    daily: dict[str, int] = field(default_factory=dict)
    churn_clusters: dict[str, list[str]] = field(default_factory=dict)
    surge_clusters: dict[str, list[str]] = field(default_factory=dict)
    # Per surge anchor: the declarations its last sent version held.
    surge_sent: dict[str, int] = field(default_factory=dict)
    # Surges grown too little to be sent again yet: [first, last filing time] per anchor,
    # judged again once stream time closes them (``declarant_surge.closes_at``).
    surge_held: dict[str, list[int]] = field(default_factory=dict)
    pruned_day: int = 0
    raised: dict[str, list[Any]] = field(default_factory=dict)
    epoch: int = 0
    # Not in the head: stored one per key, rewritten only when they change, in memory
    # only while recent (``take_dirty_segments``); the others are read back when needed.
    segments: Segments[Segment] = field(default_factory=Segments)
    dirty_segments: set[str] = field(default_factory=set)
    # Not stored: which segment holds each declaration, rebuilt on loading. Looking
    # through ~200 hour segments for every new declaration had been 40 % of this kind.
    segment_of: dict[str, str] = field(default_factory=dict)
    # Not stored: the declarations by the hour they were filed in, rebuilt on loading. A surge
    # judged live (a batch or two per declarant each time stream time moves) had looked
    # through all of a platform's eight days of declarations for the two days near its filings.
    filed_in_hour: dict[int, set[str]] = field(default_factory=dict)

    def filings_between(self, first_day: int, last_day: int) -> int:
        """Declarations first filed on days ``first_day`` to ``last_day`` (inclusive)."""
        return sum(count for day, count in self.daily.items() if first_day <= int(day) <= last_day)

    def count_filing(self, day: int) -> None:
        """Count a newly seen declaration on its UTC day."""
        self.daily[str(day)] = self.daily.get(str(day), 0) + 1

    def find(self, declaration_id: str) -> tuple[str, DeclarationRecord] | None:
        """The segment and record of a declaration, if it is remembered."""
        segment_id = self.segment_of.get(declaration_id)
        return None if segment_id is None else (segment_id, self.segments[segment_id][declaration_id])

    def segment_for_new(self, event_time: int) -> str:
        """The segment a declaration first seen at ``event_time`` joins: its hour's first part with room."""
        return first_with_room(self.segments, event_time // SEGMENT_MS, SEGMENT_MAX_DECLARATIONS)

    def add(self, segment_id: str, declaration_id: str, record: DeclarationRecord) -> None:
        """Remember a declaration in a segment."""
        self.segments.setdefault(segment_id, {})[declaration_id] = record
        self.segment_of[declaration_id] = segment_id
        self._file(declaration_id, record)

    def add_segment(self, segment_id: str, segment: Segment) -> None:
        """Remember a whole stored segment."""
        self.segments[segment_id] = segment
        for declaration_id, record in segment.items():
            self.segment_of[declaration_id] = segment_id
            self._file(declaration_id, record)

    def set_filing(self, declaration_id: str, record: DeclarationRecord, filing: list[Any]) -> None:
        """Record a declaration's settled filing ([event time, event_id, office_code])."""
        self._unfile(declaration_id, record)
        record["filing"] = filing
        self._file(declaration_id, record)

    def forget(self, segment_id: str, declaration_id: str) -> None:
        """Drop a declaration from its segment and the indexes."""
        self._unfile(declaration_id, self.segments[segment_id].pop(declaration_id))
        del self.segment_of[declaration_id]
        self.changes.pop(declaration_id, None)

    def _file(self, declaration_id: str, record: DeclarationRecord) -> None:
        if record["filing"] is not None:
            self.filed_in_hour.setdefault(record["filing"][0] // HOUR_MS, set()).add(declaration_id)

    def _unfile(self, declaration_id: str, record: DeclarationRecord) -> None:
        if record["filing"] is not None:
            hour = record["filing"][0] // HOUR_MS
            filed = self.filed_in_hour[hour]
            filed.discard(declaration_id)
            if not filed:
                del self.filed_in_hour[hour]

    def filings_between_times(self, after: int, before: int) -> list[Filing]:
        """The settled filings made strictly between two event times."""
        found = []
        for hour in range(after // HOUR_MS, before // HOUR_MS + 1):
            for declaration_id in self.filed_in_hour.get(hour, ()):
                f = self.segments[self.segment_of[declaration_id]][declaration_id]["filing"]
                if f is not None and after < f[0] < before:
                    found.append(Filing(declaration_id, f[1], f[0], f[2]))
        return found


def head(state: DeclarantState) -> dict[str, Any]:
    """The serialized head: everything but the segments, which are listed by id."""
    return {"declarant_id": state.declarant_id, "pending": state.pending, "changes": state.changes,
            "daily": state.daily, "churn_clusters": state.churn_clusters, "surge_clusters": state.surge_clusters,
            "surge_sent": state.surge_sent, "surge_held": state.surge_held,
            "pruned_day": state.pruned_day, "raised": state.raised, "epoch": state.epoch,
            "segments": sorted(state.segments, key=segment_order), "v": STATE_VERSION}


def load(doc: dict[str, Any], read_segment: Callable[[str], Any]) -> DeclarantState:
    """Rebuild from a head and its segments (takes ownership of both).

    Versions recorded after the head was written (a crash between writing
    the segments and the head) are counted and queued again here.
    """
    if doc.get("v") == 1:
        return from_v1(doc)
    if doc.get("v") != STATE_VERSION:
        raise ValueError(f"declarant state version {doc.get('v')!r} is neither 1 nor {STATE_VERSION}")
    segment_ids = doc.pop("segments")
    del doc["v"]
    state = DeclarantState(**doc, segments=Segments(read_segment))
    for segment_id in segment_ids:
        segment = read_segment(segment_id)
        if segment:
            state.add_segment(segment_id, segment)
    newest = state.epoch
    for segment_id, segment in state.segments.items():
        for declaration_id, record in segment.items():
            if record["epoch"] > state.epoch:
                state.count_filing(record["day"])
            for version in record["versions"]:
                newest = max(newest, version["epoch"])
                if version["epoch"] > state.epoch:
                    state.pending.append([version["event_time"], declaration_id, segment_id])
    state.epoch = newest
    return state


def from_v1(doc: dict[str, Any]) -> DeclarantState:
    """Rebuild a version-1 state (every declaration in one document) in segments.

    Each declaration goes to the segment of its earliest version; every
    segment is dirty, so the first checkpoint writes them before the new head.
    """
    state = DeclarantState(
        declarant_id=doc["declarant_id"], changes=doc["changes"], daily=doc["daily"],
        churn_clusters=doc["churn_clusters"], surge_clusters=doc["surge_clusters"],
        pruned_day=doc["pruned_day"], raised=doc["raised"])
    for declaration_id, versions in doc["versions"].items():
        first_time = min(version["event_time"] for version in versions)
        segment_id = state.segment_for_new(first_time)
        state.add(segment_id, declaration_id, {
            "day": day_of(first_time), "epoch": 0,
            "versions": [cast(VersionRecord, {**version, "epoch": 0}) for version in versions],
            "filing": doc["filings"].get(declaration_id)})
    state.pending = [[time, declaration_id, state.segment_of[declaration_id]]
                     for time, declaration_id in doc["pending"]]
    state.dirty_segments.update(state.segments)
    return state


def take_dirty_segments(state: DeclarantState,
                        read_back: Callable[[str], Segment | None] | None = None) -> dict[str, Segment | None]:
    """The segments changed since last asked (None: emptied, to be deleted).

    ``read_back`` reads a segment once handed over (staged, then stored):
    given it, the state keeps the hours new declarations join and settle in,
    and reads the older ones back when it needs them.
    """
    dirty = {segment_id: state.segments.get(segment_id) for segment_id in state.dirty_segments}
    state.dirty_segments.clear()
    if read_back is not None and state.segments.reader is None:
        state.segments.reader = read_back
    state.segments.release(KEEP_LOADED_HOURS)
    return dirty


def settle(state: DeclarantState, declaration_id: str, record: DeclarationRecord,
           watermark: int) -> tuple[bool, bool]:
    """Refresh a declaration's settled filing and changes; return (new filing, changes differ)."""
    settled = sorted((r for r in record["versions"] if r["event_time"] <= watermark and not r["late"]),
                     key=lambda r: (r["event_time"], r["event_id"]))
    if not settled:
        return False, False
    first = settled[0]
    filing = [first["event_time"], first["event_id"], first["office_code"]]
    new_filing = record["filing"] != filing
    if new_filing:
        state.set_filing(declaration_id, record, filing)
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


def record_version(state: DeclarantState, event: RoutedEvent, context: Context, outcome: Outcome) -> None:
    """Keep one routed declaration version (a redelivery changes nothing) and queue it for stream time."""
    fields = event[1]
    declaration_id = fields["declaration_id"]
    found = state.find(declaration_id)
    if found is None:
        segment_id = state.segment_for_new(fields["event_time"])
        record: DeclarationRecord = {"day": day_of(fields["event_time"]), "epoch": state.epoch,
                                     "versions": [], "filing": None}
        state.add(segment_id, declaration_id, record)
        state.count_filing(record["day"])
    else:
        segment_id, record = found
        if any(v["event_id"] == fields["event_id"] for v in record["versions"]):
            return  # a redelivery
    late = context.is_late(fields["event_time"])
    outcome.late_events += late
    record["versions"].append({"event_id": fields["event_id"], "event_time": fields["event_time"],
                               "action": fields["action"], "value_usd": float(fields["total_value_usd"]),
                               "office_code": fields["office_code"], "late": late, "epoch": state.epoch})
    state.dirty_segments.add(segment_id)
    state.pending.append([fields["event_time"], declaration_id, segment_id])


def process(state: DeclarantState | None, key: str, events: Sequence[RoutedEvent],
            context: Context) -> tuple[DeclarantState, Outcome]:
    """Record declaration versions; look for churn and surges among the settled ones."""
    state = state if state is not None else DeclarantState(declarant_id=key)
    outcome = Outcome()
    watermark = context.watermark
    versions = [event for event in by_event_time(events) if event[0] == "decl"]
    if versions:
        state.epoch += 1  # versions of this call are newer than any head written before it
    for event in versions:
        record_version(state, event, context, outcome)

    touched: dict[str, str] = {}
    if watermark is not None:
        still_pending = []
        for entry in state.pending:
            if entry[0] <= watermark:
                touched[entry[1]] = entry[2]
            else:
                still_pending.append(entry)
        state.pending = still_pending
    for entry in state.pending:
        outcome.wake_at(entry[0])
    if watermark is None:
        return state, outcome
    for anchor, span in list(state.surge_held.items()):
        closes = declarant_surge.closes_at(span[1], context.rules, context.lateness_ms)
        if closes <= watermark:
            del state.surge_held[anchor]
            judge_surge(state, key, span[0], span[1], context, outcome)
        else:
            outcome.wake_at(closes)
    if not touched:
        return state, outcome

    new_filings: list[int] = []
    churn_moved = False
    for declaration_id in sorted(touched):
        segment_id = touched[declaration_id]
        record = state.segments.get(segment_id, {}).get(declaration_id)
        if record is None:
            continue  # forgotten since it was queued
        new_filing, changed = settle(state, declaration_id, record, watermark)
        if new_filing:
            state.dirty_segments.add(segment_id)
            new_filings.append(record["filing"][0])  # type: ignore[index]  # settle set it
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
    if start is None:
        return
    judged_from = start + int(config.number("warmup_days") * DAY_MS)
    if latest < judged_from:
        return
    # A window holding a new filing holds at most the filings of the days it can touch
    # (the daily counts, cheap to add up): too few, or too few for the lowest baseline of
    # the days it can start on, and no window surges. Busy regular brokers stop here.
    # A window is judged only if it starts after the warm-up: the first day observed,
    # whose baseline is empty, must not open the bound for a day (it had made a platform's
    # every batch look for clusters among all its filings on the day after the warm-up).
    first_day, last_day = day_of(earliest - span), day_of(latest)
    bound = state.filings_between(first_day, day_of(latest + span))
    least_mean = min(declarant_surge.trailing_mean(day, state.filings_between, start, rules)
                     for day in range(max(first_day, day_of(judged_from)), last_day + 1))
    if bound < config.number("min_declarations") or bound <= config.number("ratio") * least_mean:
        return
    nearby = state.filings_between_times(earliest - span, latest + span)
    for cluster, mean in declarant_surge.find_clusters(nearby, state.filings_between, context.stream_start, rules):
        anchor = stable_anchor(state.surge_clusters, [f.declaration_id for f in cluster], cluster[0].declaration_id)
        finding = declarant_surge.finding_for(key, cluster, mean, anchor, rules)
        if finding is None:
            continue
        first, last = cluster[0].event_time, cluster[-1].event_time
        closes = declarant_surge.closes_at(last, rules, context.lateness_ms)
        if not declarant_surge.worth_sending(len(cluster), state.surge_sent.get(anchor), closes, context.watermark):
            held = state.surge_held.setdefault(anchor, [first, last])
            held[:] = [min(held[0], first), max(held[1], last)]
            outcome.wake_at(closes)
            continue
        state.surge_held.pop(anchor, None)
        state.surge_sent[anchor] = len(cluster)
        outcome.findings.append(finding)


def forget_old(state: DeclarantState, watermark: int, context: Context) -> None:
    """Once a day: drop what no churn window, surge window or baseline can reach any more."""
    rules = context.rules
    churn_days = rules[amendment_churn.RULE_ID].number("window_days")
    surge_days = rules[declarant_surge.RULE_ID].number("window_hours") / 24
    baseline_days = rules[declarant_surge.RULE_ID].number("baseline_days")
    horizon = watermark - int((max(churn_days, surge_days) + 1) * DAY_MS)
    # A segment holds declarations first seen in its hour: none of a later hour is this old.
    for segment_id in [s for s in state.segments if span_of(s) * SEGMENT_MS < horizon]:
        segment = state.segments[segment_id]
        old = [d for d, record in segment.items() if max(v["event_time"] for v in record["versions"]) < horizon]
        for declaration_id in old:
            state.forget(segment_id, declaration_id)
        if old:
            state.dirty_segments.add(segment_id)
        if not segment:
            del state.segments[segment_id]
    oldest_day = day_of(watermark) - int(baseline_days) - 2
    for day in [d for d in state.daily if int(d) < oldest_day]:
        del state.daily[day]
    live_events = {c[0] for records in state.changes.values() for c in records}
    live_filings = set().union(*state.filed_in_hour.values())
    for clusters, alive in ((state.churn_clusters, live_events), (state.surge_clusters, live_filings)):
        for anchor in [a for a, members in clusters.items() if not alive & set(members)]:
            del clusters[anchor]
    for anchor in set(state.surge_sent).difference(state.surge_clusters):
        del state.surge_sent[anchor]
    for anchor in set(state.surge_held).difference(state.surge_clusters):
        del state.surge_held[anchor]
    state.pruned_day = day_of(watermark)


def is_empty(state: DeclarantState) -> bool:
    """True when nothing is remembered."""
    return not (state.segments or state.daily or state.raised)
