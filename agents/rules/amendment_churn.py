"""AMENDMENT_CHURN: a declarant keeps cancelling declarations or amending them to lower values.

Threshold (rules file): ``min_changes`` (3) cancellations or amendments that
lower a declaration's value. Window: ``window_days`` (7) of event time,
sliding. Changes are judged once stream time has passed them, each against
the version of its declaration just before it in event time.

Finding: one per cluster of overlapping qualifying windows, on the declarant,
identified by its first change; it grows as more changes join.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from agents.rules.config import RuleBook
from agents.rules.findings import Evidence, Finding, format_usd
from agents.rules.windows import sliding_clusters

RULE_ID = "AMENDMENT_CHURN"
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Change:
    """A cancellation, or an amendment that lowered a declaration's value."""

    declaration_id: str
    event_id: str
    event_time: int
    office_code: str
    kind: str  # CANCELLED or LOWERED
    value_before: float
    value_after: float

    @property
    def tiebreak(self) -> str:
        """Orders changes of the same time."""
        return self.event_id


@dataclass(frozen=True, slots=True)
class Version:
    """One version of a declaration, as the declarant filed it."""

    event_id: str
    event_time: int
    action: str
    value_usd: float
    office_code: str


def changes_of(declaration_id: str, versions: Sequence[Version]) -> list[Change]:
    """The churn in one declaration's versions: its cancellation and every amendment that lowered its value."""
    changes: list[Change] = []
    ordered = sorted(versions, key=lambda v: (v.event_time, v.event_id))
    for before, after in itertools.pairwise(ordered):
        if after.action == "CANCELLED" and not any(c.kind == "CANCELLED" for c in changes):
            changes.append(Change(declaration_id, after.event_id, after.event_time, after.office_code, "CANCELLED",
                                  before.value_usd, before.value_usd))
        elif after.action == "AMENDED" and after.value_usd < before.value_usd:
            changes.append(Change(declaration_id, after.event_id, after.event_time, after.office_code, "LOWERED",
                                  before.value_usd, after.value_usd))
    return changes


def find_clusters(changes: Sequence[Change], rules: RuleBook) -> list[list[Change]]:
    """Clusters of at least ``min_changes`` changes within ``window_days``."""
    config = rules[RULE_ID]
    minimum = int(config.number("min_changes"))
    return sliding_clusters(changes, int(config.number("window_days") * DAY_MS),
                            lambda window, _first: len(window) >= minimum)


def identity(declarant_id: str, anchor_event_id: str) -> str:
    """What makes a churn cluster this cluster: its declarant and its first change."""
    return f"{declarant_id}|{anchor_event_id}"


def finding_for(declarant_id: str, cluster: Sequence[Change], anchor: str, rules: RuleBook) -> Finding | None:
    """The finding of a churn cluster; ``anchor`` keeps the id it was first raised under."""
    config = rules.enabled(RULE_ID)
    if config is None:
        return None
    cancelled = sum(1 for c in cluster if c.kind == "CANCELLED")
    lowered = [c for c in cluster if c.kind == "LOWERED"]
    cut = sum(c.value_before - c.value_after for c in lowered)
    first, last = cluster[0], cluster[-1]
    days = (last.event_time - first.event_time) / DAY_MS
    parts = [f"{cancelled} cancellation(s)"] if cancelled else []
    if lowered:
        parts.append(f"{len(lowered)} amendment(s) lowering declared values by {format_usd(cut)} in all")
    return Finding(
        rule_id=RULE_ID,
        identity=identity(declarant_id, anchor),
        severity=config.severity,
        subject_type="DECLARANT",
        subject_id=declarant_id,
        office_code=last.office_code,
        event_time=last.event_time,
        window_start=first.event_time,
        window_end=last.event_time,
        explanation=f"Declarant {declarant_id} made {' and '.join(parts)} within {days:.1f} days.",
        evidence=(Evidence(name="changes", observed=str(len(cluster)),
                           expected=f"fewer than {int(config.number('min_changes'))} within "
                                    f"{config.number('window_days'):g} days"),
                  Evidence(name="value_lowered_usd", observed=format_usd(cut), expected=format_usd(0))),
        trigger_event_ids=tuple(c.event_id for c in cluster),
        declaration_ids=tuple(dict.fromkeys(c.declaration_id for c in cluster)),
        rule_version=config.version,
        declarant_id=declarant_id,
    )
