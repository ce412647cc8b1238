"""The scoring subject (key: whose history, e.g. ``DECLARANT:D123``): the last step of every alert.

Every rule's findings arrive here, keyed by the declarant (or importer) they
concern, each with the version its subject gave it. The subject keeps the
alerts of that key over the history window, scores each finding
(``agents.rules.scoring``) and hands it on as the alert.

A score counts the alerts before it in event time, not in arrival order: an
alert that arrives after later ones (several workers, a failover) raises
their scores too, and each changed one is re-sent. So the newest version of
every alert is the same whatever order findings arrive in. A subject whose
finding moved to another history (``withdraw``) leaves this one.

Serialized form, version 2: ``{"key": str, "history": {alert_id: event
time}, "findings": {alert_id: [subject version, finding]}, "raised":
{alert_id: [version, digest]}, "v": 2}``. Version 1 had no ``findings``: its
alerts still count in later scores but are not re-sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.rules import scoring
from agents.rules.findings import alert_id
from agents.subjects.common import Context, Outcome, RoutedEvent

STATE_VERSION = 2
# Alerts remembered per history (the newest): a platform's history must not grow without bound.
HISTORY_LIMIT = 256


@dataclass
class ScoringState:
    """Alerts raised on one declarant or importer, the findings behind them, and their versions."""

    key: str
    history: dict[str, int] = field(default_factory=dict)
    findings: dict[str, list[Any]] = field(default_factory=dict)
    raised: dict[str, list[Any]] = field(default_factory=dict)
    v: int = STATE_VERSION

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ScoringState:
        """Rebuild from the serialized form (takes ownership of ``doc``); version 1 too."""
        if doc.get("v") == 1:
            doc = {**doc, "findings": {}, "v": STATE_VERSION}
        if doc.get("v") != STATE_VERSION:
            raise ValueError(f"scoring state version {doc.get('v')!r} is not {STATE_VERSION}")
        return cls(**doc)


def process(state: ScoringState | None, key: str, events: Sequence[RoutedEvent],
            context: Context) -> tuple[ScoringState, Outcome]:
    """Take in findings and withdrawals; score every alert whose history before it changed."""
    state = state if state is not None else ScoringState(key=key)
    outcome = Outcome()
    changed_from: int | None = None
    taken: set[str] = set()
    for kind, event in events:
        if kind == "finding":
            doc = event["finding"]
            version = int(event["version"])
            alert = alert_id(doc["rule_id"], doc["identity"])
            known = state.findings.get(alert)
            # An older version is overtaken; of two at one version (the router's, which keeps no
            # state, sends each event's own), the one of the newest event stands, whichever came last.
            if known is not None and _rank(int(known[0]), known[1]) > _rank(version, doc):
                continue
            state.findings[alert] = [version, doc]
            taken.add(alert)
            # The time it counts at is its newest version's: an early version derived before
            # everything had arrived must leave no trace.
            time = int(doc["event_time"])
            before = state.history.get(alert)
            state.history[alert] = time
            changed_from = _earliest(changed_from, time, before)
        elif kind == "withdraw":
            alert = event["alert_id"]
            withdrawn = state.findings.pop(alert, None)
            if state.raised.pop(alert, None) is None and withdrawn is not None:
                outcome.withdrawn_unsent.append(
                    (int(withdrawn[0]), withdrawn[1]["rule_id"], withdrawn[1]["severity"]))
            before = state.history.pop(alert, None)
            if before is not None:
                changed_from = _earliest(changed_from, before)
    if changed_from is None:
        return state, outcome
    rules_scoring = context.rules.scoring
    forget_old(state, int(rules_scoring.history_days * scoring.DAY_MS), keep=taken)
    for alert, (version, doc) in sorted(state.findings.items(), key=lambda item: (state.history[item[0]], item[0])):
        if state.history[alert] < changed_from:
            continue  # nothing before it changed: its score stands
        finding = scoring.finding_from_doc(doc)
        prior = scoring.prior_alerts(state.history, finding, rules_scoring)
        outcome.findings.append(scoring.scored(finding, prior, rules_scoring, key))
        outcome.version_floor[alert] = int(version)
    return state, outcome


def _rank(version: int, doc: dict[str, Any]) -> tuple[int, int, list[str]]:
    return version, int(doc["event_time"]), list(doc["trigger_event_ids"])


def _earliest(current: int | None, *times: int | None) -> int:
    return min(t for t in (current, *times) if t is not None)


def forget_old(state: ScoringState, window_ms: int, keep: set[str] | frozenset[str] = frozenset()) -> None:
    """Drop alerts a window older than the newest, and the oldest past the limit, but those in ``keep``.

    A finding just taken in is kept, however old: the subjects that judge on
    stream time do so partition by partition, so one may reach this history
    weeks of event time after a later one. Dropped on arrival, it was never
    sent (a replay of the KCS file lost 150-180 of its 844 UNDERVALUATION
    findings, a different share each run); kept, it is scored and sent now,
    and forgotten at the next change.
    """
    if not state.history:
        return
    by_time = sorted(state.history, key=lambda a: (state.history[a], a))
    horizon = state.history[by_time[-1]] - window_ms
    drop = [a for a in by_time if state.history[a] < horizon]
    drop += by_time[len(drop): max(len(drop), len(by_time) - HISTORY_LIMIT)]
    for alert in (a for a in drop if a not in keep):
        del state.history[alert]
        state.findings.pop(alert, None)
        state.raised.pop(alert, None)


def is_empty(state: ScoringState) -> bool:
    """True when nothing is remembered."""
    return not state.history and not state.raised
