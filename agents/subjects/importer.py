"""The importer subject (key: ``importer_id``): recent e-commerce and express consignments.

Rule: SPLIT_SHIPMENT. Every version of a consignment is kept. Clusters are
looked for as of each version's event time, in event-time order, once
stream time has passed it, when every earlier consignment from any input
partition is known: a consignment counts with the figures it had then, so
an amendment that arrives early (another partition was ahead) changes
nothing before its own time. Clusters are therefore the same at any replay
speed and with any number of workers.

Serialized form: the dataclass fields as a JSON object, version in ``v``
(currently 2): ``{"importer_id": str, "parcels": {declaration_id:
[ParcelVersion, ...] (event-time order)}, "settled_until": event time |
null, "clusters": {anchor declaration_id: [member declaration_id]},
"raised": {alert_id: [version, digest, history]}, "v": 2}``. Version 1 kept
each consignment's newest figures only and is read too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from agents.rules import split_shipment
from agents.rules.findings import alert_id
from agents.rules.split_shipment import Parcel
from agents.subjects.common import Context, Outcome, RoutedEvent, by_event_time, stable_anchor

STATE_VERSION = 2


class ParcelVersion(TypedDict):
    """One version of an e-commerce/express declaration to the importer."""

    declaration_id: str
    event_id: str
    event_time: int
    action: str
    channel: str
    procedure: str
    value_usd: float
    office_code: str
    transport_doc_no: str
    late: bool


# Dict records and a dict-backed dataclass: what orjson writes fastest.
@dataclass
class ImporterState:
    """Recent consignments and the clusters already alerted for one importer."""

    importer_id: str
    parcels: dict[str, list[ParcelVersion]] = field(default_factory=dict)
    # Clusters have been looked for as of every version time up to this one.
    settled_until: int | None = None
    clusters: dict[str, list[str]] = field(default_factory=dict)
    raised: dict[str, list[Any]] = field(default_factory=dict)

    v: int = STATE_VERSION

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ImporterState:
        """Rebuild from the serialized form (takes ownership of ``doc``); version 1 too."""
        if doc.get("v") == 1:
            doc["parcels"] = {d: [_upgraded(facts)] for d, facts in doc["parcels"].items()}
            doc["v"] = STATE_VERSION
        if doc.get("v") != STATE_VERSION:
            raise ValueError(f"importer state version {doc.get('v')!r} is not {STATE_VERSION}")
        return cls(**doc)


def _upgraded(facts: Mapping[str, Any]) -> ParcelVersion:
    """A version-1 record (newest figures, cancellation flag) as one version."""
    return {"declaration_id": facts["declaration_id"], "event_id": facts["event_id"],
            "event_time": facts["event_time"], "action": "CANCELLED" if facts["cancelled"] else "LODGED",
            "channel": facts["channel"], "procedure": facts["procedure"], "value_usd": facts["value_usd"],
            "office_code": facts["office_code"], "transport_doc_no": facts["transport_doc_no"],
            "late": facts["late"]}


def is_split_candidate(event: Mapping[str, Any]) -> bool:
    """Whether the router should send this declaration to its importer at all."""
    return event["channel"] in split_shipment.SPLIT_CHANNELS and event["procedure"] == "IMPORT"


def parcel_version(event: Mapping[str, Any], late: bool) -> ParcelVersion:
    """What the importer keeps of one declaration event."""
    return {
        "declaration_id": event["declaration_id"],
        "event_id": event["event_id"],
        "event_time": event["event_time"],
        "action": event["action"],
        "channel": event["channel"],
        "procedure": event["procedure"],
        "value_usd": float(event["total_value_usd"]),
        "office_code": event["office_code"],
        "transport_doc_no": event["transport_doc_no"],
        "late": late,
    }


def add_version(versions: list[ParcelVersion], version: ParcelVersion) -> bool:
    """Insert a version in event-time order; False for one already kept (a redelivery)."""
    if any(v["event_id"] == version["event_id"] for v in versions):
        return False
    versions.append(version)
    versions.sort(key=lambda v: (v["event_time"], v["event_id"]))
    return True


def as_of(versions: Sequence[ParcelVersion], time: int) -> Parcel | None:
    """The consignment as it stood at event time ``time``: its newest figures then.

    None if not yet filed, cancelled by then, or first seen late (late
    consignments count in no window).
    """
    if versions[0]["late"] or versions[0]["event_time"] > time:
        return None
    newest = versions[0]
    for version in versions:
        if version["event_time"] > time:
            break
        if version["action"] == "CANCELLED":
            return None
        newest = version
    return Parcel(newest["declaration_id"], newest["event_id"], newest["event_time"], newest["value_usd"],
                  newest["office_code"], newest["transport_doc_no"])


def could_qualify(versions: Sequence[ParcelVersion], rules: Any) -> bool:
    """Whether some version of the consignment is a split candidate (so it may join a cluster)."""
    return not versions[0]["late"] and any(
        v["action"] != "CANCELLED" and split_shipment.qualifies(v["channel"], v["procedure"], v["value_usd"], rules)
        for v in versions)


def process(state: ImporterState | None, key: str, events: Sequence[RoutedEvent],
            context: Context) -> tuple[ImporterState, Outcome]:
    """Keep new versions; look for split clusters as of each version time stream time has passed."""
    state = state if state is not None else ImporterState(importer_id=key)
    outcome = Outcome()
    arrived: list[int] = []
    for kind, event in by_event_time(events):
        if kind == "decl":
            late = context.is_late(event["event_time"])
            outcome.late_events += late
            versions = state.parcels.setdefault(event["declaration_id"], [])
            if add_version(versions, parcel_version(event, late)):
                arrived.append(event["event_time"])

    rules = context.rules
    watermark = context.watermark
    candidates = [versions for versions in state.parcels.values() if could_qualify(versions, rules)]
    # With fewer candidates than a cluster needs, no point in time can show one:
    # nothing to judge, no wake-up (most importers), and the next parcel looks again.
    if len(candidates) < split_shipment.min_declarations(rules):
        if watermark is not None:
            state.settled_until = max(watermark, state.settled_until or watermark)
        return state, outcome
    if watermark is None:  # no stream time yet: judge once there is
        outcome.wake_at(min(v["event_time"] for versions in candidates for v in versions))
        return state, outcome

    settled_until = state.settled_until
    # A version that arrived behind what was judged (but not late) is judged at its own
    # time, and every time after it again, as if it had come in order.
    behind = [t for t in arrived if settled_until is not None and t <= settled_until]
    start = min(behind) - 1 if behind else settled_until
    points = {v["event_time"] for versions in candidates for v in versions
              if v["event_time"] <= watermark and (start is None or v["event_time"] > start)}
    for time in sorted(points):
        settled = [p for versions in candidates if (p := as_of(versions, time)) is not None
                   and split_shipment.qualifies(versions[0]["channel"], versions[0]["procedure"], p.value_usd, rules)]
        for cluster in split_shipment.find_clusters(sorted(settled, key=lambda p: (p.event_time, p.tiebreak)), rules):
            members = [p.declaration_id for p in cluster.parcels]
            anchor = stable_anchor(state.clusters, members, cluster.anchor.declaration_id)
            finding = split_shipment.finding_for(key, cluster, anchor, rules)
            if finding is not None:
                outcome.findings.append(finding)
    state.settled_until = watermark if settled_until is None else max(settled_until, watermark)
    outcome.wake_at(min((v["event_time"] for versions in candidates for v in versions
                         if v["event_time"] > watermark), default=None))
    forget_old(state, watermark - 2 * split_shipment.window_ms(rules))
    return state, outcome


def forget_old(state: ImporterState, horizon: int) -> None:
    """Drop consignments and clusters that can no longer join any window."""
    for decl_id in [d for d, versions in state.parcels.items() if versions[-1]["event_time"] < horizon]:
        del state.parcels[decl_id]
    for anchor in [a for a, members in state.clusters.items()
                   if not any(m in state.parcels for m in members)]:
        del state.clusters[anchor]
        state.raised.pop(alert_id(split_shipment.RULE_ID,
                                    split_shipment.identity(state.importer_id, anchor)), None)


def is_empty(state: ImporterState) -> bool:
    """True when the importer has nothing left worth storing."""
    return not state.parcels and not state.clusters
