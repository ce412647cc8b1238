"""The importer subject (key: ``importer_id``): recent e-commerce and express consignments.

Rule: SPLIT_SHIPMENT. A consignment is judged once stream time has passed
its event time, when every earlier consignment from any input partition is
known; clusters are therefore the same at any replay speed.

Serialized form: the dataclass fields as a JSON object, version in ``v``
(currently 1): ``{"importer_id": str, "parcels": {declaration_id:
ParcelFacts}, "clusters": {anchor declaration_id: [member declaration_id]},
"raised": {alert_id: [version, digest]}, "v": 1}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from agents.rules import split_shipment
from agents.rules.findings import alert_id
from agents.rules.split_shipment import Parcel
from agents.subjects.common import Context, Outcome, RoutedEvent, by_event_time, newer, stable_anchor

STATE_VERSION = 1


class ParcelFacts(TypedDict):
    """The newest version of one e-commerce/express declaration to the importer."""

    declaration_id: str
    event_id: str
    event_time: int
    channel: str
    procedure: str
    value_usd: float
    office_code: str
    transport_doc_no: str
    cancelled: bool
    late: bool


# Dict records and a dict-backed dataclass: what orjson writes fastest.
@dataclass
class ImporterState:
    """Recent consignments and the clusters already alerted for one importer."""

    importer_id: str
    parcels: dict[str, ParcelFacts] = field(default_factory=dict)
    clusters: dict[str, list[str]] = field(default_factory=dict)
    raised: dict[str, list[Any]] = field(default_factory=dict)

    v: int = STATE_VERSION

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ImporterState:
        """Rebuild from the serialized form (takes ownership of ``doc``)."""
        if doc.get("v") != STATE_VERSION:
            raise ValueError(f"importer state version {doc.get('v')!r} is not {STATE_VERSION}")
        return cls(**doc)


def is_split_candidate(event: Mapping[str, Any]) -> bool:
    """Whether the router should send this declaration to its importer at all."""
    return event["channel"] in split_shipment.SPLIT_CHANNELS and event["procedure"] == "IMPORT"


def apply_declaration(facts: ParcelFacts | None, event: Mapping[str, Any], late: bool) -> ParcelFacts:
    """Merge a declaration event: newest figures win, cancellation is final; a late first sight stays out of windows."""
    cancelled = event["action"] == "CANCELLED" or (facts is not None and facts["cancelled"])
    if facts is not None and (
        event["action"] == "CANCELLED"
        or not newer(event["event_time"], event["event_id"], facts["event_time"], facts["event_id"])
    ):
        facts["cancelled"] = cancelled
        return facts
    return {
        "declaration_id": event["declaration_id"],
        "event_id": event["event_id"],
        "event_time": event["event_time"],
        "channel": event["channel"],
        "procedure": event["procedure"],
        "value_usd": float(event["total_value_usd"]),
        "office_code": event["office_code"],
        "transport_doc_no": event["transport_doc_no"],
        "cancelled": cancelled,
        "late": facts["late"] if facts is not None else late,
    }


def process(state: ImporterState | None, key: str, events: Sequence[RoutedEvent],
            context: Context) -> tuple[ImporterState, Outcome]:
    """Apply declarations and look for split clusters among the settled ones."""
    state = state if state is not None else ImporterState(importer_id=key)
    outcome = Outcome()
    for kind, event in by_event_time(events):
        if kind == "decl":
            decl_id = event["declaration_id"]
            late = context.is_late(event["event_time"])
            outcome.late_events += late
            state.parcels[decl_id] = apply_declaration(state.parcels.get(decl_id), event, late)

    rules = context.rules
    watermark = context.watermark
    settled: list[Parcel] = []
    unsettled: list[int] = []
    for p in state.parcels.values():
        if p["cancelled"] or p["late"] or not split_shipment.qualifies(p["channel"], p["procedure"],
                                                                       p["value_usd"], rules):
            continue
        if watermark is None or p["event_time"] > watermark:
            unsettled.append(p["event_time"])
        else:
            settled.append(Parcel(p["declaration_id"], p["event_id"], p["event_time"], p["value_usd"],
                                  p["office_code"], p["transport_doc_no"]))
    # With fewer candidates than a cluster needs, settling them can show
    # nothing: no wake-up (most importers; each was a second processing and
    # two timer writes), and the next parcel's arrival looks again.
    if len(settled) + len(unsettled) >= split_shipment.min_declarations(rules):
        outcome.wake_at(min(unsettled, default=None))

    for cluster in split_shipment.find_clusters(settled, rules):
        members = [p.declaration_id for p in cluster.parcels]
        anchor = stable_anchor(state.clusters, members, cluster.anchor.declaration_id)
        finding = split_shipment.finding_for(key, cluster, anchor, rules)
        if finding is not None:
            outcome.findings.append(finding)

    if watermark is not None:
        forget_old(state, watermark - 2 * split_shipment.window_ms(rules))
    return state, outcome


def forget_old(state: ImporterState, horizon: int) -> None:
    """Drop consignments and clusters that can no longer join any window."""
    for decl_id in [d for d, p in state.parcels.items() if p["event_time"] < horizon]:
        del state.parcels[decl_id]
    for anchor in [a for a, members in state.clusters.items()
                   if not any(m in state.parcels for m in members)]:
        del state.clusters[anchor]
        state.raised.pop(alert_id(split_shipment.RULE_ID,
                                    split_shipment.identity(state.importer_id, anchor)), None)


def is_empty(state: ImporterState) -> bool:
    """True when the importer has nothing left worth storing."""
    return not state.parcels and not state.clusters
