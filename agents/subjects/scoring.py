"""The scoring subject (key: whose history, e.g. ``DECLARANT:D123``): the last step of every alert.

Every rule's findings arrive here, keyed by the declarant (or importer) they
concern. The subject keeps the alerts raised on that key for the history
window, scores each finding (``agents.rules.scoring``) and hands it on as the
alert; versions per alert id are kept by the plumbing as everywhere.

Serialized form: ``{"key": str, "history": {alert_id: event time}, "raised":
{alert_id: [version, digest]}, "v": 1}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.rules import scoring
from agents.subjects.common import Context, Outcome, RoutedEvent

STATE_VERSION = 1


@dataclass
class ScoringState:
    """Alerts raised on one declarant or importer, and their versions."""

    key: str
    history: dict[str, int] = field(default_factory=dict)
    raised: dict[str, list[Any]] = field(default_factory=dict)
    v: int = STATE_VERSION

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ScoringState:
        """Rebuild from the serialized form (takes ownership of ``doc``)."""
        if doc.get("v") != STATE_VERSION:
            raise ValueError(f"scoring state version {doc.get('v')!r} is not {STATE_VERSION}")
        return cls(**doc)


def process(state: ScoringState | None, key: str, events: Sequence[RoutedEvent],
            context: Context) -> tuple[ScoringState, Outcome]:
    """Score each finding against the alerts before it; remember it for those after."""
    state = state if state is not None else ScoringState(key=key)
    outcome = Outcome()
    rules_scoring = context.rules.scoring
    for kind, event in sorted(events, key=lambda e: (e[1]["event_time"], e[1]["rule_id"], e[1]["identity"])):
        if kind != "finding":
            continue
        finding = scoring.finding_from_doc(event)
        prior = scoring.prior_alerts(state.history, finding, rules_scoring)
        outcome.findings.append(scoring.scored(finding, prior, rules_scoring, key))
        known = state.history.get(finding.alert_id)
        state.history[finding.alert_id] = finding.event_time if known is None else min(known, finding.event_time)
    if state.history:
        horizon = max(state.history.values()) - int(rules_scoring.history_days * scoring.DAY_MS)
        for alert in [a for a, t in state.history.items() if t < horizon]:
            del state.history[alert]
            state.raised.pop(alert, None)
    return state, outcome


def is_empty(state: ScoringState) -> bool:
    """True when nothing is remembered."""
    return not state.history and not state.raised
