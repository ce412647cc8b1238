"""SPLIT_SHIPMENT: an order split into parcels to stay under the duty-free threshold.

Thresholds (rules file): each consignment declared under ``de_minimis_usd``
(40 USD); at least ``min_declarations`` (4) of them for one importer whose
values sum to more than ``min_total_usd`` (80 USD).

Window: ``window_hours`` (24 h) of event time, sliding. Only ECOMMERCE and
EXPRESS import declarations count; cancelled ones do not.

Finding: one per cluster of overlapping qualifying windows, identified by the
cluster's first parcel. Parcels are judged only once stream time has passed
them, so a replay at any speed finds the same clusters; a cluster that keeps
growing updates its alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agents.rules.config import RuleBook
from agents.rules.findings import Evidence, Finding, format_usd
from agents.rules.windows import sliding_clusters

RULE_ID = "SPLIT_SHIPMENT"
SPLIT_CHANNELS = frozenset({"ECOMMERCE", "EXPRESS"})
HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class Parcel:
    """One low-value consignment to the importer."""

    declaration_id: str
    event_id: str
    event_time: int
    value_usd: float
    office_code: str
    transport_doc_no: str

    @property
    def tiebreak(self) -> str:
        """Orders parcels of the same time."""
        return self.declaration_id


@dataclass(frozen=True, slots=True)
class Cluster:
    """Parcels of overlapping qualifying windows, in event-time order."""

    parcels: tuple[Parcel, ...]

    @property
    def anchor(self) -> Parcel:
        """The cluster's first parcel."""
        return self.parcels[0]


def window_ms(rules: RuleBook) -> int:
    """The sliding window length in milliseconds."""
    return int(rules[RULE_ID].number("window_hours") * HOUR_MS)


def min_declarations(rules: RuleBook) -> int:
    """How many qualifying consignments a cluster needs at least."""
    return int(rules[RULE_ID].number("min_declarations"))


def qualifies(channel: str, procedure: str, value_usd: float, rules: RuleBook) -> bool:
    """True when a declaration is a low-value e-commerce/express import."""
    config = rules[RULE_ID]
    return (
        channel in SPLIT_CHANNELS
        and procedure == "IMPORT"
        and value_usd < config.number("de_minimis_usd")
    )


def find_clusters(parcels: Sequence[Parcel], rules: RuleBook) -> list[Cluster]:
    """Clusters of parcels lying in windows that meet both thresholds.

    A window starts at each parcel and spans ``window_hours``; overlapping
    qualifying windows merge into one cluster.
    """
    config = rules[RULE_ID]
    min_count = min_declarations(rules)
    if len(parcels) < min_count:
        return []  # most importers: no window can qualify, so none is built
    min_total = config.number("min_total_usd")

    def qualifying(window: Sequence[Parcel], _first: Parcel) -> bool:
        return len(window) >= min_count and sum(p.value_usd for p in window) > min_total

    return [Cluster(tuple(c)) for c in sliding_clusters(parcels, window_ms(rules), qualifying)]


def identity(importer_id: str, anchor_declaration_id: str) -> str:
    """What makes a cluster this cluster: its importer and its first parcel."""
    return f"{importer_id}|{anchor_declaration_id}"


def finding_for(importer_id: str, cluster: Cluster, identity_anchor: str, rules: RuleBook) -> Finding | None:
    """The alert-ready finding for a cluster; ``identity_anchor`` keeps an earlier id."""
    config = rules.enabled(RULE_ID)
    if config is None:
        return None
    parcels = cluster.parcels
    total = sum(p.value_usd for p in parcels)
    de_minimis = config.number("de_minimis_usd")
    first, last = parcels[0], parcels[-1]
    hours = (last.event_time - first.event_time) / HOUR_MS
    return Finding(
        rule_id=RULE_ID,
        identity=identity(importer_id, identity_anchor),
        severity=config.severity,
        subject_type="IMPORTER",
        subject_id=importer_id,
        office_code=last.office_code,
        event_time=last.event_time,
        window_start=first.event_time,
        window_end=last.event_time,
        explanation=(
            f"Importer {importer_id} received {len(parcels)} low-value consignments within "
            f"{hours:.1f} h, each under the {format_usd(de_minimis)} duty-free limit but "
            f"{format_usd(total)} together: likely one order split to avoid duty."
        ),
        evidence=(
            Evidence(name="consignments", observed=str(len(parcels)),
                     expected=f"fewer than {int(config.number('min_declarations'))} within "
                              f"{config.number('window_hours'):g} h"),
            Evidence(name="total_value_usd", observed=format_usd(total),
                     expected=f"at most {format_usd(config.number('min_total_usd'))}"),
            Evidence(name="max_value_usd", observed=format_usd(max(p.value_usd for p in parcels)),
                     expected=f"each under {format_usd(de_minimis)}"),
        ),
        trigger_event_ids=tuple(p.event_id for p in parcels),
        declaration_ids=tuple(p.declaration_id for p in parcels),
        transport_doc_no=None,
        rule_version=config.version,
        importer_id=importer_id,
    )
