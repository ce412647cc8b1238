"""Builders of valid input events with sensible defaults, for tests.

Times are epoch milliseconds. ``T0`` is 2026-01-05T00:00:00Z; ``MINUTE`` and
``HOUR`` help write scenarios as offsets from it.
"""

from __future__ import annotations

import itertools
import random
from datetime import datetime
from typing import Any

T0 = 1_767_571_200_000
MINUTE = 60_000
HOUR = 60 * MINUTE
PARCEL_USD_PER_KG = 50.0

_ids = itertools.count(1)


def millis(moment: datetime) -> int:
    """Epoch milliseconds of a time read back from Avro (``timestamp-millis`` decodes to a datetime)."""
    return round(moment.timestamp() * 1000)


def next_id(prefix: str) -> str:
    """A fresh id with a readable prefix."""
    return f"{prefix}{next(_ids)}"


def declaration(**fields: Any) -> dict[str, Any]:
    """A valid STANDARD IMPORT declaration; override any field."""
    record: dict[str, Any] = {
        "event_id": next_id("ev-d"),
        "event_time": T0,
        "declaration_id": next_id("D"),
        "action": "LODGED",
        "procedure": "IMPORT",
        "channel": "STANDARD",
        "office_code": "VNSGN01",
        "declarant_id": "DCL-1",
        "importer_id": next_id("IMP"),
        "transport_doc_no": next_id("BL"),
        "container_nos": [],
        "destination_office": None,
        "transit_deadline": None,
        "seller_id": None,
        "departure_country": None,
        "tax_type": None,
        "total_value_usd": 12_000.0,
        "gross_weight_kg": 1_000.0,
        "package_count": 10,
        "items": [{
            "hs_code": "85044090",
            "description": "power adapters",
            "origin_country": "CN",
            "quantity": 500.0,
            "unit": "pcs",
            "net_weight_kg": 900.0,
            "value_usd": 12_000.0,
        }],
    }
    record.update(fields)
    return record


def parcel(importer_id: str, value_usd: float, event_time: int, **fields: Any) -> dict[str, Any]:
    """A low-value e-commerce import declaration to ``importer_id``."""
    defaults: dict[str, Any] = {
        "importer_id": importer_id, "channel": "ECOMMERCE", "total_value_usd": value_usd,
        "event_time": event_time, "gross_weight_kg": 0.5, "package_count": 1,
        "declarant_id": "PLATFORM-1", "transport_doc_no": next_id("AWB"),
        # Weight follows value (50 USD per kg), so no parcel looks undervalued next to the others.
        "items": [{"hs_code": "640399", "description": "shoes", "origin_country": "CN", "quantity": 1.0,
                   "unit": "pair", "net_weight_kg": round(value_usd / PARCEL_USD_PER_KG, 3), "value_usd": value_usd}],
    }
    return declaration(**{**defaults, **fields})


def manifest(transport_doc_no: str, **fields: Any) -> dict[str, Any]:
    """A valid SEA manifest line for ``transport_doc_no``; override any field."""
    record: dict[str, Any] = {
        "event_id": next_id("ev-m"),
        "event_time": T0,
        "manifest_id": next_id("M"),
        "office_code": "VNSGN01",
        "mode": "SEA",
        "carrier_id": "CARRIER-1",
        "voyage_no": "V001",
        "transport_doc_no": transport_doc_no,
        "container_nos": [],
        "consignee_id": "IMP-X",
        "port_of_loading": "CNSHA",
        "port_of_discharge": "VNSGN",
        "goods_description": "power adapters",
        "hs_code": "850440",
        "package_count": 10,
        "gross_weight_kg": 1_000.0,
    }
    record.update(fields)
    return record


def gate_event(direction: str = "IN", **fields: Any) -> dict[str, Any]:
    """A valid gate event (intact seal, no weighbridge reading); override any field."""
    record: dict[str, Any] = {
        "event_id": next_id("ev-g"),
        "event_time": T0,
        "office_code": "VNSGN01",
        "gate_id": "GATE-3",
        "direction": direction,
        "vehicle_plate": "51C-12345",
        "container_no": None,
        "transport_doc_no": None,
        "seal_no": "SL-778",
        "seal_intact": True,
        "cargo_weight_kg": None,
        "scan_result": "CLEAR",
    }
    record.update(fields)
    return record


def split_parcels(count: int, start: int) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """A new importer and ``count`` 25 USD parcels to it, a minute apart from ``start``."""
    buyer = next_id("BUYER")
    return buyer, [("declaration", parcel(buyer, 25.0, start + i * MINUTE)) for i in range(count)]


def stream_time_movers(start: int) -> list[tuple[str, dict[str, Any]]]:
    """Events two hours after ``start`` on the declaration and gate feeds: stream time passes what came before."""
    return [("declaration", declaration(event_time=start + 2 * HOUR)),
            ("gate_event", gate_event("IN", event_time=start + 2 * HOUR))]


def alert(**fields: Any) -> dict[str, Any]:
    """An alert record as a worker writes it (current schema), for tests that feed ``cargo.alerts`` directly."""
    alert_id = fields.pop("alert_id", next_id("AL"))
    doc = fields.pop("transport_doc_no", next_id("BL"))
    record: dict[str, Any] = {
        "alert_id": alert_id, "rule_id": "SEAL_BROKEN", "severity": "HIGH", "score": 70,
        "office_code": "VNHPH01", "gate_id": "G1", "subject_type": "SHIPMENT", "subject_id": doc,
        "declaration_ids": [next_id("D")], "transport_doc_no": doc, "container_nos": ["MSCU1234567"],
        "event_time": T0, "detected_at": T0 + 1_000, "window_start": T0, "window_end": None,
        "explanation": "the seal was found broken at the gate",
        "evidence": [{"name": "seal", "observed": "broken", "expected": "intact"}],
        "trigger_event_ids": [next_id("G")], "version": 1, "rule_version": 0,
        "declarant_id": None, "importer_id": None, "prior_alerts": 0,
    }
    return record | fields


def shipment_alerts(office: str = "VNHPH01", doc: str | None = None) -> list[dict[str, Any]]:
    """Two findings on one shipment (a broken seal, then an exit without clearance): one case."""
    doc = doc or next_id("BL") + "-S"  # never a part of another such id (a page test looks rows up by it)
    declarations = [next_id("D")]
    return [alert(transport_doc_no=doc, office_code=office, rule_id="SEAL_BROKEN", score=70, severity="HIGH",
                  declaration_ids=declarations),
            alert(transport_doc_no=doc, office_code=office, rule_id="EXIT_WITHOUT_CLEARANCE", score=80,
                  severity="CRITICAL", subject_id=doc, declaration_ids=declarations)]


# A quarter of the importers of ``inspected`` break the rules.
RISKY_IMPORTERS = {f"IMP-{n}" for n in range(0, 40, 4)}


def inspected(count: int, start_ms: int, seed: int, **fields: Any) -> list[tuple[dict[str, Any], bool]]:
    """Inspected declarations of 40 importers, a minute apart, with their outcome.

    The risky importers' declarations are infractions 80 % of the time, the others' 5 %.
    """
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        importer = f"IMP-{rng.randrange(40)}"
        record = declaration(importer_id=importer, declarant_id=f"DCL-{rng.randrange(10)}",
                             event_time=start_ms + n * 60_000, total_value_usd=rng.uniform(1_000, 20_000), **fields)
        rows.append((record, rng.random() < (0.8 if importer in RISKY_IMPORTERS else 0.05)))
    return rows
