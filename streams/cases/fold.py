"""A case as the fold of its alerts and its recorded actions: pure, and the same on every worker.

A case gathers the alerts of one shipment: its transport document, else its
declaration, else the alert's subject. Its state comes from its actions alone,
in the order ``cargo.case-actions`` holds them (one partition per case); its
severity, score and alerts from the newest version of each alert. Nothing
depends on whether a worker read an alert before or after an action, so every
worker that has read the same records shows the same case.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from agents.rules.findings import SEVERITIES

CaseState = Literal["NEW", "TAKEN", "INSPECTION_REQUESTED", "DISPOSED"]
ACTIONS = ("TAKE", "ASSIGN", "NOTE", "REQUEST_INSPECTION", "DISPOSE", "SNOOZE", "REOPEN")
OUTCOMES = ("SEIZURE", "DUTY_RECOVERED", "NO_INFRACTION", "FALSE_ALERT")
# The audit trail a case keeps (the topic keeps them all).
AUDIT_KEPT = 200


def case_key(alert: Mapping[str, Any]) -> str:
    """What the alert's case is about: the shipment's transport document, else its declaration, else the subject."""
    if alert.get("transport_doc_no"):
        return f"transport_doc_no:{alert['transport_doc_no']}"
    if alert.get("declaration_ids"):
        return f"declaration_id:{alert['declaration_ids'][0]}"
    return f"{str(alert['subject_type']).lower()}:{alert['subject_id']}"


def case_id_of(key: str) -> str:
    """A case's id: a hash of its key, so every worker and every replay names it alike."""
    return "C-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def combined_score(rule_scores: Iterable[int]) -> int:
    """Several rules agreeing raise the score: 100 x (1 - product of (1 - score/100)) over the rules."""
    missed = 1.0
    for score in rule_scores:
        missed *= 1.0 - max(0, min(100, score)) / 100.0
    return round(100 * (1.0 - missed))


@dataclass(frozen=True, slots=True)
class Snooze:
    """No new alert of ``rule_id`` on this subject is pushed as new until ``until`` (its reason is shown)."""

    rule_id: str
    subject: str
    until: int
    reason: str
    by: str
    at: int

    def covers(self, alert: Mapping[str, Any]) -> bool:
        """Whether ``alert`` was raised while this snooze held."""
        return (alert["rule_id"] == self.rule_id and subject_of(alert) == self.subject
                and self.at <= alert["detected_at"] <= self.until)


def subject_of(alert: Mapping[str, Any]) -> str:
    """An alert's subject as ``TYPE:id`` (what a snooze names)."""
    return f"{alert['subject_type']}:{alert['subject_id']}"


@dataclass(slots=True)
class CaseFile:
    """Everything read about one case: the newest version of each alert, and every action in order."""

    case_id: str
    key: str
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    actions: list[dict[str, Any]] = field(default_factory=list)

    def add_alert(self, alert: Mapping[str, Any]) -> bool:
        """Keep the alert if it is newer than the version held; True when it was."""
        held = self.alerts.get(alert["alert_id"])
        if held is not None and held["version"] >= alert["version"]:
            return False
        self.alerts[alert["alert_id"]] = dict(alert)
        return True

    def add_action(self, action: Mapping[str, Any]) -> bool:
        """Append a recorded action; a redelivered one (same ``action_id``) is not applied twice."""
        if any(known["action_id"] == action["action_id"] for known in self.actions[-AUDIT_KEPT:]):
            return False
        self.actions.append(dict(action))
        del self.actions[:-AUDIT_KEPT]
        return True


@dataclass(frozen=True, slots=True)
class CaseStatus:
    """Who has a case and where it stands, from its actions."""

    state: CaseState = "NEW"
    owner: str | None = None
    outcome: str | None = None
    outcome_note: str | None = None
    disposed_at: int | None = None
    # Actions the fold did not apply (say, a second officer taking a case already taken), with why.
    ignored: tuple[tuple[str, str], ...] = ()


