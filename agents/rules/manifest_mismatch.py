"""MANIFEST_MISMATCH: the declaration does not match the carrier's manifest.

Thresholds (rules file): ``weight_tolerance`` (default 10 %) and
``high_weight_tolerance`` (30 %) on the declared gross weight relative to the
manifest's; any difference in package count.

Window: none; the check runs whenever the declaration or the manifest of a
transport document changes, so whichever of the two arrives second raises it.

Finding: one per transport document; severity ``high_severity`` above the high
tolerance, else the rule's severity. Cancelled declarations do not count; the
declared figures are summed over the document's active declarations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agents.rules.config import RuleBook
from agents.rules.findings import SEVERITIES, Evidence, Finding, format_kg, format_percent

RULE_ID = "MANIFEST_MISMATCH"


@dataclass(frozen=True, slots=True)
class DeclaredFigures:
    """One active declaration's figures on the transport document."""

    declaration_id: str
    event_id: str
    event_time: int
    office_code: str
    gross_weight_kg: float
    package_count: int
    container_nos: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ManifestFigures:
    """The carrier's manifest figures for the transport document."""

    manifest_id: str
    event_id: str
    event_time: int
    office_code: str
    gross_weight_kg: float
    package_count: int


def evaluate(
    transport_doc_no: str,
    declared: Sequence[DeclaredFigures],
    manifest: ManifestFigures | None,
    rules: RuleBook,
) -> Finding | None:
    """Compare the declared totals with the manifest; a finding if they disagree."""
    config = rules.enabled(RULE_ID)
    if config is None or manifest is None or not declared:
        return None
    tolerance = config.number("weight_tolerance")
    high_tolerance = config.number("high_weight_tolerance")

    declared_weight = sum(d.gross_weight_kg for d in declared)
    declared_packages = sum(d.package_count for d in declared)
    if manifest.gross_weight_kg > 0:
        weight_off = abs(declared_weight - manifest.gross_weight_kg) / manifest.gross_weight_kg
    else:
        weight_off = 0.0 if declared_weight == 0 else float("inf")
    packages_differ = declared_packages != manifest.package_count

    severities: list[str] = []
    evidence: list[Evidence] = []
    reasons: list[str] = []
    if weight_off > tolerance:
        severities.append(
            config.severity_param("high_severity") if weight_off > high_tolerance else config.severity
        )
        evidence.append(Evidence(
            name="gross_weight_kg",
            observed=f"declared {format_kg(declared_weight)}",
            expected=f"manifest {format_kg(manifest.gross_weight_kg)} within "
                     f"{format_percent(tolerance)}",
        ))
        off_text = "no weight" if weight_off == float("inf") else format_percent(weight_off)
        reasons.append(
            f"declared gross weight {format_kg(declared_weight)} is {off_text} off the "
            f"manifest's {format_kg(manifest.gross_weight_kg)}"
        )
    if packages_differ:
        severities.append(config.severity)
        evidence.append(Evidence(
            name="package_count",
            observed=f"declared {declared_packages}",
            expected=f"manifest {manifest.package_count}",
        ))
        reasons.append(
            f"{declared_packages} packages declared against {manifest.package_count} on the manifest"
        )
    if not severities:
        return None

    ordered = sorted(declared, key=lambda d: (d.event_time, d.declaration_id))
    times = [d.event_time for d in ordered] + [manifest.event_time]
    containers = sorted({c for d in ordered for c in d.container_nos})
    explanation = (
        f"Transport document {transport_doc_no}: " + "; ".join(reasons) +
        f" (manifest {manifest.manifest_id})."
    )
    return Finding(
        rule_id=RULE_ID,
        identity=transport_doc_no,
        severity=max(severities, key=SEVERITIES.index),
        subject_type="SHIPMENT",
        subject_id=transport_doc_no,
        office_code=ordered[0].office_code,
        event_time=max(times),
        window_start=min(times),
        window_end=max(times),
        explanation=explanation,
        evidence=tuple(evidence),
        trigger_event_ids=tuple([d.event_id for d in ordered] + [manifest.event_id]),
        declaration_ids=tuple(d.declaration_id for d in ordered),
        transport_doc_no=transport_doc_no,
        container_nos=tuple(containers),
        rule_version=config.version,
    )
