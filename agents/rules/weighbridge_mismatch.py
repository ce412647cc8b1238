"""WEIGHBRIDGE_MISMATCH: what the weighbridge reads differs from the declared gross weight.

Threshold (rules file): ``weight_tolerance`` (15 %) relative to the declared
gross weight (summed over the transport document's active declarations).

Window: none; checked whenever a reading or a declaration arrives, so the
order in which they arrive does not matter. For a shipment declared in
several containers, the readings of every declared container in the same
direction are summed before comparing; otherwise the newest reading counts.

Finding: one per transport document and direction (IN, OUT).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agents.rules.config import RuleBook
from agents.rules.findings import Evidence, Finding, format_kg, format_percent
from agents.rules.manifest_mismatch import DeclaredFigures

RULE_ID = "WEIGHBRIDGE_MISMATCH"


def evaluate(transport_doc_no: str, declared: Sequence[DeclaredFigures],
             weighings: Sequence[Mapping[str, Any]], rules: RuleBook) -> list[Finding]:
    """Findings for each direction whose weighbridge total is off the declared weight."""
    config = rules.enabled(RULE_ID)
    if config is None or not declared or not weighings:
        return []
    tolerance = config.number("weight_tolerance")
    declared_kg = sum(d.gross_weight_kg for d in declared)
    containers = sorted({c for d in declared for c in d.container_nos})
    findings = []
    for direction in ("IN", "OUT"):
        readings = sorted((w for w in weighings if w["direction"] == direction),
                          key=lambda w: (w["event_time"], w["event_id"]))
        if not readings:
            continue
        if len(containers) > 1:
            newest = {w["container_no"]: w for w in readings if w.get("container_no") in containers}
            if len(newest) < len(containers):
                continue  # not every container weighed yet
            used = [newest[c] for c in containers]
        else:
            used = [readings[-1]]
        measured = sum(w["cargo_weight_kg"] for w in used)
        off = abs(measured - declared_kg) / declared_kg if declared_kg > 0 else (0.0 if measured == 0 else 1.0)
        if off <= tolerance:
            continue
        last = used[-1]
        times = [w["event_time"] for w in used]
        what = f"{len(used)} containers" if len(used) > 1 else f"vehicle {last['vehicle_plate']}"
        findings.append(Finding(
            rule_id=RULE_ID,
            identity=f"{transport_doc_no}|{direction}",
            severity=config.severity,
            subject_type="SHIPMENT",
            subject_id=transport_doc_no,
            office_code=last["office_code"],
            event_time=max(times),
            window_start=min(times),
            window_end=max(times),
            explanation=(f"The weighbridge at gate {last['gate_id']} weighed {what} of transport document "
                         f"{transport_doc_no} at {format_kg(measured)} ({direction}), {format_percent(off)} off the "
                         f"declared {format_kg(declared_kg)}."),
            evidence=(Evidence(name="cargo_weight_kg", observed=format_kg(measured),
                               expected=f"declared {format_kg(declared_kg)} within {format_percent(tolerance)}"),),
            trigger_event_ids=tuple(w["event_id"] for w in used) + tuple(d.event_id for d in declared),
            declaration_ids=tuple(d.declaration_id for d in declared),
            transport_doc_no=transport_doc_no,
            container_nos=tuple(containers),
            gate_id=last["gate_id"],
            rule_version=config.version,
        ))
    return findings
