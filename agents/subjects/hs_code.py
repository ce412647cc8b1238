"""The HS code subject (key: the 6-digit HS code): what goods of one kind are declared at.

Rule: UNDERVALUATION. Every declaration version reaches the HS codes of its
items, one line per code: the code's lowest-priced item, which is judged, and
the code's items summed, which join the learned sample. Each version is judged
once stream time has passed it, in event-time order, against the unit values
of the declarations judged before it; then it joins them. Every version
waits on its own (an amendment that arrives before stream time passed the
version it amends does not replace it), so what is judged does not depend
on how far stream time had come when a version arrived. The learned sample
keeps the ``sample_size`` declarations judged last, one value each (its
newest version), so it stays small however busy the code is.

Serialized form: the dataclass fields as a JSON object, version in ``v``
(currently 2): ``{"hs6": str, "pending": {event_id: PendingLine},
"sample": {declaration_id: [event time, event_id, unit value, or null once
cancelled]}, "raised":
{alert_id: [version, digest]}, "v": 2}``. Version 1 kept one pending line per
declaration (keyed by declaration id) and is read too.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from agents.rules import undervaluation
from agents.rules.findings import alert_id
from agents.rules.undervaluation import PricedLine
from agents.subjects.common import Context, Outcome, RoutedEvent, by_event_time, newer

STATE_VERSION = 2
HS6_DIGITS = 6


class PendingLine(TypedDict):
    """One version of a declaration's line, waiting for stream time."""

    declaration_id: str
    event_id: str
    event_time: int
    cancelled: bool
    description: str
    net_weight_kg: float
    value_usd: float
    total_weight_kg: float
    total_value_usd: float
    office_code: str
    transport_doc_no: str
    declarant_id: str
    importer_id: str
    container_nos: list[str]


@dataclass
class HsCodeState:
    """Declarations of one HS code waiting to be judged, and the learned unit values."""

    hs6: str
    pending: dict[str, PendingLine] = field(default_factory=dict)
    sample: dict[str, list[Any]] = field(default_factory=dict)
    raised: dict[str, list[Any]] = field(default_factory=dict)
    v: int = STATE_VERSION

    def __post_init__(self) -> None:
        # The sample's unit values in ascending order, so a median costs no sort.
        # orjson leaves attributes starting with "_" out of the serialized form.
        self._learned: list[float] = sorted(e[2] for e in self.sample.values() if e[2] is not None)

    @property
    def learned(self) -> list[float]:
        """The learned unit values, ascending (do not modify)."""
        return self._learned

    def forget(self, declaration_id: str) -> None:
        """Drop a declaration from the sample."""
        entry = self.sample.pop(declaration_id, None)
        if entry is not None and entry[2] is not None:
            del self._learned[bisect.bisect_left(self._learned, entry[2])]

    def remember(self, declaration_id: str, event_time: int, event_id: str, unit_value: float | None) -> None:
        """Put a declaration at the sample's newest end (``unit_value`` None: a cancelled one)."""
        self.forget(declaration_id)
        self.sample[declaration_id] = [event_time, event_id, unit_value]
        if unit_value is not None:
            bisect.insort(self._learned, unit_value)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> HsCodeState:
        """Rebuild from the serialized form (takes ownership of ``doc``); version 1 too."""
        if doc.get("v") == 1:
            doc["pending"] = {line["event_id"]: line for line in doc["pending"].values()}
            doc["v"] = STATE_VERSION
        if doc.get("v") != STATE_VERSION:
            raise ValueError(f"HS code state version {doc.get('v')!r} is not {STATE_VERSION}")
        return cls(**doc)


def _unit_value(item: Mapping[str, Any]) -> float:
    weight = float(item["net_weight_kg"])
    return float(item["value_usd"]) / weight if weight > 0 else float("inf")


