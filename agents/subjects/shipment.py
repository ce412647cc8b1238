"""The shipment subject (key: ``transport_doc_no``): its state and how a batch changes it.

State holds the newest version of each declaration on the transport
document, the newest manifest, and the OUT gate events waiting for their
exit decision. Rules: MANIFEST_MISMATCH, EXIT_WITHOUT_CLEARANCE, SEAL_BROKEN.

Serialized form: the dataclass fields as a JSON object (records are typed
dicts), version in ``v`` (currently 1): ``{"transport_doc_no":
str, "declarations": {id: DeclarationFacts}, "manifest": ManifestFacts |
null, "pending_exits": {event_id: GateExit}, "weighings" and "arrivals":
{event_id: GatePassage}, "seals": {event_id: BrokenSeal}, "decided": [event_id],
"raised": {alert_id: [version, digest]}, "timeline": [TimelineEntry], "v": 1}``
(``timeline`` is absent from states written before it was kept).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict

from agents.rules import exit_without_clearance, manifest_mismatch, seal_broken, transit, weighbridge_mismatch
from agents.rules.exit_without_clearance import Clearance, GateExit
from agents.rules.findings import Finding
from agents.rules.manifest_mismatch import DeclaredFigures, ManifestFigures
from agents.subjects import shipment_timeline
from agents.subjects.common import Context, Outcome, RoutedEvent, by_event_time, newer, remember
from agents.subjects.shipment_timeline import TimelineEntry

STATE_VERSION = 1
# Gate passages kept per shipment for the weighbridge and transit checks.
PASSAGE_MEMORY = 32


class DeclarationFacts(TypedDict):
    """The newest known version of one declaration, plus its clearance history."""

    declaration_id: str
    event_id: str
    event_time: int
    action: str
    procedure: str
    office_code: str
    declarant_id: str
    importer_id: str
    gross_weight_kg: float
    package_count: int
    total_value_usd: float
    container_nos: list[str]
    destination_office: str | None
    transit_deadline: int | None
    cleared_at: int | None
    cancelled_at: int | None
    # The earliest event time of any version: when the declaration was first on file.
    # States written before it was kept lack it (read with ``filed_at``).
    first_filed_at: int


class ManifestFacts(TypedDict):
    """The newest manifest line for the transport document."""

    manifest_id: str
    event_id: str
    event_time: int
    office_code: str
    gross_weight_kg: float
    package_count: int


class GatePassage(TypedDict):
    """A gate event remembered for the weighbridge and transit checks."""

    event_id: str
    event_time: int
    office_code: str
    gate_id: str
    direction: str
    vehicle_plate: str
    container_no: str | None
    cargo_weight_kg: float | None


class BrokenSeal(TypedDict):
    """A gate event that reported a broken seal, kept so its alert can name the declarations on file then."""

    event_id: str
    event_time: int
    office_code: str
    gate_id: str
    direction: str
    vehicle_plate: str
    container_no: str | None
    transport_doc_no: str | None
    seal_no: str | None
    seal_intact: bool


class PendingExit(TypedDict):
    """An OUT gate event waiting for its exit decision (GateExit's fields)."""

    event_id: str
    event_time: int
    office_code: str
    gate_id: str
    vehicle_plate: str
    container_no: str | None
    transport_doc_no: str | None


# Records are plain dicts and the state a dict-backed dataclass: orjson writes
# those two to four times faster than slotted dataclasses (measured), and
# state is written at every checkpoint.
@dataclass
class ShipmentState:
    """Everything cargoguard remembers about one transport document."""

    transport_doc_no: str
    declarations: dict[str, DeclarationFacts] = field(default_factory=dict)
    manifest: ManifestFacts | None = None
    pending_exits: dict[str, PendingExit] = field(default_factory=dict)
    weighings: dict[str, GatePassage] = field(default_factory=dict)
    arrivals: dict[str, GatePassage] = field(default_factory=dict)
    seals: dict[str, BrokenSeal] = field(default_factory=dict)
    decided: list[str] = field(default_factory=list)
    raised: dict[str, list[Any]] = field(default_factory=dict)
    timeline: list[TimelineEntry] = field(default_factory=list)
    v: int = STATE_VERSION

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ShipmentState:
        """Rebuild from the serialized form (takes ownership of ``doc``)."""
        if doc.get("v") != STATE_VERSION:
            raise ValueError(f"shipment state version {doc.get('v')!r} is not {STATE_VERSION}")
        return cls(**doc)


def is_active(facts: DeclarationFacts) -> bool:
    """Not cancelled."""
    return facts["cancelled_at"] is None


def apply_declaration(facts: DeclarationFacts | None, event: Mapping[str, Any]) -> DeclarationFacts:
    """Merge a declaration event: the newest version wins, clearance history accumulates."""
    action = event["action"]
    time = event["event_time"]
    is_newer = facts is None or newer(time, event["event_id"], facts["event_time"], facts["event_id"])
    # A CANCELLED event may repeat stale figures; it changes status, not figures.
    if facts is None or (is_newer and action != "CANCELLED"):
        updated: DeclarationFacts = {
            "declaration_id": event["declaration_id"],
            "event_id": event["event_id"],
            "event_time": time,
            "action": action,
            "procedure": event["procedure"],
            "office_code": event["office_code"],
            "declarant_id": event["declarant_id"],
            "importer_id": event["importer_id"],
            "gross_weight_kg": float(event["gross_weight_kg"]),
            "package_count": int(event["package_count"]),
            "total_value_usd": float(event["total_value_usd"]),
            "container_nos": list(event.get("container_nos") or ()),
            "destination_office": event.get("destination_office"),
            "transit_deadline": event.get("transit_deadline"),
            "cleared_at": facts["cleared_at"] if facts else None,
            "cancelled_at": facts["cancelled_at"] if facts else None,
            "first_filed_at": time if facts is None else min(time, filed_at(facts)),
        }
    else:
        updated = facts
        if is_newer:
            updated["event_id"], updated["event_time"], updated["action"] = event["event_id"], time, action
        updated["first_filed_at"] = min(time, filed_at(updated))
    cleared_at = updated["cleared_at"]
    if action == "CLEARED" and (cleared_at is None or time < cleared_at):
        updated["cleared_at"] = time
    cancelled_at = updated["cancelled_at"]
    if action == "CANCELLED" and (cancelled_at is None or time < cancelled_at):
        updated["cancelled_at"] = time
    return updated


def filed_at(facts: DeclarationFacts) -> int:
    """When a declaration was first on file (its earliest version's event time)."""
    return facts.get("first_filed_at", facts["event_time"])


def on_file_at(state: ShipmentState, time: int) -> list[DeclarationFacts]:
    """The declarations on file at event time ``time``, earliest first (ties by id)."""
    return sorted((d for d in state.declarations.values() if filed_at(d) <= time),
                  key=lambda d: (filed_at(d), d["declaration_id"]))


def broken_seal(event: Mapping[str, Any]) -> BrokenSeal:
    """What a gate event that reported a broken seal leaves behind."""
    return {
        "event_id": event["event_id"],
        "event_time": event["event_time"],
        "office_code": event["office_code"],
        "gate_id": event["gate_id"],
        "direction": event["direction"],
        "vehicle_plate": event["vehicle_plate"],
        "container_no": event.get("container_no"),
        "transport_doc_no": event.get("transport_doc_no"),
        "seal_no": event.get("seal_no"),
        "seal_intact": False,
    }


def apply_manifest(facts: ManifestFacts | None, event: Mapping[str, Any]) -> ManifestFacts:
    """Merge a manifest event: the newest version wins."""
    if facts is not None and not newer(event["event_time"], event["event_id"],
                                       facts["event_time"], facts["event_id"]):
        return facts
    return {
        "manifest_id": event["manifest_id"],
        "event_id": event["event_id"],
        "event_time": event["event_time"],
        "office_code": event["office_code"],
        "gross_weight_kg": float(event["gross_weight_kg"]),
        "package_count": int(event["package_count"]),
    }


def gate_passage(event: Mapping[str, Any]) -> GatePassage:
    """What the weighbridge and transit checks keep of a gate event."""
    return {
        "event_id": event["event_id"],
        "event_time": event["event_time"],
        "office_code": event["office_code"],
        "gate_id": event["gate_id"],
        "direction": event["direction"],
        "vehicle_plate": event["vehicle_plate"],
        "container_no": event.get("container_no"),
        "cargo_weight_kg": event.get("cargo_weight_kg"),
    }


def keep_newest(passages: MutableMapping[str, Any], limit: int) -> None:
    """Bound a memory of gate passages to its newest ``limit``."""
    if len(passages) > limit:
        for event_id in sorted(passages, key=lambda e: (passages[e]["event_time"], e))[: len(passages) - limit]:
            del passages[event_id]


def pending_exit(event: Mapping[str, Any]) -> PendingExit:
    """What an OUT gate event leaves behind until its decision."""
    return {
        "event_id": event["event_id"],
        "event_time": event["event_time"],
        "office_code": event["office_code"],
        "gate_id": event["gate_id"],
        "vehicle_plate": event["vehicle_plate"],
        "container_no": event.get("container_no"),
        "transport_doc_no": event.get("transport_doc_no"),
    }


def gate_exit(event: Mapping[str, Any]) -> GateExit:
    """The exit-decision record of an OUT gate event."""
    return GateExit(**pending_exit(event))


def process(state: ShipmentState | None, key: str, events: Sequence[RoutedEvent],
            context: Context) -> tuple[ShipmentState, Outcome]:
    """Apply a batch of routed events to a shipment and run its rules.

    Called with no events when a timer is due. The result does not depend on
    the order of ``events``. A finding names and is attributed to the
    declarations on file at its own event time, so a declaration that
    arrives after a later gate event (another input partition was slower)
    corrects the alert rather than leaving it as the arrival order made it.
    """
    state = state if state is not None else ShipmentState(transport_doc_no=key)
    outcome = Outcome()
    rules = context.rules
    figures_changed = weighed = arrived = sealed = False
    for kind, event in by_event_time(events):
        shipment_timeline.add(state.timeline, shipment_timeline.entry_of(kind, event))
        if kind == "decl":
            decl_id = event["declaration_id"]
            state.declarations[decl_id] = apply_declaration(state.declarations.get(decl_id), event)
            figures_changed = True
        elif kind == "manifest":
            state.manifest = apply_manifest(state.manifest, event)
            figures_changed = True
        elif kind == "gate":
            event_id = event["event_id"]
            if event_id in state.decided or event_id in state.pending_exits:
                continue  # a redelivered gate event changes nothing
            if event.get("seal_intact") is False:
                state.seals[event_id] = broken_seal(event)
                keep_newest(state.seals, PASSAGE_MEMORY)
                sealed = True
            # Exits wait for a decision; weighings and arrivals are kept for their
            # checks. A redelivery changes nothing: the same ids, the same alerts.
            if event["direction"] == "OUT" and rules.enabled(exit_without_clearance.RULE_ID):
                state.pending_exits[event_id] = pending_exit(event)
            if event.get("cargo_weight_kg") is not None:
                state.weighings[event_id] = gate_passage(event)
                keep_newest(state.weighings, PASSAGE_MEMORY)
                weighed = True
            if event["direction"] == "IN":
                state.arrivals[event_id] = gate_passage(event)
                keep_newest(state.arrivals, PASSAGE_MEMORY)
                arrived = True

    if (figures_changed or sealed) and state.seals:
        for seal in sorted(state.seals.values(), key=lambda g: (g["event_time"], g["event_id"])):
            on_file = sorted(d["declaration_id"] for d in on_file_at(state, seal["event_time"]))
            finding = seal_broken.evaluate(seal, rules, "SHIPMENT", key, on_file)
            if finding is not None:
                outcome.findings.append(finding)
    if figures_changed and state.manifest is not None and state.declarations:
        finding = manifest_mismatch.evaluate(key, declared_figures(state), manifest_figures(state), rules)
        if finding is not None:
            outcome.findings.append(finding)
    if (figures_changed or weighed) and state.weighings:
        outcome.findings += weighbridge_mismatch.evaluate(key, declared_figures(state),
                                                          list(state.weighings.values()), rules)
    transits = cleared_transits(state)
    if (figures_changed or arrived) and transits and state.arrivals:
        outcome.findings += transit.wrong_offices(key, transits, list(state.arrivals.values()), rules)

    decide_due_exits(state, context, outcome)
    decide_due_transits(state, transits, context, outcome)
    outcome.findings = [attributed(f, state) for f in outcome.findings]
    return state, outcome


def attributed(finding: Finding, state: ShipmentState) -> Finding:
    """The finding with the declarant and importer of the first declaration on file at its event time."""
    on_file = on_file_at(state, finding.event_time)
    if not on_file:
        return finding
    first = on_file[0]
    return replace(finding, declarant_id=first["declarant_id"], importer_id=first["importer_id"])


def declared_figures(state: ShipmentState) -> list[DeclaredFigures]:
    """The active declarations' figures, for the manifest comparison."""
    return [
        DeclaredFigures(
            declaration_id=d["declaration_id"],
            event_id=d["event_id"],
            event_time=d["event_time"],
            office_code=d["office_code"],
            gross_weight_kg=d["gross_weight_kg"],
            package_count=d["package_count"],
            container_nos=tuple(d["container_nos"]),
        )
        for d in state.declarations.values()
        if is_active(d)
    ]


def manifest_figures(state: ShipmentState) -> ManifestFigures | None:
    """The manifest's figures, for the manifest comparison."""
    m = state.manifest
    if m is None:
        return None
    return ManifestFigures(m["manifest_id"], m["event_id"], m["event_time"], m["office_code"],
                           m["gross_weight_kg"], m["package_count"])


def decide_due_exits(state: ShipmentState, context: Context, outcome: Outcome) -> None:
    """Decide every pending exit whose decision time stream time has reached."""
    if not state.pending_exits:
        return
    rules = context.rules
    clearances = [Clearance(d["declaration_id"], d["cleared_at"], d["cancelled_at"])
                  for d in state.declarations.values()]
    containers = sorted({c for d in state.declarations.values() for c in d["container_nos"]})
    for event_id, record in sorted(state.pending_exits.items()):
        pending = GateExit(**record)
        due = exit_without_clearance.decision_time(pending, rules)
        if context.watermark is None or context.watermark < due:
            outcome.wake_at(due)
            continue
        finding = exit_without_clearance.evaluate_shipment_exit(
            pending, state.transport_doc_no, clearances, containers, rules
        )
        if finding is not None:
            outcome.findings.append(finding)
        del state.pending_exits[event_id]
        remember(state.decided, event_id)


def cleared_transits(state: ShipmentState) -> list[transit.Transit]:
    """The shipment's active transit declarations that have been cleared."""
    return [
        transit.Transit(d["declaration_id"], d["event_id"], d["office_code"], d["destination_office"],
                        d["transit_deadline"], d["cleared_at"])
        for d in sorted(state.declarations.values(), key=lambda d: d["declaration_id"])
        if d["procedure"] == "TRANSIT" and is_active(d) and d["cleared_at"] is not None
        and d["destination_office"] and d["transit_deadline"] is not None
    ]


def decide_due_transits(state: ShipmentState, transits: list[transit.Transit], context: Context,
                        outcome: Outcome) -> None:
    """Decide every transit whose deadline stream time has passed."""
    for item in transits:
        marker = f"overdue|{item.declaration_id}"
        if marker in state.decided:
            continue
        if context.watermark is None or context.watermark < item.deadline:
            outcome.wake_at(item.deadline)
            continue
        finding = transit.overdue(state.transport_doc_no, item, list(state.arrivals.values()), context.rules)
        if finding is not None:
            outcome.findings.append(finding)
        remember(state.decided, marker)


def is_empty(state: ShipmentState) -> bool:
    """True when nothing is worth storing (e.g. only a clean gate passage was seen)."""
    return not (state.declarations or state.manifest or state.pending_exits or state.raised
                or state.weighings or state.arrivals or state.seals)
