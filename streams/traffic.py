"""Synthetic customs traffic with planted smuggling patterns: a pure, seeded generator.

Traffic is made of stories, each the life of one shipment or one buyer's
parcels: a declaration lodged and cleared, the carrier's manifest, the truck
or container through the gates. Stories start at random (more by day than
by night) at three offices: a seaport, an airport express hub and a land
border. A share of stories are planted patterns; every event of a planted
story carries a label naming the rule that should fire and its subject.
Labels never reach a topic: ``simulate --out`` writes them beside the event.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# Traffic follows the day: intensity between NIGHT_SHARE and 1 of the peak, peaking at 14:00 UTC.
NIGHT_SHARE = 0.3
PEAK_HOUR = 14
# Clean declarations stay within this fraction of the manifest weight (the rule's tolerance is 10 %).
CLEAN_WEIGHT_SPREAD = 0.02
# Planted weight mismatches are at least this far off.
MISMATCH_MIN_OFF = 0.35
# For the story rate: events per story on average (cargo ~6, parcel 2) and the
# average of the daily intensity curve.
MEAN_EVENTS_PER_STORY = 3.9
MEAN_INTENSITY = (1 + NIGHT_SHARE) / 2
# E-commerce values (USD): log-normal around ~45 USD, some above the 40 USD de minimis.
PARCEL_VALUE_MU, PARCEL_VALUE_SIGMA = math.log(45), 0.9


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """What to generate."""

    seed: int
    start_ms: int
    duration_s: float
    rate: float
    pattern_rate: float = 0.05
    time_scale: float = 1.0


@dataclass(frozen=True, slots=True)
class SimulatedEvent:
    """One generated event; ``label`` is set on planted stories only."""

    kind: str
    record: dict[str, Any]
    label: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class Office:
    """A customs office and its gates."""

    code: str
    mode: str
    gates: tuple[str, ...]
    containerised: bool


OFFICES = {
    "seaport": Office("VNCLI01", "SEA", ("SEA-G1", "SEA-G2", "SEA-G3", "SEA-G4"), True),
    "airport": Office("VNSGN02", "AIR", ("AIR-G1", "AIR-G2"), False),
    "border": Office("VNLSN01", "ROAD", ("LND-G1", "LND-G2", "LND-G3"), True),
}


@dataclass(frozen=True, slots=True)
class Goods:
    """A kind of goods with a realistic price per kilogram."""

    hs_code: str
    description: str
    unit: str
    usd_per_kg: tuple[float, float]
    kg_per_unit: float


GOODS = (
    Goods("85044090", "power adapters", "pcs", (8, 20), 0.25),
    Goods("61091000", "cotton t-shirts", "pcs", (6, 15), 0.2),
    Goods("64039990", "leather shoes", "pair", (15, 40), 0.9),
    Goods("84713000", "laptops", "pcs", (150, 400), 2.2),
    Goods("39269099", "plastic articles", "kg", (2, 6), 1.0),
    Goods("94036000", "wooden furniture", "pcs", (3, 8), 25.0),
    Goods("87089999", "vehicle parts", "kg", (5, 15), 1.0),
    Goods("30049099", "medicaments", "kg", (40, 200), 1.0),
    Goods("09011100", "coffee beans", "kg", (2, 5), 1.0),
    Goods("72085100", "steel plates", "kg", (0.5, 1.2), 1.0),
    Goods("85171300", "smartphones", "pcs", (300, 1200), 0.4),
    Goods("95030000", "toys", "pcs", (5, 15), 0.5),
)
PARCEL_GOODS = (GOODS[1], GOODS[2], GOODS[11], GOODS[0])
ORIGINS = ("CN", "CN", "CN", "VN", "KR", "JP", "TH", "US", "DE", "IN", "MY", "ID")
CONTAINER_OWNERS = ("MSCU", "MAEU", "CMAU", "HLXU", "OOLU", "EGLV", "TGHU")
CARRIERS = {"SEA": ("MSC", "MAERSK", "CMA-CGM"), "AIR": ("VN-AIR", "DHL", "FEDEX"), "ROAD": ("VTRANS", "SGL")}
PORTS = {"SEA": ("CNSHA", "SGSIN", "KRPUS", "HKHKG"), "AIR": ("HKG", "ICN", "NRT", "PVG"),
         "ROAD": ("CNPXG", "KHPNH", "LAVTE")}


class _Ids:
    """Readable, unique identifiers from the story's random source."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.counter = itertools.count(1)
        self.containers: set[str] = set()

    def next(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter):07d}"

    def container(self) -> str:
        while True:
            number = f"{self.rng.choice(CONTAINER_OWNERS)}{self.rng.randrange(10**7):07d}"
            if number not in self.containers:
                self.containers.add(number)
                return number

    def plate(self) -> str:
        return f"{self.rng.randint(11, 99)}{self.rng.choice('ABCDH')}-{self.rng.randrange(10**5):05d}"


