"""SEAL_BROKEN: a gate reports a broken seal.

Thresholds: none; any gate event with ``seal_intact = false``.
Window: none; raised on the gate event itself.
Finding: one per gate event, on the shipment when the gate event names one
(directly or through its container), else on the container, else on the
vehicle. Its id depends only on the gate event, so a later, better-resolved
version of the same finding updates the same alert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agents.rules.config import RuleBook
from agents.rules.findings import Evidence, Finding

RULE_ID = "SEAL_BROKEN"


def evaluate(
    gate_event: Mapping[str, Any],
    rules: RuleBook,
    subject_type: str,
    subject_id: str,
    declaration_ids: Sequence[str] = (),
) -> Finding | None:
    """A finding when the gate event reports the seal as not intact."""
    config = rules.enabled(RULE_ID)
    if config is None or gate_event.get("seal_intact") is not False:
        return None
    container = gate_event.get("container_no")
    seal = gate_event.get("seal_no") or "(no number read)"
    plate = gate_event["vehicle_plate"]
    what = f"container {container} (vehicle {plate})" if container else f"vehicle {plate}"
    direction = "entering" if gate_event["direction"] == "IN" else "leaving"
    explanation = (
        f"Gate {gate_event['gate_id']} at office {gate_event['office_code']} reports seal {seal} "
        f"broken on {what} {direction}."
    )
    doc = gate_event.get("transport_doc_no")
    return Finding(
        rule_id=RULE_ID,
        identity=str(gate_event["event_id"]),
        severity=config.severity,
        subject_type=subject_type,
        subject_id=subject_id,
        office_code=str(gate_event["office_code"]),
        event_time=int(gate_event["event_time"]),
        window_start=int(gate_event["event_time"]),
        explanation=explanation,
        evidence=(Evidence(name="seal_intact", observed="false", expected="true"),
                  Evidence(name="seal_no", observed=str(seal), expected="an intact seal")),
        trigger_event_ids=(str(gate_event["event_id"]),),
        declaration_ids=tuple(declaration_ids),
        transport_doc_no=str(doc) if doc else None,
        container_nos=(str(container),) if container else (),
        gate_id=str(gate_event["gate_id"]),
        rule_version=config.version,
    )
