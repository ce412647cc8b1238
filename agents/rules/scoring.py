"""Scoring: how urgent an alert is, from its severity and its subject's history.

Base: the severity's score from the rules file's ``[scoring]`` table.
History: every other alert on the same declarant (or, with none, the same
importer) whose event time lies in the ``history_days`` before this one adds
``per_prior_alert``, up to ``max_history_boost``; the explanation says so.
Score is capped at 100.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from agents.rules.config import Scoring
from agents.rules.findings import Evidence, Finding

DAY_MS = 86_400_000


def history_key(finding: Finding) -> str:
    """Whose history an alert is scored on: the declarant, else the importer, else its own subject."""
    if finding.declarant_id:
        return f"DECLARANT:{finding.declarant_id}"
    if finding.importer_id:
        return f"IMPORTER:{finding.importer_id}"
    return f"{finding.subject_type}:{finding.subject_id}"


def prior_alerts(history: Mapping[str, int], finding: Finding, scoring: Scoring) -> int:
    """Other alerts on the same subject within the history window before ``finding``."""
    start = finding.event_time - int(scoring.history_days * DAY_MS)
    end = finding.event_time
    own = finding.alert_id  # a hash: computed once, not per alert of the history
    return sum(1 for alert, time in history.items() if start <= time < end and alert != own)


def scored(finding: Finding, prior: int, scoring: Scoring, key: str) -> Finding:
    """The finding with its score, and its explanation saying when history raised it."""
    boost = min(scoring.max_history_boost, scoring.per_prior_alert * prior)
    score = max(0, min(100, scoring.base[finding.severity] + boost))
    explanation = finding.explanation
    if boost:
        kind, _, subject = key.partition(":")
        explanation += (f" Score raised by {boost}: {prior} earlier alert(s) on {kind.lower()} {subject} "
                        f"in the last {scoring.history_days:g} days.")
    return replace(finding, score=score, prior_alerts=prior, explanation=explanation)


def finding_from_doc(doc: Mapping[str, Any]) -> Finding:
    """Rebuild a finding from its JSON form."""
    fields = dict(doc)
    fields["evidence"] = tuple(Evidence(**e) for e in fields["evidence"])
    for name in ("trigger_event_ids", "declaration_ids", "container_nos"):
        fields[name] = tuple(fields[name])
    return Finding(**fields)