@dataclass
class _Story:
    """Builds one story's events; ``at`` offsets are scaled by the config's time scale."""

    start: int
    scale: float
    label: dict[str, str] | None
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)

    def at(self, offset_ms: float) -> int:
        return self.start + int(offset_ms / self.scale)

    def add(self, kind: str, time: int, record: dict[str, Any]) -> None:
        self.events.append((time, kind, record))


class TrafficGenerator:
    """Turns a ``SimulationConfig`` into events; one instance generates one stream."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.ids = _Ids(self.rng)
        self.declarants = [f"DCL{self.rng.randrange(10**8):08d}" for _ in range(300)]
        self.platforms = ["PLAT-SHOPEE", "PLAT-LAZADA", "PLAT-TIKI", "PLAT-AMAZON"]
        self.importers = [f"IMP{self.rng.randrange(10**8):08d}" for _ in range(1500)]
        # Story kinds: (weight among clean or planted stories, builder).
        self.clean: list[tuple[float, Callable[[_Story], None]]] = [
            (0.45, self.cargo), (0.55, self.parcel),
        ]
        self.planted: list[tuple[float, Callable[[_Story], None]]] = [
            (1.0, self.split_shipment), (1.0, self.manifest_mismatch),
            (0.5, self.exit_without_clearance), (0.5, self.unknown_container_exit),
            (1.0, self.seal_broken),
        ]

    # --- scheduling -----------------------------------------------------------

    def events(self) -> Iterator[SimulatedEvent]:
        """Every event of every story, in event-time order."""
        config = self.config
        stories_per_ms = config.rate / (MEAN_EVENTS_PER_STORY * MEAN_INTENSITY) / 1000
        end = config.start_ms + int(config.duration_s * 1000)
        heap: list[tuple[int, int, str, dict[str, Any], dict[str, str] | None]] = []
        order = itertools.count()
        time = float(config.start_ms)
        while True:
            # Thinning gives the daily rhythm: draw at peak rate, keep by intensity.
            time += self.rng.expovariate(stories_per_ms)
            if time >= end:
                break
            while heap and heap[0][0] <= time:
                yield self._pop(heap)
            if self.rng.random() > self.intensity(int(time)):
                continue
            story = self.story(int(time))
            for event_time, kind, record in story.events:
                record["event_time"] = event_time
                heapq.heappush(heap, (event_time, next(order), kind, record, story.label))
        while heap:
            yield self._pop(heap)

    @staticmethod
    def _pop(heap: list[tuple[int, int, str, dict[str, Any], dict[str, str] | None]]) -> SimulatedEvent:
        _time, _order, kind, record, label = heapq.heappop(heap)
        return SimulatedEvent(kind, record, dict(label) if label else None)

    @staticmethod
    def intensity(time_ms: int) -> float:
        """The share of the peak story rate at this time of day."""
        hour = (time_ms % DAY) / HOUR
        return NIGHT_SHARE + (1 - NIGHT_SHARE) * (1 + math.cos((hour - PEAK_HOUR) / 24 * 2 * math.pi)) / 2

    def story(self, start: int) -> _Story:
        """A clean or planted story starting at ``start``."""
        planted = self.rng.random() < self.config.pattern_rate
        kinds = self.planted if planted else self.clean
        builder = self.rng.choices([b for _, b in kinds], weights=[w for w, _ in kinds])[0]
        story = _Story(start=start, scale=self.config.time_scale, label=None)
        builder(story)
        return story

    # --- building blocks -------------------------------------------------------

    def items(self, goods: Goods, lines: int) -> list[dict[str, Any]]:
        """Declaration items of ``goods`` at a realistic price per kilogram."""
        items = []
        for _ in range(lines):
            quantity = float(self.rng.randint(10, 2000))
            net_kg = round(quantity * goods.kg_per_unit * self.rng.uniform(0.9, 1.1), 1)
            value = round(net_kg * self.rng.uniform(*goods.usd_per_kg), 2)
            items.append({"hs_code": goods.hs_code, "description": goods.description,
                          "origin_country": self.rng.choice(ORIGINS), "quantity": quantity,
                          "unit": goods.unit, "net_weight_kg": net_kg, "value_usd": value})
        return items

    def declaration(self, office: Office, doc: str, importer: str, items: list[dict[str, Any]],
                    containers: list[str], channel: str = "STANDARD",
                    declarant: str | None = None) -> dict[str, Any]:
        """A lodged import declaration (gross weight a little over the items' net weight)."""
        net = sum(i["net_weight_kg"] for i in items)
        return {
            "event_id": self.ids.next("EV-D"),
            "event_time": 0,
            "declaration_id": self.ids.next("DEC"),
            "action": "LODGED",
            "procedure": "IMPORT",
            "channel": channel,
            "office_code": office.code,
            "declarant_id": declarant or self.rng.choice(self.declarants),
            "importer_id": importer,
            "transport_doc_no": doc,
            "container_nos": containers,
            "destination_office": None,
            "transit_deadline": None,
            "total_value_usd": round(sum(i["value_usd"] for i in items), 2),
            "gross_weight_kg": round(net * self.rng.uniform(1.04, 1.12), 1),
            "package_count": max(1, int(sum(i["quantity"] for i in items) // self.rng.choice((1, 10, 50)))),
            "items": items,
        }

    def again(self, declaration: dict[str, Any], action: str) -> dict[str, Any]:
        """The same declaration, a later action (full state, as the contract says)."""
        return {**declaration, "event_id": self.ids.next("EV-D"), "action": action}

    def manifest(self, office: Office, declaration: dict[str, Any], weight_kg: float,
                 packages: int) -> dict[str, Any]:
        """The carrier's manifest line for a declaration's transport document."""
        item = declaration["items"][0]
        return {
            "event_id": self.ids.next("EV-M"),
            "event_time": 0,
            "manifest_id": self.ids.next("MAN"),
            "office_code": office.code,
            "mode": office.mode,
            "carrier_id": self.rng.choice(CARRIERS[office.mode]),
            "voyage_no": f"{office.mode[:1]}{self.rng.randint(100, 999)}",
            "transport_doc_no": declaration["transport_doc_no"],
            "container_nos": list(declaration["container_nos"]),
            "consignee_id": declaration["importer_id"],
            "port_of_loading": self.rng.choice(PORTS[office.mode]),
            "port_of_discharge": office.code[:5],
            "goods_description": item["description"],
            "hs_code": item["hs_code"][:6],
            "package_count": packages,
            "gross_weight_kg": round(weight_kg, 1),
        }

    def gate(self, office: Office, direction: str, plate: str, *, doc: str | None = None,
             container: str | None = None, seal_intact: bool | None = True) -> dict[str, Any]:
        """A gate passage; seals are read on containers only."""
        return {
            "event_id": self.ids.next("EV-G"),
            "event_time": 0,
            "office_code": office.code,
            "gate_id": self.rng.choice(office.gates),
            "direction": direction,
            "vehicle_plate": plate,
            "container_no": container,
            "transport_doc_no": doc,
            "seal_no": f"SL{self.rng.randrange(10**6):06d}" if container else None,
            "seal_intact": seal_intact if container else None,
            "cargo_weight_kg": None,
            "scan_result": self.rng.choice(("CLEAR", "CLEAR", "NOT_SCANNED")),
        }

    def cargo_shipment(self, story: _Story, *, weight_factor: float = 1.0, extra_packages: int = 0,
                       cleared: bool = True, seal_intact: bool = True) -> dict[str, Any]:
        """A full cargo shipment; the keyword arguments bend it into a pattern."""
        office = OFFICES[self.rng.choice(("seaport", "seaport", "border"))]
        goods = self.rng.choice(GOODS)
        containers = [self.ids.container() for _ in range(self.rng.randint(1, 2))]
        doc = self.ids.next("BL" if office.mode == "SEA" else "CMR")
        declaration = self.declaration(office, doc, self.rng.choice(self.importers),
                                       self.items(goods, self.rng.randint(1, 3)), containers)
        manifest_weight = declaration["gross_weight_kg"] * self.rng.uniform(1 - CLEAN_WEIGHT_SPREAD,
                                                                             1 + CLEAN_WEIGHT_SPREAD)
        declaration["gross_weight_kg"] = round(declaration["gross_weight_kg"] * weight_factor, 1)
        manifest_packages = declaration["package_count"] + extra_packages
        # Offsets never go below zero, so stories start in event-time order. The
        # manifest usually precedes the declaration, sometimes follows it.
        manifest_at, lodged_at = 0.0, self.rng.uniform(0.5, 6) * HOUR
        if self.rng.random() < 0.25:
            manifest_at, lodged_at = lodged_at, 0.0
        story.add("manifest", story.at(manifest_at),
                  self.manifest(office, declaration, manifest_weight, manifest_packages))
        story.add("declaration", story.at(lodged_at), declaration)
        if self.rng.random() < 0.15:
            amended = self.again(declaration, "AMENDED")
            amended["total_value_usd"] = round(amended["total_value_usd"] * self.rng.uniform(1.0, 1.1), 2)
            story.add("declaration", story.at(lodged_at + 0.5 * HOUR), amended)
            declaration = amended
        plate = self.ids.plate()
        arrival = max(manifest_at, lodged_at) + self.rng.uniform(1, 6) * HOUR
        for container in containers:
            by_doc = self.rng.random() < 0.3
            story.add("gate_event", story.at(arrival), self.gate(
                office, "IN", plate, container=container, doc=doc if by_doc else None,
                seal_intact=seal_intact))
        clearance = arrival + self.rng.uniform(1, 12) * HOUR
        if cleared:
            story.add("declaration", story.at(clearance), self.again(declaration, "CLEARED"))
        departure = clearance + self.rng.uniform(10, 120) * MINUTE
        for container in containers:
            by_doc = self.rng.random() < 0.3
            story.add("gate_event", story.at(departure), self.gate(
                office, "OUT", plate, container=container, doc=doc if by_doc else None))
        return declaration

    # --- clean stories ---------------------------------------------------------

    def cargo(self, story: _Story) -> None:
        """A clean containerised shipment."""
        self.cargo_shipment(story)

    def parcel(self, story: _Story) -> None:
        """One e-commerce or express parcel to a one-off buyer."""
        office = OFFICES["airport"]
        buyer = f"BUY{self.rng.randrange(10**9):09d}"
        self.parcel_declaration(story, office, buyer, round(self.rng.lognormvariate(PARCEL_VALUE_MU,
                                                                                       PARCEL_VALUE_SIGMA), 2), 0)

    def parcel_declaration(self, story: _Story, office: Office, buyer: str, value: float,
                           offset: float) -> None:
        """A parcel declaration lodged at ``offset`` and cleared soon after."""
        goods = self.rng.choice(PARCEL_GOODS)
        weight = round(self.rng.uniform(0.2, 3.0), 2)
        item = {"hs_code": goods.hs_code, "description": goods.description,
                "origin_country": self.rng.choice(("CN", "CN", "KR", "US")), "quantity": 1.0,
                "unit": goods.unit, "net_weight_kg": weight, "value_usd": value}
        declaration = self.declaration(office, self.ids.next("AWB"), buyer, [item], [],
                                       channel=self.rng.choice(("ECOMMERCE", "ECOMMERCE", "EXPRESS")),
                                       declarant=self.rng.choice(self.platforms))
        declaration["gross_weight_kg"] = round(weight * 1.1, 2)
        declaration["package_count"] = 1
        story.add("declaration", story.at(offset), declaration)
        story.add("declaration", story.at(offset + self.rng.uniform(5, 90) * MINUTE),
                  self.again(declaration, "CLEARED"))

    # --- planted patterns -------------------------------------------------------

    def split_shipment(self, story: _Story) -> None:
        """One buyer, several parcels each under 40 USD, together well over 80 USD."""
        buyer = f"BUY{self.rng.randrange(10**9):09d}"
        story.label = {"pattern": "SPLIT_SHIPMENT", "subject_type": "IMPORTER", "subject_id": buyer}
        offset = 0.0
        for _ in range(self.rng.randint(4, 8)):
            self.parcel_declaration(story, OFFICES["airport"], buyer, round(self.rng.uniform(21, 39.5), 2),
                                    offset)
            offset += self.rng.uniform(10, 150) * MINUTE

    def manifest_mismatch(self, story: _Story) -> None:
        """Declared weight far off the manifest, or packages that do not add up."""
        story.label = {"pattern": "MANIFEST_MISMATCH", "subject_type": "SHIPMENT"}
        if self.rng.random() < 0.6:
            factor = self.rng.uniform(1 + MISMATCH_MIN_OFF, 1.8) if self.rng.random() < 0.5 \
                else self.rng.uniform(0.4, 1 - MISMATCH_MIN_OFF)
            declaration = self.cargo_shipment(story, weight_factor=factor)
        else:
            declaration = self.cargo_shipment(story, extra_packages=self.rng.randint(1, 20))
        story.label["subject_id"] = declaration["transport_doc_no"]

    def exit_without_clearance(self, story: _Story) -> None:
        """Goods lodged but never cleared leave the port."""
        story.label = {"pattern": "EXIT_WITHOUT_CLEARANCE", "subject_type": "SHIPMENT"}
        declaration = self.cargo_shipment(story, cleared=False)
        story.label["subject_id"] = declaration["transport_doc_no"]

    def unknown_container_exit(self, story: _Story) -> None:
        """A container no declaration or manifest lists drives out."""
        office = OFFICES[self.rng.choice(("seaport", "border"))]
        container = self.ids.container()
        story.label = {"pattern": "EXIT_WITHOUT_CLEARANCE", "subject_type": "CONTAINER",
                       "subject_id": container}
        story.add("gate_event", story.at(0), self.gate(office, "OUT", self.ids.plate(), container=container))

    def seal_broken(self, story: _Story) -> None:
        """A container arrives with its seal broken."""
        story.label = {"pattern": "SEAL_BROKEN", "subject_type": "SHIPMENT"}
        declaration = self.cargo_shipment(story, seal_intact=False)
        story.label["subject_id"] = declaration["transport_doc_no"]


def generate(config: SimulationConfig) -> Iterator[SimulatedEvent]:
    """Generate traffic for ``config``: same config, same events."""
    return TrafficGenerator(config).events()
