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
reasons (its feature vector is gone; its alerts say why).

Serialized form: the dataclass fields as a JSON object, version in ``v``
(currently 2): ``{"office_code": str, "lanes": OfficeLanes, "pending":
[[event_time, declaration_id, score, model_version, [feature, ...]]],
"decided": {declaration_id: [event_time, lane, score, model_version,
control_sample, inspected]}, "critical": {declaration_id: [newest alert
event_time, [alert_id, ...]]}, "raised": {}, "v": 2}``. Version 1 had no
``critical`` and kept only the event time of a decided declaration.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from agents.risk.lanes import HOUR_MS, RED, Lane, OfficeLanes
from agents.rules.findings import Finding
from agents.subjects.common import Context, Forward, Outcome, RoutedEvent
from agents.subjects.routes import OFFICES

if TYPE_CHECKING:
    from agents.risk.model import RiskModel

STATE_VERSION = 2
# Where a RED lane's record keeps its feature vector until ``explain`` (never sent).
FEATURES_KEY = "_features"
# Marks a record that restates a lane already sent (forced RED after its decision): not a new decision.
RESTATED_KEY = "_restated"
# The routed event kind of a CRITICAL alert forwarded by scoring.
CRITICAL_ALERT = "critical_alert"
# Decided declarations, and the CRITICAL alerts naming them, are remembered
# this long behind stream time (beyond the allowed lateness): a redelivery
# comes well within it, and so does an alert raised on the declaration itself.
DECIDED_MEMORY_MS = HOUR_MS


@dataclass
class OfficeState:
    """One office's lanes so far, the declarations waiting for stream time and the CRITICAL alerts."""

    office_code: str
    lanes: OfficeLanes = field(default_factory=OfficeLanes)
    pending: list[list[Any]] = field(default_factory=list)
    decided: dict[str, list[Any]] = field(default_factory=dict)
    critical: dict[str, list[Any]] = field(default_factory=dict)
    raised: dict[str, list[Any]] = field(default_factory=dict)
    v: int = STATE_VERSION

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> OfficeState:
        """Rebuild from the serialized form (version 1 is upgraded)."""
        version = doc.get("v")
        if version == 1:
            # Only the time is known of what version 1 decided: enough to ignore a redelivery,
            # not to restate the lane for a later CRITICAL alert.
            doc = {**doc, "decided": {d: [t] for d, t in doc["decided"].items()}, "critical": {}}
        elif version != STATE_VERSION:
            raise ValueError(f"office state version {version!r} is not {STATE_VERSION}")
        return cls(doc["office_code"], OfficeLanes.from_doc(doc["lanes"]), doc["pending"], doc["decided"],
                   doc["critical"], doc["raised"])


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
    waiting = {entry[1] for entry in state.pending}
    for kind, event in events:
        if kind == CRITICAL_ALERT:
            _note_critical(state, key, event, outcome)
            continue
        declaration_id = event["declaration_id"]
        if declaration_id in state.decided or declaration_id in waiting:
            continue  # a redelivery
        waiting.add(declaration_id)
        state.pending.append([event["event_time"], declaration_id, event["score"], event["model_version"],
                              event["features"]])
    state.pending.sort(key=lambda entry: (entry[0], entry[1]))
    watermark = context.watermark
    policy = context.lane_policy
    due = [] if watermark is None else [entry for entry in state.pending if entry[0] <= watermark]
    state.pending = state.pending[len(due):]
    if state.pending:
        outcome.wake_at(state.pending[0][0])
    if watermark is None or policy is None:
        return state, outcome
    capacity = policy.capacity_of(key)
    for entry in due:
        lane = state.lanes.decide(entry[1], entry[0], entry[2], capacity, policy.control_rate)
        alerts = state.critical.get(lane.declaration_id)
        record = _record(key, lane, entry[3], alerts[1] if alerts else [])
        state.decided[lane.declaration_id] = [lane.event_time, record["lane"], lane.score, entry[3],
                                              lane.control_sample, record["inspected"]]
        if record["lane"] == RED:
            record[FEATURES_KEY] = entry[4]
        outcome.lanes.append(record)
    horizon = watermark - DECIDED_MEMORY_MS - int(context.lateness_ms)
    state.decided = {d: decided for d, decided in state.decided.items() if decided[0] > horizon}
    waiting = {entry[1] for entry in state.pending}
    state.critical = {d: alerts for d, alerts in state.critical.items() if alerts[0] > horizon or d in waiting}
    return state, outcome


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
        decided = state.decided.get(declaration_id)
        if decided is None or len(decided) == 1:
            continue  # decided later with the alert in hand (or by version 1 state: nothing to restate)
        event_time, _lane, score, model_version, control_sample, _inspected = decided
        decided[1], decided[5] = RED, True
        lane = Lane(declaration_id, event_time, RED, score, control_sample, inspected=True)
        outcome.lanes.append({**_record(office_code, lane, model_version, noted[1]), RESTATED_KEY: True})


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
    return not (state.pending or state.decided or state.critical or state.lanes.arrivals or state.lanes.recent)
