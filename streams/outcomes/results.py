"""Inspection results (``schemas/inspection_result.avsc``) from their sources: a disposition, a labelled row.

Pure functions; the control room and ``cargoguard outcomes import`` publish what they return.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Dispositions that found an infraction; the others (NO_INFRACTION, FALSE_ALERT) did not.
INFRACTION_OUTCOMES = frozenset({"SEIZURE", "DUTY_RECOVERED"})


def results_of_disposal(case: Mapping[str, Any], action: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One result per declaration of a disposed case (none when the case names no declaration)."""
    found = action["outcome"] in INFRACTION_OUTCOMES
    return [{
        "result_id": f"{action['action_id']}:{declaration_id}",
        "declaration_id": declaration_id,
        "office_code": case["office_code"],
        "result": "INFRACTION" if found else "NO_INFRACTION",
        "infraction_kind": action["outcome"] if found else None,
        "duty_recovered_usd": None,
        "inspected_at": action["at"],
        "inspected_by": action["by"],
        "source": "control-room",
        "case_id": case["case_id"],
        "rule_ids": list(case["rule_ids"]),
        "note": action.get("note"),
    } for declaration_id in case["declaration_ids"]]


def result_of_labelled_row(record: Mapping[str, Any], labels: Mapping[str, str], source: str) -> dict[str, Any]:
    """The result a labelled declaration row records (KCS: ``fraud`` and ``critical_fraud`` cells, 0 or 1)."""
    fraud = labels.get("fraud", "").strip() == "1"
    critical = labels.get("critical_fraud", "").strip() == "1"
    return {
        "result_id": f"{source}:{record['declaration_id']}",  # the same row imported again is the same result
        "declaration_id": record["declaration_id"],
        "office_code": record["office_code"],
        "result": "INFRACTION" if fraud or critical else "NO_INFRACTION",
        "infraction_kind": "CRITICAL_FRAUD" if critical else "FRAUD" if fraud else None,
        "duty_recovered_usd": None,
        "inspected_at": record["event_time"],
        "inspected_by": source,
        "source": source,
        "case_id": None,
        "rule_ids": [],
        "note": None,
    }