def priced_lines(event: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What the router sends each HS code of a declaration: its lowest-priced item, and all its items summed.

    The lowest-priced item is judged; the summed figures are what the
    declaration teaches about the code's usual price.
    """
    by_code: dict[str, list[Mapping[str, Any]]] = {}
    for item in event.get("items") or ():
        by_code.setdefault(item["hs_code"][:HS6_DIGITS], []).append(item)
    lines: dict[str, dict[str, Any]] = {}
    for hs6, items in by_code.items():
        lowest = min(items, key=_unit_value)
        lines[hs6] = {
            "declaration_id": event["declaration_id"],
            "event_id": event["event_id"],
            "event_time": event["event_time"],
            "action": event["action"],
            "description": lowest.get("description") or "",
            "net_weight_kg": float(lowest["net_weight_kg"]),
            "value_usd": float(lowest["value_usd"]),
            "total_weight_kg": sum(float(i["net_weight_kg"]) for i in items),
            "total_value_usd": sum(float(i["value_usd"]) for i in items),
            "office_code": event["office_code"],
            "transport_doc_no": event["transport_doc_no"],
            "declarant_id": event["declarant_id"],
            "importer_id": event["importer_id"],
            "container_nos": list(event.get("container_nos") or ()),
        }
    return lines


def pending_line(event: Mapping[str, Any]) -> PendingLine:
    """What waits of a routed line until stream time passes it."""
    return {
        "declaration_id": event["declaration_id"],
        "event_id": event["event_id"],
        "event_time": event["event_time"],
        "cancelled": event["action"] == "CANCELLED",
        "description": event["description"],
        "net_weight_kg": event["net_weight_kg"],
        "value_usd": event["value_usd"],
        "total_weight_kg": event["total_weight_kg"],
        "total_value_usd": event["total_value_usd"],
        "office_code": event["office_code"],
        "transport_doc_no": event["transport_doc_no"],
        "declarant_id": event["declarant_id"],
        "importer_id": event["importer_id"],
        "container_nos": list(event["container_nos"]),
    }


def process(state: HsCodeState | None, key: str, events: Sequence[RoutedEvent],
            context: Context) -> tuple[HsCodeState, Outcome]:
    """Take in declaration lines; judge, in event-time order, those stream time has passed."""
    state = state if state is not None else HsCodeState(hs6=key)
    outcome = Outcome()
    for kind, event in by_event_time(events):
        if kind != "line":
            continue
        decl_id = event["declaration_id"]
        outcome.late_events += context.is_late(event["event_time"])
        settled = state.sample.get(decl_id)
        if settled is not None and not newer(event["event_time"], event["event_id"], settled[0], settled[1]):
            continue  # this version or a newer one was judged already (a redelivery)
        state.pending[event["event_id"]] = pending_line(event)

    watermark = context.watermark
    ready = sorted((p for p in state.pending.values() if watermark is not None and p["event_time"] <= watermark),
                   key=lambda p: (p["event_time"], p["event_id"]))
    config = context.rules.enabled(undervaluation.RULE_ID)
    if config is None:  # a disabled rule neither judges nor learns
        state.pending.clear()
        return state, outcome
    sample_size = int(config.number("sample_size"))
    for pending in ready:
        del state.pending[pending["event_id"]]
        judge(state, pending, context, outcome, sample_size)
    for pending in state.pending.values():
        outcome.wake_at(pending["event_time"])
    return state, outcome


def judge(state: HsCodeState, pending: PendingLine, context: Context, outcome: Outcome, sample_size: int) -> None:
    """Judge one settled line against the declarations before it, then let it join the sample."""
    decl_id = pending["declaration_id"]
    if pending["cancelled"]:
        # Kept as a marker without a value, so an older version arriving later is not judged.
        state.remember(decl_id, pending["event_time"], pending["event_id"], None)
        return
    line = PricedLine(
        declaration_id=decl_id, event_id=pending["event_id"], event_time=pending["event_time"],
        hs6=state.hs6, description=pending["description"], net_weight_kg=pending["net_weight_kg"],
        value_usd=pending["value_usd"], office_code=pending["office_code"],
        transport_doc_no=pending["transport_doc_no"], declarant_id=pending["declarant_id"],
        importer_id=pending["importer_id"], container_nos=tuple(pending["container_nos"]),
    )
    weight = pending["total_weight_kg"]
    unit_value = pending["total_value_usd"] / weight if weight > 0 else None
    settled = state.sample.get(decl_id)
    if unit_value is None or (settled is not None and settled[2] == unit_value):
        return  # no basis, or a later version (the clearance) repeating what was judged
    # The sample is kept in the order lines were judged (event-time order): a
    # re-judged declaration moves to the end, and the oldest is the first.
    state.forget(decl_id)
    reference = undervaluation.reference_for(state.hs6, state.learned, context.prices, context.rules)
    finding = undervaluation.evaluate(line, reference, context.rules)
    if finding is not None:
        outcome.findings.append(finding)
    state.remember(decl_id, line.event_time, line.event_id, unit_value)
    while len(state.sample) > sample_size:
        oldest = next(iter(state.sample))
        state.forget(oldest)
        state.raised.pop(alert_id(undervaluation.RULE_ID, undervaluation.identity(oldest, state.hs6)), None)


def is_empty(state: HsCodeState) -> bool:
    """True when the HS code has nothing worth storing."""
    return not state.pending and not state.sample and not state.raised
