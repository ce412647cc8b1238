"""TRANSIT_OVERDUE and TRANSIT_WRONG_OFFICE: goods in supervised transit that do not arrive, or arrive elsewhere.

A transit declaration, once CLEARED at its office of departure, allows goods
to travel under customs control to ``destination_office`` by
``transit_deadline``.

TRANSIT_OVERDUE. Threshold: the declaration's own deadline. Window: decided
when stream time passes the deadline (event time, so replays decide as the
live run did); the goods must have come IN at the destination office by then.
Finding: one per transit declaration.

TRANSIT_WRONG_OFFICE. Threshold: none. An IN gate event after the transit
clearance at an office that is neither the destination nor the office of
departure. Finding: one per such gate event; checked whichever of the
clearance and the gate event arrives first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents.rules.config import RuleBook
from agents.rules.findings import Evidence, Finding
from agents.rules.split_shipment import HOUR_MS

OVERDUE = "TRANSIT_OVERDUE"
WRONG_OFFICE = "TRANSIT_WRONG_OFFICE"


@dataclass(frozen=True, slots=True)
class Transit:
    """A cleared transit declaration."""

    declaration_id: str
    event_id: str
    office_code: str
    destination_office: str
    deadline: int
    cleared_at: int


def arrived_in_time(transit: Transit, arrivals: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the goods came IN at the destination office by the deadline."""
    return any(a["office_code"] == transit.destination_office
               and transit.cleared_at <= a["event_time"] <= transit.deadline for a in arrivals)


def overdue(transport_doc_no: str, transit: Transit, arrivals: Sequence[Mapping[str, Any]],
            rules: RuleBook) -> Finding | None:
    """Decide a transit whose deadline stream time has passed."""
    config = rules.enabled(OVERDUE)
    if config is None or arrived_in_time(transit, arrivals):
        return None
    # Only what was seen by the deadline: the decision is the same whenever stream time passes it.
    elsewhere = sorted({a["office_code"] for a in arrivals
                        if transit.cleared_at <= a["event_time"] <= transit.deadline} - {transit.office_code})
    seen = f"; it was seen at {', '.join(elsewhere)}" if elsewhere else ""
    hours = (transit.deadline - transit.cleared_at) / HOUR_MS
    return Finding(
        rule_id=OVERDUE,
        identity=f"{transport_doc_no}|{transit.declaration_id}",
        severity=config.severity,
        subject_type="SHIPMENT",
        subject_id=transport_doc_no,
        office_code=transit.destination_office,
        event_time=transit.deadline,
        window_start=transit.cleared_at,
        window_end=transit.deadline,
        explanation=(f"Transit goods of transport document {transport_doc_no} (declaration {transit.declaration_id}) "
                     f"left {transit.office_code} for {transit.destination_office} but had not arrived there by the "
                     f"deadline, {hours:.0f} h after clearance{seen}."),
        evidence=(Evidence(name="arrival", observed="none at the destination office",
                           expected=f"IN at {transit.destination_office} by the deadline"),),
        trigger_event_ids=(transit.event_id,),
        declaration_ids=(transit.declaration_id,),
        transport_doc_no=transport_doc_no,
        rule_version=config.version,
    )


def wrong_offices(transport_doc_no: str, transits: Sequence[Transit], arrivals: Sequence[Mapping[str, Any]],
                  rules: RuleBook) -> list[Finding]:
    """A finding for each arrival after a transit clearance at an office it was not bound for."""
    config = rules.enabled(WRONG_OFFICE)
    if config is None:
        return []
    findings = []
    for arrival in arrivals:
        for transit in transits:
            if arrival["event_time"] < transit.cleared_at:
                continue
            if arrival["office_code"] in (transit.destination_office, transit.office_code):
                continue
            findings.append(Finding(
                rule_id=WRONG_OFFICE,
                identity=f"{transport_doc_no}|{arrival['event_id']}",
                severity=config.severity,
                subject_type="SHIPMENT",
                subject_id=transport_doc_no,
                office_code=arrival["office_code"],
                event_time=arrival["event_time"],
                window_start=transit.cleared_at,
                window_end=arrival["event_time"],
                explanation=(f"Transit goods of transport document {transport_doc_no}, bound for "
                             f"{transit.destination_office}, came in at {arrival['office_code']} (gate "
                             f"{arrival['gate_id']}, vehicle {arrival['vehicle_plate']})."),
                evidence=(Evidence(name="office_code", observed=arrival["office_code"],
                                   expected=transit.destination_office),),
                trigger_event_ids=(arrival["event_id"], transit.event_id),
                declaration_ids=(transit.declaration_id,),
                transport_doc_no=transport_doc_no,
                gate_id=arrival["gate_id"],
                rule_version=config.version,
            ))
            break
    return findings