def status_of(actions: Iterable[Mapping[str, Any]]) -> CaseStatus:
    """Apply the actions in order. An action the state no longer allows is ignored, with the reason."""
    state: CaseState = "NEW"
    owner: str | None = None
    outcome: str | None = None
    note: str | None = None
    disposed_at: int | None = None
    ignored: list[tuple[str, str]] = []
    for action in actions:
        kind, by = action["action"], action["by"]
        if state == "DISPOSED" and kind not in ("NOTE", "REOPEN", "SNOOZE"):
            ignored.append((action["action_id"], f"{kind} on a disposed case"))
            continue
        if kind == "TAKE":
            if owner not in (None, by):  # a supervisor reassigns instead
                ignored.append((action["action_id"], f"already taken by {owner}"))
                continue
            owner, state = by, ("TAKEN" if state == "NEW" else state)
        elif kind == "ASSIGN":
            owner, state = action["assignee"], ("TAKEN" if state == "NEW" else state)
        elif kind == "REQUEST_INSPECTION":
            owner, state = owner or by, "INSPECTION_REQUESTED"
        elif kind == "DISPOSE":
            owner = owner or by
            state, outcome, note, disposed_at = "DISPOSED", action["outcome"], action.get("note"), action["at"]
        elif kind == "REOPEN":
            if state != "DISPOSED":
                ignored.append((action["action_id"], "REOPEN of a case that is open"))
                continue
            state, outcome, note, disposed_at = ("TAKEN" if owner else "NEW"), None, None, None
    return CaseStatus(state, owner, outcome, note, disposed_at, tuple(ignored))


def snoozes_in(actions: Iterable[Mapping[str, Any]]) -> list[Snooze]:
    """The snoozes a case's actions set."""
    return [Snooze(rule_id=a["rule_id"], subject=a["subject"], until=a["until"], reason=a.get("note") or "",
                   by=a["by"], at=a["at"])
            for a in actions if a["action"] == "SNOOZE" and a.get("rule_id") and a.get("subject") and a.get("until")]


def summary(case: CaseFile, snoozes: Iterable[Snooze] = ()) -> dict[str, Any]:
    """The case as the page and ``cargo.cases`` show it (JSON-ready; times in epoch ms)."""
    alerts = sorted(case.alerts.values(), key=lambda a: (a["event_time"], a["alert_id"]))
    held = list(snoozes)
    snoozed = {a["alert_id"] for a in alerts if any(s.covers(a) for s in held)}
    counted = [a for a in alerts if a["alert_id"] not in snoozed] or alerts
    best: dict[str, dict[str, Any]] = {}
    for alert in counted:
        if alert["rule_id"] not in best or alert["score"] > best[alert["rule_id"]]["score"]:
            best[alert["rule_id"]] = alert
    parts = [{"rule_id": rule_id, "score": alert["score"], "severity": alert["severity"],
              "alerts": sum(1 for a in counted if a["rule_id"] == rule_id)}
             for rule_id, alert in sorted(best.items(), key=lambda item: -item[1]["score"])]
    score = combined_score(part["score"] for part in parts)
    status = status_of(case.actions)
    first = alerts[0] if alerts else {}
    return {
        "case_id": case.case_id,
        "case_key": case.key,
        "office_code": first.get("office_code", ""),
        "severity": max((a["severity"] for a in counted), key=SEVERITIES.index, default="LOW"),
        "score": score,
        "score_parts": parts,
        "score_explanation": " + ".join(f"{p['rule_id']} {p['score']}" for p in parts)
                             + (f" -> {score} (rules agreeing raise it)" if len(parts) > 1 else ""),
        "state": status.state,
        "owner": status.owner,
        "outcome": status.outcome,
        "outcome_note": status.outcome_note,
        "snoozed": bool(alerts) and len(snoozed) == len(alerts),
        "alerts_after_disposal": sum(1 for a in alerts if status.disposed_at is not None
                                     and a["detected_at"] > status.disposed_at),
        "alert_ids": [a["alert_id"] for a in alerts],
        "rule_ids": sorted(best),
        "transport_doc_no": next((a["transport_doc_no"] for a in alerts if a.get("transport_doc_no")), None),
        "declaration_ids": sorted({d for a in alerts for d in a.get("declaration_ids") or []}),
        "container_nos": sorted({c for a in alerts for c in a.get("container_nos") or []}),
        "subjects": sorted({subject_of(a) for a in alerts}),
        "first_event_time": first.get("event_time", 0),
        "last_event_time": max((a["event_time"] for a in alerts), default=0),
        "changed_at": max([a["detected_at"] for a in alerts] + [a["at"] for a in case.actions], default=0),
        # Deterministic and growing with every change: readers of cargo.cases keep the highest.
        "version": sum(a["version"] for a in alerts) + len(case.actions),
    }
