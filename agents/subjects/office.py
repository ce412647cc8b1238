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

Serialized form: the dataclass fields as a JSON object, version in ``v``
(currently 1): ``{"office_code": str, "lanes": OfficeLanes, "pending":
[[event_time, declaration_id, score, model_version, [feature, ...]]],
"decided": {declaration_id: event_time}, "raised": {}, "v": 1}``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from agents.risk.lanes import HOUR_MS, RED, OfficeLanes
from agents.subjects.common import Context, Outcome, RoutedEvent

if TYPE_CHECKING:
    from agents.risk.model import RiskModel

STATE_VERSION = 1
# Where a RED lane's record keeps its feature vector until ``explain`` (never sent).
FEATURES_KEY = "_features"
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
    for entry, lane in decided:
        state.decided[lane.declaration_id] = lane.event_time
        record: dict[str, Any] = {
            "declaration_id": lane.declaration_id, "office_code": key, "event_time": lane.event_time,
            "lane": lane.lane, "score": lane.score, "reasons": [], "alert_ids": [],
            "control_sample": lane.control_sample, "inspected": lane.inspected, "model_version": entry[3],
        }
        if lane.lane == RED:
            record[FEATURES_KEY] = entry[4]
        outcome.lanes.append(record)
    horizon = watermark - DECIDED_MEMORY_MS - int(context.lateness_ms)
    state.decided = {d: t for d, t in state.decided.items() if t > horizon}
    return state, outcome


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
    return not (state.pending or state.decided or state.lanes.arrivals or state.lanes.recent)
