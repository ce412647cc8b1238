"""Detection quality: planted findings against the alerts raised, per rule and overall.

A planted finding is a label ``(rule_id, subject_type, subject_id)`` from a
labelled file (``cargoguard simulate --out``). An alert is counted by the
same triple, its newest version. Per rule:

- caught: planted findings with an alert of that rule on that subject;
- missed: planted findings without one;
- false: alerts of that rule on a subject nothing of that rule was planted on.

Precision = caught / (caught + false); recall = caught / planted. A rule with
nothing planted and nothing raised has neither (None).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.rules.exit_without_clearance import RULE_ID as EXIT_RULE
from agents.rules.transit import OVERDUE

Finding = tuple[str, str, str]  # (rule_id, subject_type, subject_id)
# Rules whose decisions wait for stream time by design (a feed skew, a transit
# deadline): their delays are not processing latency and are reported apart.
WAITING_RULES = (EXIT_RULE, OVERDUE)


@dataclass(frozen=True, slots=True)
class RuleQuality:
    """One rule's (or all rules') counts and ratios."""

    rule_id: str
    planted: int
    caught: int
    missed: int
    false: int
    missed_subjects: tuple[str, ...] = ()
    false_subjects: tuple[str, ...] = ()

    @property
    def precision(self) -> float | None:
        """Share of this rule's alerts that name a planted finding."""
        raised = self.caught + self.false
        return self.caught / raised if raised else None

    @property
    def recall(self) -> float | None:
        """Share of planted findings that raised their alert."""
        return self.caught / self.planted if self.planted else None


@dataclass(frozen=True, slots=True)
class Quality:
    """Per-rule quality and the overall row."""

    rules: tuple[RuleQuality, ...]
    overall: RuleQuality


def score(planted: Iterable[Finding], alerted: Iterable[Finding]) -> Quality:
    """Compare planted findings with the findings alerted (both as (rule, subject type, subject id))."""
    planted_set, alerted_set = set(planted), set(alerted)
    rules = sorted({f[0] for f in planted_set | alerted_set})
    rows = []
    for rule in rules:
        mine = {f for f in planted_set if f[0] == rule}
        raised = {f for f in alerted_set if f[0] == rule}
        rows.append(RuleQuality(
            rule_id=rule, planted=len(mine), caught=len(mine & raised), missed=len(mine - raised),
            false=len(raised - mine),
            missed_subjects=tuple(sorted(f"{t}:{s}" for _, t, s in mine - raised)),
            false_subjects=tuple(sorted(f"{t}:{s}" for _, t, s in raised - mine)),
        ))
    overall = RuleQuality(rule_id="ALL", planted=sum(r.planted for r in rows), caught=sum(r.caught for r in rows),
                          missed=sum(r.missed for r in rows), false=sum(r.false for r in rows))
    return Quality(rules=tuple(rows), overall=overall)


def alerted_findings(alerts: Iterable[Mapping[str, Any]]) -> set[Finding]:
    """The (rule, subject type, subject id) of each alert."""
    return {(a["rule_id"], a["subject_type"], a["subject_id"]) for a in alerts}


@dataclass(slots=True)
class LatencySample:
    """Event-to-alert delays in ms: prompt rules, rules that wait for stream time by design, and per rule."""

    prompt_ms: list[float] = field(default_factory=list)
    waiting_ms: list[float] = field(default_factory=list)
    by_rule_ms: dict[str, list[float]] = field(default_factory=dict)


def latencies(first_seen: Mapping[str, tuple[float, Mapping[str, Any]]], published: Mapping[str, float],
              waiting_rules: Sequence[str]) -> LatencySample:
    """For each alert: when it was first read, less when its newest trigger event was published (seconds in).

    ``first_seen`` maps alert id to (monotonic time read, first version);
    ``published`` maps event id to the monotonic time it was published.
    Alerts whose triggers were not published here are left out.
    """
    sample = LatencySample()
    for seen_at, alert in first_seen.values():
        times = [published[e] for e in alert["trigger_event_ids"] if e in published]
        if not times:
            continue
        delay_ms = (seen_at - max(times)) * 1000
        (sample.waiting_ms if alert["rule_id"] in waiting_rules else sample.prompt_ms).append(delay_ms)
        sample.by_rule_ms.setdefault(alert["rule_id"], []).append(delay_ms)
    return sample


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


@dataclass(frozen=True, slots=True)
class LabelQuality:
    """One rule's alerts against declaration-level labels (e.g. a fraud flag from inspections)."""

    rule_id: str
    alerts: int
    declarations: int
    positive: int

    @property
    def precision(self) -> float | None:
        """Share of the declarations it alerted on that carry a positive label."""
        return self.positive / self.declarations if self.declarations else None


@dataclass(frozen=True, slots=True)
class LabelReport:
    """Per rule and overall, with the base rate a rule must beat to mean anything."""

    rules: tuple[LabelQuality, ...]
    overall: LabelQuality
    declarations: int
    positives: int

    @property
    def base_rate(self) -> float | None:
        """Share of all declarations labelled positive: the precision of alerting at random."""
        return self.positives / self.declarations if self.declarations else None

    @property
    def recall(self) -> float | None:
        """Share of positive declarations some alert named."""
        return self.overall.positive / self.positives if self.positives else None


def score_against_labels(positive: set[str], declarations: int, alerts: Iterable[Mapping[str, Any]]) -> LabelReport:
    """Alerts (newest versions) against the declaration ids labelled positive, out of ``declarations``."""
    named: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for alert in alerts:
        counts[alert["rule_id"]] = counts.get(alert["rule_id"], 0) + 1
        named.setdefault(alert["rule_id"], set()).update(alert["declaration_ids"])
    rows = tuple(LabelQuality(rule, counts[rule], len(ids), len(ids & positive)) for rule, ids in sorted(named.items()))
    everything = set().union(*named.values()) if named else set()
    overall = LabelQuality("ALL", sum(counts.values()), len(everything), len(everything & positive))
    return LabelReport(rules=rows, overall=overall, declarations=declarations, positives=len(positive))
