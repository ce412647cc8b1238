"""The office subject (key: ``office_code``): the selectivity lane of every LODGED declaration.

The router scores each LODGED declaration with the risk model and sends it
here with its score and feature vector. Lanes are decided in event-time
order (ties by declaration id) once stream time has passed the
declaration, when every earlier one from any input partition is known: the
same file gets the same lanes at any replay speed and with any number of
workers (``agents.risk.lanes``). A RED lane keeps its feature vector under
``FEATURES_KEY`` for ``explain``, which the agent runs off the event loop:
TreeSHAP costs some 46 ms a declaration with the KCS model, so only the
declarations an officer inspects are explained, from the model that scored
them. A redelivered declaration is not decided twice.

A CRITICAL rule alert naming a declaration forces its lane RED, beyond the
capacity: scoring forwards each such alert here (``critical_forwards``, key
the alert's office). The risk decision is made as if there were no alert,
so the other lanes never depend on when an alert arrived; an alert that
arrives after the lane was decided restates it, RED with the alert ids,
under the same key. The last record of a declaration is therefore the same
whichever came first, except that a lane forced after its decision has no
reasons (its feature vector is gone; its alerts say why). Every RED and
YELLOW lane goes to ``cargo.inspected-declarations`` with its risk
categories, for the outcome of the inspection to be joined to
(``agents.risk.live_outcomes``); a GREEN lane keeps its categories as long
as its decision is remembered, so one forced RED later goes there too.

A busy office gets thousands of declarations an hour, each waiting here
with its feature vector until stream time passes it, then remembered for an
hour: stored whole, a 2,400-an-hour office had made a 0.8 MB record, and one
twice as busy would pass the broker's 1 MiB message limit. So the state is
stored in parts, like a declarant's: a small head (the lanes' recent
arrivals and scores, the CRITICAL alerts) and segments of
``SEGMENT_MS`` of event time holding the declarations of that span, at most
``SEGMENT_MAX_DECLARATIONS`` each (further ones go to parts ``span.1``,
...). Segments are written before their head; a crash between the two
leaves a head that has not counted the lanes decided since, and each
decision carries the head ``epoch`` it was made in, so ``load`` counts them
again and the next lanes are the ones an uninterrupted run would decide.

Serialized form, version 3. Head: ``{"office_code": str, "lanes":
OfficeLanes, "critical": {declaration_id: [newest alert event_time,
[alert_id, ...]]}, "raised": {}, "epoch": int, "segments": [segment id],
"v": 3}``. Segment: ``{declaration_id: {"t": event_time, "score": float,
"model": model_version, "epoch": int, and while it waits "features":
[float | null, ...] and "categories": {category: value} (kept once decided GREEN, until a CRITICAL
alert forces it RED), once decided "lane": the risk lane (null: unknown, from
version 1), "control": bool, "inspected": bool}}``. Versions 1 and 2 (one
document with ``pending`` and ``decided``) are read and rewritten in
segments.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from agents.risk.lanes import HOUR_MS, RED, YELLOW, Lane, OfficeLanes
from agents.rules.findings import Finding
from agents.subjects.common import Context, Forward, Outcome, RoutedEvent
from agents.subjects.routes import OFFICES
from agents.subjects.segments import first_with_room, segment_order

if TYPE_CHECKING:
    from agents.risk.model import RiskModel

STATE_VERSION = 3
# Where a RED lane's record keeps its feature vector until ``explain`` (never sent).
FEATURES_KEY = "_features"
# Marks a record that restates a lane already sent (forced RED after its decision): not a new decision.
RESTATED_KEY = "_restated"
# Where a RED or YELLOW lane's record carries its declaration's risk categories to
# ``cargo.inspected-declarations`` (never sent with the lane).
CATEGORIES_KEY = "_categories"
# The routed event kind of a CRITICAL alert forwarded by scoring.
CRITICAL_ALERT = "critical_alert"
# Decided declarations, and the CRITICAL alerts naming them, are remembered
# this long behind stream time (beyond the allowed lateness): a redelivery
# comes well within it, and so does an alert raised on the declaration itself.
# A decision is forgotten with its whole segment, so up to ``SEGMENT_MS`` later.
DECIDED_MEMORY_MS = HOUR_MS
# Ten minutes of event time a segment: a decision is forgotten at most that much after its hour.
SEGMENT_MS = 600_000
# A waiting declaration is some 950 bytes as stored (its feature vector and
# categories): a full segment is about a third of the broker's 1 MiB message limit.
SEGMENT_MAX_DECLARATIONS = 400

Entry = dict[str, Any]
Segment = dict[str, Entry]


@dataclass
class OfficeState:
    """One office's lanes so far, its declarations (waiting or decided) and the CRITICAL alerts."""

    office_code: str
    lanes: OfficeLanes = field(default_factory=OfficeLanes)
    critical: dict[str, list[Any]] = field(default_factory=dict)
    raised: dict[str, list[Any]] = field(default_factory=dict)
    epoch: int = 0
    # Not in the head: stored one per key, rewritten only when they change.
    segments: dict[str, Segment] = field(default_factory=dict)
    dirty_segments: set[str] = field(default_factory=set)
    # Not stored, rebuilt on loading: the segment of each declaration, and the
    # waiting ones as [event_time, declaration_id, segment id] in decision order.
    segment_of: dict[str, str] = field(default_factory=dict)
    pending: list[list[Any]] = field(default_factory=list)

    def segment_for_new(self, event_time: int) -> str:
        """The segment a declaration of ``event_time`` joins: its span's first part with room."""
        return first_with_room(self.segments, event_time // SEGMENT_MS, SEGMENT_MAX_DECLARATIONS)

    def add(self, declaration_id: str, entry: Entry) -> None:
        """Remember a declaration in its segment; one not yet decided waits."""
        segment_id = self.segment_for_new(entry["t"])
        self.segments.setdefault(segment_id, {})[declaration_id] = entry
        self.segment_of[declaration_id] = segment_id
        self.dirty_segments.add(segment_id)
        if "lane" not in entry:
            self.pending.append([entry["t"], declaration_id, segment_id])

    def entry(self, declaration_id: str) -> Entry | None:
        """What is remembered of a declaration."""
        segment_id = self.segment_of.get(declaration_id)
        return None if segment_id is None else self.segments[segment_id][declaration_id]


def head(state: OfficeState) -> dict[str, Any]:
    """The serialized head: everything but the segments, which are listed by id."""
    return {"office_code": state.office_code, "lanes": state.lanes, "critical": state.critical,
            "raised": state.raised, "epoch": state.epoch, "segments": sorted(state.segments, key=segment_order),
            "v": STATE_VERSION}


def take_dirty_segments(state: OfficeState,
                        _read_back: Callable[[str], Any] | None = None) -> dict[str, Segment | None]:
    """The segments changed since last asked (None: emptied, to be deleted); an office keeps all in memory."""
    dirty = {segment_id: state.segments.get(segment_id) for segment_id in state.dirty_segments}
    state.dirty_segments.clear()
    return dirty


def load(doc: dict[str, Any], read_segment: Callable[[str], Any]) -> OfficeState:
    """Rebuild from a head and its segments; count again the lanes decided after the head was written."""
    version = doc.get("v")
    if version in (1, 2):
        return _from_whole(doc)
    if version != STATE_VERSION:
        raise ValueError(f"office state version {version!r} is none of 1, 2, {STATE_VERSION}")
    state = OfficeState(doc["office_code"], OfficeLanes.from_doc(doc["lanes"]), doc["critical"], doc["raised"],
                        doc["epoch"])
    newer: list[tuple[int, str, Entry]] = []
    for segment_id in doc["segments"]:
        segment = read_segment(segment_id)
        if not segment:
            continue
        state.segments[segment_id] = segment
        for declaration_id, entry in segment.items():
            state.segment_of[declaration_id] = segment_id
            if "lane" not in entry:
                state.pending.append([entry["t"], declaration_id, segment_id])
            elif entry["epoch"] > state.epoch and entry["lane"] is not None:
                newer.append((entry["t"], declaration_id, entry))
    for event_time, _declaration_id, entry in sorted(newer, key=lambda item: (item[0], item[1])):
        state.lanes.count(event_time, entry["score"], entry["lane"])
    state.epoch = max([state.epoch, *(entry["epoch"] for _t, _d, entry in newer)])
    state.pending.sort(key=lambda item: (item[0], item[1]))
    return state


def _from_whole(doc: dict[str, Any]) -> OfficeState:
    """Rebuild a version-1 or -2 state (one document); every segment is dirty, written before the new head."""
    if doc["v"] == 1:
        # Only the time is known of what version 1 decided: enough to ignore a redelivery,
        # not to restate the lane for a later CRITICAL alert.
        decided = {d: [t, None, 0.0, "", False, False] for d, t in doc["decided"].items()}
        critical: dict[str, list[Any]] = {}
    else:
        decided, critical = doc["decided"], doc["critical"]
    state = OfficeState(doc["office_code"], OfficeLanes.from_doc(doc["lanes"]), critical, doc["raised"])
    for declaration_id, (event_time, lane, score, model_version, control, inspected) in decided.items():
        state.add(declaration_id, {"t": event_time, "score": score, "model": model_version, "epoch": 0,
                                   "lane": lane, "control": control, "inspected": inspected})
    for event_time, declaration_id, score, model_version, features in doc["pending"]:
        state.add(declaration_id, {"t": event_time, "score": score, "model": model_version, "epoch": 0,
                                   "features": features})
    state.pending.sort(key=lambda item: (item[0], item[1]))
    return state


def critical_forwards(findings: Iterable[Finding]) -> list[Forward]:
    """What scoring sends the offices: each CRITICAL alert that names declarations, to its office."""
    return [Forward(OFFICES, finding.office_code, CRITICAL_ALERT,
                    {"alert_id": finding.alert_id, "declaration_ids": list(finding.declaration_ids),
                     "event_time": finding.event_time})
            for finding in findings if finding.severity == "CRITICAL" and finding.declaration_ids]


def process(state: OfficeState | None, key: str, events: Sequence[RoutedEvent],
            context: Context) -> tuple[OfficeState, Outcome]:
    """Note CRITICAL alerts, queue LODGED declarations; decide the lanes of those stream time has passed."""
    state = state if state is not None else OfficeState(office_code=key)
    outcome = Outcome()
    state.epoch += 1  # what this call records is newer than any head written before it
    queued = False
    for kind, event in events:
        if kind == CRITICAL_ALERT:
            _note_critical(state, key, event, outcome)
            continue
        declaration_id = event["declaration_id"]
        if declaration_id in state.segment_of:
            continue  # a redelivery
        state.add(declaration_id, {"t": event["event_time"], "score": event["score"],
                                   "model": event["model_version"], "epoch": state.epoch,
                                   "features": event["features"], "categories": event.get("categories")})
        queued = True
    if queued:
        state.pending.sort(key=lambda item: (item[0], item[1]))
    watermark = context.watermark
    policy = context.lane_policy
    if watermark is None or policy is None:
        if state.pending:
            outcome.wake_at(state.pending[0][0])
        return state, outcome
    due = 0
    while due < len(state.pending) and state.pending[due][0] <= watermark:
        due += 1
    capacity = policy.capacity_of(key)
    for event_time, declaration_id, segment_id in state.pending[:due]:
        entry = state.segments[segment_id][declaration_id]
        lane = state.lanes.decide(declaration_id, event_time, entry["score"], capacity, policy.control_rate)
        alerts = state.critical.get(declaration_id)
        record = _record(key, lane, entry["model"], alerts[1] if alerts else [])
        features = entry.pop("features")
        categories = entry.pop("categories", None)
        entry.update(lane=lane.lane, control=lane.control_sample, inspected=lane.inspected, epoch=state.epoch)
        state.dirty_segments.add(segment_id)
        if record["lane"] == RED:
            record[FEATURES_KEY] = features
        if record["lane"] in (RED, YELLOW) and categories:  # none from a version that did not send them
            record[CATEGORIES_KEY] = categories
        elif categories:  # kept while the decision is remembered: a CRITICAL alert may still send it RED
            entry["categories"] = categories
        outcome.lanes.append(record)
    del state.pending[:due]
    if state.pending:
        outcome.wake_at(state.pending[0][0])
    _forget(state, watermark - DECIDED_MEMORY_MS - int(context.lateness_ms))
    return state, outcome


def _forget(state: OfficeState, horizon: int) -> None:
    """Drop the segments wholly at or before ``horizon`` (all decided), and the alerts no declaration needs."""
    for segment_id in [s for s in state.segments if (segment_order(s)[0] + 1) * SEGMENT_MS - 1 <= horizon]:
        for declaration_id in state.segments.pop(segment_id):
            del state.segment_of[declaration_id]
        state.dirty_segments.add(segment_id)
    waiting = {entry[1] for entry in state.pending}
    state.critical = {d: alerts for d, alerts in state.critical.items() if alerts[0] > horizon or d in waiting}


def _record(office_code: str, lane: Lane, model_version: str, alert_ids: list[str]) -> dict[str, Any]:
    """A lane's selectivity record (less ``decided_at``): RED and inspected when CRITICAL alerts name it."""
    forced = bool(alert_ids)
    return {
        "declaration_id": lane.declaration_id, "office_code": office_code, "event_time": lane.event_time,
        "lane": RED if forced else lane.lane, "score": lane.score, "reasons": [], "alert_ids": list(alert_ids),
        "control_sample": lane.control_sample, "inspected": forced or lane.inspected, "model_version": model_version,
    }


def _note_critical(state: OfficeState, office_code: str, alert: Mapping[str, Any], outcome: Outcome) -> None:
    """Remember a CRITICAL alert against each declaration it names; restate those already decided."""
    alert_id = alert["alert_id"]
    for declaration_id in alert["declaration_ids"]:
        noted = state.critical.setdefault(declaration_id, [alert["event_time"], []])
        if alert_id in noted[1]:
            continue  # a redelivery
        noted[0] = max(noted[0], alert["event_time"])
        noted[1] = sorted([*noted[1], alert_id])
        entry = state.entry(declaration_id)
        if entry is None or entry.get("lane") is None:
            continue  # decided later with the alert in hand (or by version 1 state: nothing to restate)
        lane = Lane(declaration_id, entry["t"], RED, entry["score"], entry["control"], inspected=True)
        record = {**_record(office_code, lane, entry["model"], noted[1]), RESTATED_KEY: True}
        categories = entry.pop("categories", None)  # a GREEN lane's: now sent for inspection, once
        if categories:
            record[CATEGORIES_KEY] = categories
            state.dirty_segments.add(state.segment_of[declaration_id])
        outcome.lanes.append(record)


def explain(lanes: list[dict[str, Any]], model: RiskModel | None) -> None:
    """Give each RED lane the top reasons of its score, in one TreeSHAP call; drop the feature vectors.

    Only a declaration scored by the model in force is explained: a newer
    model's reasons would not be the reasons of the score it was given.
    """
    wanted = [lane for lane in lanes if FEATURES_KEY in lane]
    vectors = [lane.pop(FEATURES_KEY) for lane in wanted]
    if model is None:
        return
    chosen = [(lane, vector) for lane, vector in zip(wanted, vectors, strict=True)
              if lane["model_version"] == model.version]
    if not chosen:
        return
    matrix = np.array([[math.nan if x is None else x for x in vector] for _lane, vector in chosen], dtype=np.float64)
    for (lane, _vector), risk in zip(chosen, model.explain_vectors(matrix), strict=True):
        lane["reasons"] = [{"feature": name, "contribution": value} for name, value in risk.reasons]


def is_empty(state: OfficeState) -> bool:
    """True when the office has nothing to remember."""
    return not (state.segments or state.critical or state.lanes.arrivals.runs or state.lanes.recent)
