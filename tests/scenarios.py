"""Hand-built traffic for end-to-end tests: clean shipments plus each planted pattern.

Deterministic for a seed; every event is valid; the list is in event-time
order. ``planted`` names the (rule, subject_type, subject_id) each pattern
must raise.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.kafka.events_json import to_json_document
from streams.kafka.topics import EVENT_KINDS, PUBLIC_TOPICS
from tests.builders import HOUR, MINUTE, T0, declaration, gate_event, manifest, parcel

Event = tuple[str, dict[str, Any]]


@dataclass
class Scenario:
    """Events in event-time order and the findings planted in them."""

    events: list[Event] = field(default_factory=list)
    planted: set[tuple[str, str, str]] = field(default_factory=set)

    def add(self, kind: str, record: dict[str, Any]) -> None:
        self.events.append((kind, record))

    def sort(self) -> None:
        self.events.sort(key=lambda item: item[1]["event_time"])

    def write_jsonl(self, path: Path) -> Path:
        """The events as a ``cargoguard replay`` file."""
        with path.open("w", encoding="utf-8") as out:
            for kind, record in self.events:
                document = to_json_document(PUBLIC_TOPICS[EVENT_KINDS[kind]].schema, record)
                out.write(json.dumps({"kind": kind, **document}) + "\n")
        return path


def clean_shipment(scenario: Scenario, rng: random.Random, start: int, tag: str) -> None:
    """Lodged, manifested, cleared, in and out with intact seals."""
    doc, container = f"BL-{tag}", f"MSCU{rng.randrange(10**6, 10**7)}"
    weight, packages = rng.uniform(500, 20_000), rng.randint(1, 400)
    lodged = declaration(event_id=f"e-{tag}-l", declaration_id=f"D-{tag}", transport_doc_no=doc,
                         container_nos=[container], gross_weight_kg=round(weight, 1),
                         package_count=packages, event_time=start, importer_id=f"IMP-{tag}")
    scenario.add("declaration", lodged)
    scenario.add("manifest", manifest(doc, event_id=f"e-{tag}-m", container_nos=[container],
                                      gross_weight_kg=round(weight * rng.uniform(0.97, 1.03), 1),
                                      package_count=packages, event_time=start + rng.randint(-HOUR, HOUR)))
    scenario.add("gate_event", gate_event("IN", event_id=f"e-{tag}-in", container_no=container,
                                          event_time=start + 2 * HOUR))
    cleared_at = start + 3 * HOUR
    scenario.add("declaration", dict(lodged, event_id=f"e-{tag}-c", action="CLEARED", event_time=cleared_at))
    out = {"container_no": container} if rng.random() < 0.5 else {"transport_doc_no": doc}
    scenario.add("gate_event", gate_event("OUT", event_id=f"e-{tag}-out", event_time=cleared_at + 30 * MINUTE,
                                          **out))


def build(seed: int = 1, clean_shipments: int = 40, clean_parcels: int = 60) -> Scenario:
    """Clean traffic plus one of each pattern of the first four rules and UNDERVALUATION.

    Each planted shipment has its own declarant: a score counts the alerts on the
    declarant known when it is raised, which depends on arrival order across
    subjects, and the tests compare explanations (scores included) exactly.
    """
    rng = random.Random(seed)
    scenario = Scenario()
    for i in range(clean_shipments):
        clean_shipment(scenario, rng, T0 + rng.randint(0, 6 * HOUR), f"c{seed}-{i}")
    for i in range(clean_parcels):
        # Each clean buyer gets at most two parcels: never a split pattern.
        buyer = f"BUYER-{seed}-{i // 2}"
        scenario.add("declaration", parcel(buyer, round(rng.uniform(5, 80), 2), T0 + rng.randint(0, 8 * HOUR),
                                           event_id=f"e-p{seed}-{i}", declaration_id=f"P-{seed}-{i}"))

    splitter = f"SPLITTER-{seed}"
    for i in range(5):
        scenario.add("declaration", parcel(splitter, 30.0, T0 + HOUR + i * 20 * MINUTE,
                                           event_id=f"e-s{seed}-{i}", declaration_id=f"S-{seed}-{i}"))
    scenario.planted.add(("SPLIT_SHIPMENT", "IMPORTER", splitter))

    doc = f"BL-MISMATCH-{seed}"
    scenario.add("manifest", manifest(doc, event_id=f"e-mm{seed}-m", gross_weight_kg=1_000.0,
                                      event_time=T0 + HOUR))
    scenario.add("declaration", declaration(event_id=f"e-mm{seed}-d", transport_doc_no=doc,
                                            declarant_id=f"DCL-MM-{seed}", gross_weight_kg=1_450.0,
                                            event_time=T0 + 2 * HOUR))
    scenario.planted.add(("MANIFEST_MISMATCH", "SHIPMENT", doc))

    doc = f"BL-NOCLEAR-{seed}"
    scenario.add("declaration", declaration(event_id=f"e-nc{seed}-d", transport_doc_no=doc,
                                            declarant_id=f"DCL-NC-{seed}", event_time=T0 + 3 * HOUR))
    scenario.add("gate_event", gate_event("OUT", event_id=f"e-nc{seed}-out", transport_doc_no=doc,
                                          event_time=T0 + 4 * HOUR))
    scenario.planted.add(("EXIT_WITHOUT_CLEARANCE", "SHIPMENT", doc))

    ghost = f"GHST{seed:07d}"
    scenario.add("gate_event", gate_event("OUT", event_id=f"e-gh{seed}-out", container_no=ghost,
                                          event_time=T0 + 5 * HOUR))
    scenario.planted.add(("EXIT_WITHOUT_CLEARANCE", "CONTAINER", ghost))

    doc = f"BL-SEAL-{seed}"
    sealed = declaration(event_id=f"e-se{seed}-d", transport_doc_no=doc, declarant_id=f"DCL-SE-{seed}",
                         event_time=T0 + HOUR)
    scenario.add("declaration", sealed)
    scenario.add("gate_event", gate_event("IN", event_id=f"e-se{seed}-in", transport_doc_no=doc,
                                          seal_intact=False, event_time=T0 + 2 * HOUR))
    scenario.planted.add(("SEAL_BROKEN", "SHIPMENT", doc))

    doc = f"BL-CHEAP-{seed}"
    cheap = declaration(event_id=f"e-uv{seed}-d", transport_doc_no=doc, declarant_id=f"DCL-UV-{seed}",
                        event_time=T0 + 2 * HOUR,
                        total_value_usd=900.0)
    cheap["items"] = [dict(cheap["items"][0], value_usd=900.0)]  # 1 USD/kg of power adapters
    scenario.add("declaration", cheap)
    scenario.planted.add(("UNDERVALUATION", "SHIPMENT", doc))

    # Traffic hours later on every feed, so stream time passes every pending decision.
    for i in range(8):
        scenario.add("declaration", declaration(event_id=f"e-tail{seed}-{i}", event_time=T0 + 12 * HOUR + i))
        scenario.add("gate_event", gate_event("IN", event_id=f"e-tailg{seed}-{i}", gate_id=f"G-{i}",
                                              event_time=T0 + 12 * HOUR + i))
        scenario.add("manifest", manifest(f"BL-TAIL-{seed}-{i}", event_id=f"e-tailm{seed}-{i}",
                                          event_time=T0 + 12 * HOUR + i))
    scenario.sort()
    return scenario
