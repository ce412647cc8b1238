"""UNDERVALUATION: goods declared at a unit value far below what such goods cost.

Threshold (rules file): ``ratio`` (0.3): an item's value per kg of net weight
below 0.3 x the reference unit value of its 6-digit HS code.

Reference: the median unit value of the ``sample_size`` (200) most recent
declarations of that HS code seen in the stream, once there are at least
``min_observations`` (30) of them; before that, the shipped reference price
table (``agents/reference_prices.csv``, whose source and date the evidence
quotes). No reference, no judgement. A median ignores the undervalued few.

Window: none. Each declaration version is judged once stream time has passed
it, against the declarations of the same HS code before it in event time, so
a replay at any speed learns and judges alike.

Finding: one per declaration and HS code (its lowest-priced item), on the shipment (its transport
document); an amendment that is still undervalued updates the same alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agents.rules.config import RuleBook
from agents.rules.findings import Evidence, Finding, format_percent, format_usd
from agents.rules.reference_prices import PriceTable

RULE_ID = "UNDERVALUATION"


@dataclass(frozen=True, slots=True)
class PricedLine:
    """The lowest-priced item one declaration version declares under one HS6 code."""

    declaration_id: str
    event_id: str
    event_time: int
    hs6: str
    description: str
    net_weight_kg: float
    value_usd: float
    office_code: str
    transport_doc_no: str
    declarant_id: str
    importer_id: str
    container_nos: tuple[str, ...]

    @property
    def unit_value(self) -> float | None:
        """USD per kg of net weight; None when the weight gives no basis."""
        return self.value_usd / self.net_weight_kg if self.net_weight_kg > 0 else None


@dataclass(frozen=True, slots=True)
class Reference:
    """The unit value goods of one HS code are expected to have, and where it comes from."""

    usd_per_kg: float
    origin: str


def sorted_median(ascending: Sequence[float]) -> float:
    """The median of a non-empty ascending sequence (the mean of the middle two when even)."""
    middle = len(ascending) // 2
    if len(ascending) % 2:
        return ascending[middle]
    return (ascending[middle - 1] + ascending[middle]) / 2


def reference_for(hs6: str, learned: Sequence[float], table: PriceTable, rules: RuleBook) -> Reference | None:
    """The learned median once there are enough observations, else the shipped table's figure.

    ``learned`` is in ascending order: the HS code subject keeps it sorted, so
    the median is read off, not computed by a sort per judged line.
    """
    config = rules.enabled(RULE_ID)
    if config is None:
        return None
    if learned and len(learned) >= config.number("min_observations"):
        return Reference(sorted_median(learned),
                         f"median of the last {len(learned)} declarations of HS {hs6} in the stream")
    shipped = table.get(hs6)
    if shipped is None:
        return None
    return Reference(shipped.usd_per_kg, f"reference table ({table.source}, {table.as_of})")


def evaluate(line: PricedLine, reference: Reference | None, rules: RuleBook) -> Finding | None:
    """A finding when ``line``'s unit value is below ``ratio`` x the reference."""
    config = rules.enabled(RULE_ID)
    unit_value = line.unit_value
    if config is None or reference is None or unit_value is None:
        return None
    ratio = config.number("ratio")
    floor = ratio * reference.usd_per_kg
    if unit_value >= floor:
        return None
    share = unit_value / reference.usd_per_kg
    goods = f"HS {line.hs6} ({line.description})" if line.description else f"HS {line.hs6}"
    return Finding(
        rule_id=RULE_ID,
        identity=identity(line.declaration_id, line.hs6),
        severity=config.severity,
        subject_type="SHIPMENT",
        subject_id=line.transport_doc_no,
        office_code=line.office_code,
        event_time=line.event_time,
        window_start=line.event_time,
        explanation=(f"Declaration {line.declaration_id} values an item of {goods} at {format_usd(unit_value)} per kg, "
                     f"{format_percent(share)} of the reference {format_usd(reference.usd_per_kg)} per kg "
                     f"({reference.origin})."),
        evidence=(
            Evidence(name="unit_value_usd_per_kg", observed=format_usd(unit_value),
                     expected=f">= {format_usd(floor)} ({ratio:g} x reference {format_usd(reference.usd_per_kg)})"),
            Evidence(name="declared", observed=f"{format_usd(line.value_usd)} for {line.net_weight_kg:,.1f} kg",
                     expected=f"about {format_usd(reference.usd_per_kg * line.net_weight_kg)}"),
            Evidence(name="reference_source", observed=reference.origin, expected=""),
        ),
        trigger_event_ids=(line.event_id,),
        declaration_ids=(line.declaration_id,),
        transport_doc_no=line.transport_doc_no,
        container_nos=line.container_nos,
        rule_version=config.version,
        declarant_id=line.declarant_id,
        importer_id=line.importer_id,
    )


def identity(declaration_id: str, hs6: str) -> str:
    """What the alert id is derived from: the declaration and the HS code."""
    return f"{declaration_id}|{hs6}"
