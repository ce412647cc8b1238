"""From findings to alerts: versioning under a stable id, the way to scoring, the Avro record.

A finding is derived by the subject it concerns (a shipment, an importer)
and scored by the history of its declarant (else importer), where the alert
is made. Both ends remember, per alert id, the version and a digest of what
the officer saw. The same finding derived again (a redelivery, a replay) is
not re-sent; a finding that grew, or a score that changed because an
earlier alert reached the history late, is re-sent as a higher version.

The subject's version travels with the finding, and the alert is never
sent under a lower version than it (``version_floor``). A finding whose
history changes (its shipment's first declaration arrived late and names a
declarant) jumps ``REATTRIBUTED_VERSION_STEP`` versions, so the new history
outranks whatever the old one sent, and the old history is told to forget it.

A worker that takes over a partition (a crash, a rebalance) restores its
state from the last checkpoint, so it does not know the versions its
predecessor sent after it; redelivered the same batches in other steps, it
would number them again and send other content under a number already
used. ``Takeover`` makes the new owner's first version of each alert jump
past anything the predecessor could have sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.rules.config import RuleBook
from agents.rules.findings import Finding
from agents.rules.scoring import history_key

# How far a finding's version jumps when its history moves (above any re-scoring of the old history).
REATTRIBUTED_VERSION_STEP = 1000

# A routed event for scoring: (history key, kind, fields).
ScoringEvent = tuple[str, str, Any]


@dataclass(slots=True)
class AlertsToSend:
    """What a history sends: the findings worth sending, each with its version, and which are new."""

    versions: list[tuple[Finding, int]] = field(default_factory=list)
    # The alert ids raised for the first time (what ``cargoguard_alerts_total`` counts).
    first_raised: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Takeover:
    """A partition's redelivered batches, while its new owner works through them.

    The previous owner may have processed any prefix of the batches before
    offset ``end``, one step each at worst, sending a version of an alert per
    step, none of which the checkpointed state remembers. So, until the new
    owner is past them, the first version it sends of each alert is
    ``batches`` above the one it knows, and is sent even when its content
    equals the checkpointed one: the predecessor may have sent other content
    in between, which must not stay the newest.
    """

    batches: int
    end: int
    jumped: set[str] = field(default_factory=set)

    @classmethod
    def begin(cls, first_offset: int, last_offset: int, highwater: int | None) -> Takeover:
        """At an owner's first step of a partition: every batch below the high watermark may be redelivered."""
        end = max(highwater or 0, last_offset + 1)
        return cls(batches=end - first_offset, end=end)

    def jump(self, alert_id: str) -> int | None:
        """How far ``alert_id``'s next version jumps: ``batches`` the first time, then None."""
        if alert_id in self.jumped:
            return None
        self.jumped.add(alert_id)
        return self.batches


def new_versions(findings: Iterable[Finding], raised: dict[str, list[Any]],
                 version_floor: Mapping[str, int] | None = None, takeover: Takeover | None = None) -> AlertsToSend:
    """The findings worth sending, each with its version; updates ``raised`` in place.

    ``version_floor`` gives, per alert id, the lowest version it may be sent under.
    An alert this history never sent is raised for the first time whatever its
    version (a finding that grew in two steps of its subject reaches scoring as
    versions 1 and 2 at once), unless it moved here from another history: its
    version is then ``REATTRIBUTED_VERSION_STEP`` or more, and the old history
    counted it (``withdrawn_unsent``). After a ``takeover`` the count is
    not exact anyway: what the predecessor raised past its checkpoint is
    raised, and counted, again.
    """
    sends = AlertsToSend()
    for finding in findings:
        alert_id = finding.alert_id
        digest = finding.digest()
        known = raised.get(alert_id)
        jump = None if takeover is None else takeover.jump(alert_id)
        if known is not None and known[1] == digest and jump is None:
            continue
        version = (1 if known is None else int(known[0]) + 1) + (jump or 0)
        floor = 1 if version_floor is None else version_floor.get(alert_id, 1)
        version = max(version, floor)
        raised[alert_id] = [version, digest]
        sends.versions.append((finding, version))
        if known is None and floor < REATTRIBUTED_VERSION_STEP:
            sends.first_raised.add(alert_id)
    return sends


def withdrawn_unsent(withdrawn: Iterable[tuple[int, str, str]]) -> list[tuple[str, str]]:
    """The ``(rule, severity)`` of findings a history let go before ever sending them, raised nowhere yet.

    ``withdrawn``: ``(version, rule, severity)`` of each (``Outcome.withdrawn_unsent``).
    Moved on before this history sent it, a finding is sent by its new
    history above ``REATTRIBUTED_VERSION_STEP``, not counted there; so it
    counts here, unless it had moved here already (counted by its first history).
    """
    return [(rule, severity) for version, rule, severity in withdrawn if version < REATTRIBUTED_VERSION_STEP]


def to_scoring(findings: Iterable[Finding], raised: dict[str, list[Any]],
               takeover: Takeover | None = None) -> list[ScoringEvent]:
    """What a subject sends scoring for its findings: each new or changed one with its version.

    Updates ``raised`` (entries ``[version, digest, history key]``). A finding
    whose history key changed is also withdrawn from its old history. Scoring
    keeps the highest version of a finding: after a ``takeover`` it jumps as
    an alert does.
    """
    sent: list[ScoringEvent] = []
    for finding in findings:
        alert_id = finding.alert_id
        key = history_key(finding)
        digest = finding.digest()
        known = raised.get(alert_id)
        moved_from = known[2] if known is not None and len(known) > 2 and known[2] != key else None
        jump = None if takeover is None else takeover.jump(alert_id)
        if known is not None and known[1] == digest and moved_from is None and jump is None:
            continue
        if known is None:
            version = 1
        elif moved_from is not None:
            version = int(known[0]) + REATTRIBUTED_VERSION_STEP
            sent.append((moved_from, "withdraw", {"alert_id": alert_id, "event_time": finding.event_time}))
        else:
            version = int(known[0]) + 1
        version += jump or 0
        raised[alert_id] = [version, digest, key]
        sent.append((key, "finding", {"finding": finding, "version": version, "event_time": finding.event_time}))
    return sent


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
