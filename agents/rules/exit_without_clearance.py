"""EXIT_WITHOUT_CLEARANCE: goods leave through a gate without customs clearance.

Threshold (rules file): ``feed_skew_seconds`` (default 60). The declaration
feed may lag the gate feed, so a clearance counts if its event time is no
later than the gate event's plus this skew.

Window: the decision waits until stream time (every input partition's event
time) passes the gate event's time plus the skew; replays therefore decide
exactly as the live run did.

Finding: one per OUT gate event whose shipment has no CLEARED declaration that
was not CANCELLED by then; on a container that no declaration or manifest
lists at all, the finding is on the container.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agents.rules.config import RuleBook
from agents.rules.findings import Evidence, Finding

RULE_ID = "EXIT_WITHOUT_CLEARANCE"


@dataclass(frozen=True, slots=True)
class GateExit:
    """An OUT gate event waiting for its decision."""

    event_id: str
    event_time: int
    office_code: str
    gate_id: str
    vehicle_plate: str
    container_no: str | None
    transport_doc_no: str | None


@dataclass(frozen=True, slots=True)
class Clearance:
    """The clearance history of one declaration on the shipment."""

    declaration_id: str
    cleared_at: int | None
    cancelled_at: int | None


def skew_ms(rules: RuleBook) -> int:
    """The feed skew tolerated before deciding, in milliseconds."""
    return int(rules[RULE_ID].number("feed_skew_seconds") * 1000)


def decision_time(gate_exit: GateExit, rules: RuleBook) -> int:
    """Stream time at which this exit is decided."""
    return gate_exit.event_time + skew_ms(rules)


def is_cleared_by(clearance: Clearance, limit: int) -> bool:
    """Cleared no later than ``limit`` and not cancelled after the clearance by then."""
    if clearance.cleared_at is None or clearance.cleared_at > limit:
        return False
    cancelled = clearance.cancelled_at
    return cancelled is None or cancelled > limit or cancelled < clearance.cleared_at


def evaluate_shipment_exit(
    gate_exit: GateExit,
    transport_doc_no: str,
    clearances: Sequence[Clearance],
    container_nos: Sequence[str],
    rules: RuleBook,
) -> Finding | None:
    """Decide an exit of a known shipment: a finding unless a declaration cleared it."""
    config = rules.enabled(RULE_ID)
    if config is None:
        return None
    limit = decision_time(gate_exit, rules)
    if any(is_cleared_by(c, limit) for c in clearances):
        return None
    if not clearances:
        status = "no declaration was lodged for it"
        observed = "no declaration"
    else:
        cancelled = [c for c in clearances if c.cancelled_at is not None and c.cancelled_at <= limit]
        status = (
            "its declaration was cancelled" if len(cancelled) == len(clearances)
            else "none of its declarations was cleared"
        )
        observed = f"{len(clearances)} declaration(s), none cleared"
    what = f"container {gate_exit.container_no}" if gate_exit.container_no else "the shipment"
    containers = sorted(set(container_nos) | ({gate_exit.container_no} if gate_exit.container_no else set()))
    return Finding(
        rule_id=RULE_ID,
        identity=f"{transport_doc_no}|{gate_exit.event_id}",
        severity=config.severity,
        subject_type="SHIPMENT",
        subject_id=transport_doc_no,
        office_code=gate_exit.office_code,
        event_time=gate_exit.event_time,
        window_start=gate_exit.event_time,
        window_end=limit,
        explanation=(
            f"{what.capitalize()} of transport document {transport_doc_no} left through gate "
            f"{gate_exit.gate_id} (vehicle {gate_exit.vehicle_plate}) but {status}."
        ),
        evidence=(
            Evidence(name="clearance", observed=observed,
                     expected=f"CLEARED within {skew_ms(rules) // 1000} s of the gate event"),
            Evidence(name="gate", observed=f"OUT at {gate_exit.gate_id}", expected="cleared goods only"),
        ),
        trigger_event_ids=(gate_exit.event_id,),
        declaration_ids=tuple(sorted(c.declaration_id for c in clearances)),
        transport_doc_no=transport_doc_no,
        container_nos=tuple(containers),
        gate_id=gate_exit.gate_id,
        rule_version=config.version,
    )


def evaluate_unknown_container_exit(gate_exit: GateExit, rules: RuleBook) -> Finding | None:
    """Decide an exit of a container that no declaration or manifest lists."""
    config = rules.enabled(RULE_ID)
    if config is None or gate_exit.container_no is None:
        return None
    container = gate_exit.container_no
    return Finding(
        rule_id=RULE_ID,
        identity=f"container|{container}|{gate_exit.event_id}",
        severity=config.severity,
        subject_type="CONTAINER",
        subject_id=container,
        office_code=gate_exit.office_code,
        event_time=gate_exit.event_time,
        window_start=gate_exit.event_time,
        window_end=decision_time(gate_exit, rules),
        explanation=(
            f"Container {container} left through gate {gate_exit.gate_id} (vehicle "
            f"{gate_exit.vehicle_plate}) but no declaration or manifest lists it."
        ),
        evidence=(
            Evidence(name="container_no", observed=container,
                     expected="listed on a cleared declaration"),
        ),
        trigger_event_ids=(gate_exit.event_id,),
        container_nos=(container,),
        gate_id=gate_exit.gate_id,
        rule_version=config.version,
    )
