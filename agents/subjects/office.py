"""The office subject (key: ``office_code``): the selectivity lane of every LODGED declaration.

The router scores each LODGED declaration with the risk model and sends it
here with its score and feature vector. Lanes are decided in event-time
order (ties by declaration id) once stream time has passed the
declaration, when every earlier one from any input partition is known: the
same file gets the same lanes at any replay speed and with any number of
workers (``agents.risk.lanes``). RED lanes carry the score's top reasons,
from the model that scored it: TreeSHAP costs some 46 ms a declaration with
the KCS model, so only the declarations an officer inspects are explained,
at most the office's hourly RED capacity. A redelivered declaration is not
decided twice.

Serialized form: the dataclass fields as a JSON object, version in ``v``
(currently 1): ``{"office_code": str, "lanes": OfficeLanes, "pending":
[[event_time, declaration_id, score, model_version, [feature, ...]]],
"decided": {declaration_id: event_time}, "raised": {}, "v": 1}``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.risk.lanes import HOUR_MS, RED, Lane, OfficeLanes
from agents.subjects.common import Context, Outcome, RoutedEvent

STATE_VERSION = 1
# Decided declarations are remembered this long behind stream time (beyond the
# allowed lateness): a redelivery comes well within it.
DECIDED_MEMORY_MS = HOUR_MS


@dataclass
class OfficeState:
    """One office's lanes so far and the declarations waiting for stream time."""

    office_code: str
    lanes: OfficeLanes = field(default_factory=OfficeLanes)
    pending: list[list[Any]] = field(default_factory=list)
    decided: dict[str, int] = field(default_factory=dict)
    raised: dict[str, list[Any]] = field(default_factory=dict)
    v: int = STATE_VERSION

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> OfficeState:
        """Rebuild from the serialized form."""
        if doc.get("v") != STATE_VERSION:
            raise ValueError(f"office state version {doc.get('v')!r} is not {STATE_VERSION}")
        return cls(doc["office_code"], OfficeLanes.from_doc(doc["lanes"]), doc["pending"], doc["decided"],
                   doc["raised"])


def process(state: OfficeState | None, key: str, events: Sequence[RoutedEvent],
            context: Context) -> tuple[OfficeState, Outcome]:
    """Queue the batch's LODGED declarations; decide the lanes of those stream time has passed."""
    state = state if state is not None else OfficeState(office_code=key)
    outcome = Outcome()
    waiting = {entry[1] for entry in state.pending}
    for _kind, event in events:
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
    decided = [(entry, state.lanes.decide(entry[1], entry[0], entry[2], capacity, policy.control_rate))
               for entry in due]
    reasons = explained(decided, context)
    for (entry, lane), why in zip(decided, reasons, strict=True):
        state.decided[lane.declaration_id] = lane.event_time
        outcome.lanes.append({
            "declaration_id": lane.declaration_id, "office_code": key, "event_time": lane.event_time,
            "lane": lane.lane, "score": lane.score, "reasons": why, "alert_ids": [],
            "control_sample": lane.control_sample, "inspected": lane.inspected, "model_version": entry[3],
        })
    horizon = watermark - DECIDED_MEMORY_MS - int(context.lateness_ms)
    state.decided = {d: t for d, t in state.decided.items() if t > horizon}
    return state, outcome


def explained(decided: list[tuple[list[Any], Lane]], context: Context) -> list[list[dict[str, Any]]]:
    """The top reasons of each RED lane's score, in one call (none for the others).

    Only a declaration scored by the model in force is explained: a newer
    model's reasons would not be the reasons of the score it was given.
    """
    reasons: list[list[dict[str, Any]]] = [[] for _ in decided]
    model = context.risk
    if model is None:
        return reasons
    wanted = [i for i, (entry, lane) in enumerate(decided) if lane.lane == RED and entry[3] == model.version]
    if not wanted:
        return reasons
    vectors = np.array([[math.nan if x is None else x for x in decided[i][0][4]] for i in wanted], dtype=np.float64)
    for i, risk in zip(wanted, model.explain_vectors(vectors), strict=True):
        reasons[i] = [{"feature": name, "contribution": value} for name, value in risk.reasons]
    return reasons


def is_empty(state: OfficeState) -> bool:
    """True when the office has nothing to remember."""
    return not (state.pending or state.decided or state.lanes.arrivals or state.lanes.recent)
