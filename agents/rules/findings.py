"""What a rule returns: a ``Finding`` with its evidence, and the alert id it maps to.

The alert id is a hash of the rule id and the finding's ``identity`` (for
example the gate event that left without clearance), never of arrival order
or wall-clock time, so a replay or a rebalance re-derives the same id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# Every severity, least to most severe: filters compare by this order, and the
# Avro enums of the contract (alert, rule_config, watchlist_entry) list the same.
SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")


@dataclass(frozen=True, slots=True)
class Evidence:
    """One observed fact next to what was expected."""

    name: str
    observed: str
    expected: str


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's conclusion about one subject, ready to become an alert."""

    rule_id: str
    identity: str
    severity: str
    subject_type: str
    subject_id: str
    office_code: str
    event_time: int
    window_start: int
    explanation: str
    evidence: tuple[Evidence, ...]
    trigger_event_ids: tuple[str, ...]
    window_end: int | None = None
    declaration_ids: tuple[str, ...] = ()
    transport_doc_no: str | None = None
    container_nos: tuple[str, ...] = ()
    gate_id: str | None = None
    rule_version: int = 0
    # Whose history scores the alert (the declarant, failing that the importer).
    declarant_id: str | None = None
    importer_id: str | None = None
    # Set by scoring, the last step before an alert.
    score: int | None = None
    prior_alerts: int = 0

    @property
    def alert_id(self) -> str:
        """Deterministic id: the same finding always maps to the same alert."""
        return alert_id(self.rule_id, self.identity)

    def digest(self) -> str:
        """A fingerprint of what an officer would see change when the finding grows."""
        parts = [
            self.severity,
            self.subject_type,
            self.subject_id,
            self.explanation,
            "|".join(f"{e.name}={e.observed}/{e.expected}" for e in self.evidence),
            ",".join(self.declaration_ids),
            ",".join(self.trigger_event_ids),
        ]
        return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).hexdigest()


def alert_id(rule_id: str, identity: str) -> str:
    """``RULE_ID-<20 hex>``: readable in a control room, stable across replays."""
    digest = hashlib.blake2b(f"{rule_id}\x1f{identity}".encode(), digest_size=10).hexdigest()
    return f"{rule_id}-{digest}"


def format_usd(value: float) -> str:
    """Money as an officer reads it: ``USD 1,234.50``."""
    return f"USD {value:,.2f}"


def format_kg(value: float) -> str:
    """A weight as an officer reads it: ``1,234.5 kg``."""
    return f"{value:,.1f} kg"


def format_percent(fraction: float) -> str:
    """A fraction as a percentage: ``0.125 -> '12.5 %'``."""
    return f"{fraction * 100:.1f} %"
