"""From findings to alerts: versioning under a stable id, scoring, the Avro record.

A subject remembers, per alert id it raised, the version and a digest of
what the officer saw. The same finding derived again (a redelivery, a
replay) is not re-sent; a finding that grew is re-sent as the next version.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agents.rules.config import RuleBook
from agents.rules.findings import Finding


def new_versions(findings: Iterable[Finding], raised: dict[str, list[Any]]) -> list[tuple[Finding, int]]:
    """The findings worth sending, each with its version; updates ``raised`` in place."""
    to_send: list[tuple[Finding, int]] = []
    for finding in findings:
        alert_id = finding.alert_id
        digest = finding.digest()
        known = raised.get(alert_id)
        if known is not None and known[1] == digest:
            continue
        version = 1 if known is None else int(known[0]) + 1
        raised[alert_id] = [version, digest]
        to_send.append((finding, version))
    return to_send


def alert_record(finding: Finding, version: int, rules: RuleBook, detected_at_ms: int) -> dict[str, Any]:
    """The ``alert.avsc`` record of a (scored) finding."""
    score = finding.score if finding.score is not None else rules.scoring.base[finding.severity]
    return {
        "alert_id": finding.alert_id,
        "rule_id": finding.rule_id,
        "severity": finding.severity,
        "score": score,
        "office_code": finding.office_code,
        "gate_id": finding.gate_id,
        "subject_type": finding.subject_type,
        "subject_id": finding.subject_id,
        "declaration_ids": list(finding.declaration_ids),
        "transport_doc_no": finding.transport_doc_no,
        "container_nos": list(finding.container_nos),
        "event_time": finding.event_time,
        "detected_at": detected_at_ms,
        "window_start": finding.window_start,
        "window_end": finding.window_end,
        "explanation": finding.explanation,
        "evidence": [{"name": e.name, "observed": e.observed, "expected": e.expected}
                     for e in finding.evidence],
        "trigger_event_ids": list(finding.trigger_event_ids),
        "version": version,
        "rule_version": finding.rule_version,
        "declarant_id": finding.declarant_id,
        "importer_id": finding.importer_id,
        "prior_alerts": finding.prior_alerts,
    }
