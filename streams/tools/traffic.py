"""Synthetic customs traffic with planted smuggling patterns: a pure, seeded generator.

Traffic is made of stories, each the life of one shipment or one buyer's
parcels: the carrier's manifest, a declaration lodged (sometimes amended) and
cleared, the trucks through the gates. Stories start at random, more by day
than by night, at three offices: a seaport (containers, bills of lading), an
airport express hub (air waybills, e-commerce and express parcels) and a land
border (trucks with CMRs, some with containers).

A share of stories are planted patterns: a clean story bent in one place. Every
event of a planted story carries a label naming the rule that must fire and the
subject its alert names; clean stories must raise nothing. Labels never reach a
topic: ``simulate --out`` writes them beside the event.

``STORY_KINDS`` is the registry: one builder function per kind of story and
its weight. A new pattern is a new function and a new row.

Identifiers that the worker keys state on (event, declaration, manifest and
transport document numbers, containers, buyers) come from a source seeded with
the seed *and* the start time, so two live runs never share a shipment; every
other choice comes from the seed alone.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from agents.rules.reference_prices import shipped_price_table

MINUTE = 60_000
HOUR = 60 * MINUTE

# --- traffic volume ------------------------------------------------------------
# Daily rhythm, in the offices' local time (all three are in Vietnam, UTC+7):
# the story rate swings between NIGHT_SHARE of the peak and the peak at PEAK_LOCAL_HOUR.
OFFICE_UTC_OFFSET_H = 7
PEAK_LOCAL_HOUR = 14
NIGHT_SHARE = 0.3
# The mean of that daily curve, to turn the daily average rate into a peak rate.
MEAN_INTENSITY = (1 + NIGHT_SHARE) / 2
# The story rate follows the running mean of events per story; until enough
# stories are known it leans on this prior (about a 50/50 cargo/parcel mix).
PRIOR_EVENTS_PER_STORY = 4.0
PRIOR_STORIES = 50

# --- cargo shipments -------------------------------------------------------------
# Clean declarations stay within this fraction of the manifest weight: well inside
# the rule's 10 %, and within 3 % even after rounding to 0.1 kg.
CLEAN_WEIGHT_SPREAD = 0.025
# Gross weight over net weight: cartons, pallets, wrapping.
PACKAGING_FACTOR = (1.03, 1.10)
# Unit prices scatter log-normally around the goods' median, clipped so clean
# traffic never looks undervalued (the rule's bar is 0.3 x the median).
PRICE_SIGMA = 0.2
PRICE_FACTOR_RANGE = (0.6, 1.6)
ITEM_LINES = (1, 3)
# Relative weights of a declaration's lines.
ITEM_SHARE_RANGE = (0.5, 1.5)
# The declaration follows the manifest by this many hours, except for the share
# of brokers who lodge before the carrier files the manifest.
LODGE_AFTER_MANIFEST_H = (0.5, 6.0)
DECLARATION_FIRST_SHARE = 0.25
# Some declarations are amended (upwards: a clean amendment never lowers the value).
AMEND_SHARE = 0.15
AMEND_AFTER_H = (0.2, 2.0)
AMEND_VALUE_FACTOR = (1.0, 1.1)
# Goods reach the gate this long after both documents are filed.
ARRIVAL_AFTER_DOCS_H = (1.0, 6.0)
# Trucks leave this long after clearance.
DEPART_AFTER_CLEARANCE_MIN = (10.0, 120.0)
# A sea shipment's containers, one truck each, pass the gate this far apart.
SEA_CONTAINERS = (1, 3)
TRUCK_SPACING_MIN = (2.0, 15.0)
# How gate events name the shipment: IN names the container (and sometimes the
# document); OUT names only the container, the container and the document, or
# only the document (the container number was not read).
IN_NAMES_DOC_SHARE = 0.3
OUT_CONTAINER_ONLY_SHARE = 0.5
OUT_DOC_ONLY_SHARE = 0.2
# Share of containers the scanner looks into.
SCANNED_SHARE = 0.6
# Land-border trucks carrying a container rather than a sealed box body.
BORDER_CONTAINER_SHARE = 0.6
# Seaport and land-border IN gates weigh this share of trucks; the reading (less
# tare) is within WEIGHBRIDGE_SPREAD of the load: well inside the rule's 15 %.
WEIGHED_SHARE = 0.5
WEIGHBRIDGE_SPREAD = 0.03
# Transit: goods cleared at the seaport or airport travel under customs control
# to the land border, which they must reach within TRANSIT_DEADLINE_H of clearance.
TRANSIT_TRAVEL_H = (2.0, 8.0)
TRANSIT_DEADLINE_H = 12.0

# --- parcels ---------------------------------------------------------------------
# E-commerce values (USD): log-normal around ~45 USD, a little over half under the
# 40 USD de minimis.
PARCEL_VALUE_MEDIAN_USD = 45.0
PARCEL_VALUE_SIGMA = 0.9
# A parcel weighs what its value buys of its goods at a clean price; goods are
# drawn among those for which that weight is plausible for a parcel.
PARCEL_WEIGHT_KG = (0.1, 10.0)
PARCEL_CLEARED_AFTER_MIN = (5.0, 90.0)
EXPRESS_SHARE = 0.3
# Clean repeat buyers: at most REPEAT_MAX_CHEAP parcels under the de minimis, so
# they never reach the rule's 4, plus a few dearer ones, within REPEAT_SPAN_H.
DE_MINIMIS_USD = 40.0
REPEAT_MAX_CHEAP = 3
REPEAT_CHEAP_VALUE_USD = (1.0, DE_MINIMIS_USD - 1)
REPEAT_MAX_DEAR = 2
REPEAT_SPAN_H = 20.0
REPEAT_DEAR_VALUE_USD = (45.0, 400.0)

# --- planted patterns ------------------------------------------------------------
# SPLIT_SHIPMENT: 4-8 parcels, each under 40 USD; 4 x 21 > 80, so any draw sums over 80.
SPLIT_PARCELS = (4, 8)
SPLIT_VALUE_USD = (21.0, 39.5)
SPLIT_GAP_MIN = (5.0, 45.0)
# MANIFEST_MISMATCH: declared weight / manifest weight outside 1 +- 0.35, with margin.
MISMATCH_HEAVY_FACTOR = (1.36, 1.8)
MISMATCH_LIGHT_FACTOR = (0.35, 0.64)
MISMATCH_PACKAGES = (1, 20)
# UNDERVALUATION: one item declared at this share of its goods' reference (the rule's bar is 0.3).
UNDERVALUE_FACTOR = (0.05, 0.2)
# WEIGHBRIDGE_MISMATCH: every truck of the shipment weighs this factor of its load (the rule allows 15 %).
WEIGHBRIDGE_HEAVY_FACTOR = (1.3, 1.7)
WEIGHBRIDGE_LIGHT_FACTOR = (0.4, 0.75)
# TRANSIT_OVERDUE: the goods come in this long after their deadline.
OVERDUE_LATE_H = (2.0, 10.0)
# WATCHLIST_HIT: the watchlist a run starts with (trucks and importers of interest);
# planted stories are clean shipments driven by a watched truck or bought by a watched importer.
WATCHED_PLATES = 3
WATCHED_IMPORTERS = 3
WATCH_SEVERITY = "HIGH"
# DECLARANT_SURGE: a new declarant files this many declarations within this many hours (the rule:
# >= 20 in 24 h and > 10 x its trailing daily mean), only once the rule's first day has passed.
SURGE_DECLARATIONS = (22, 30)
SURGE_SPAN_H = (4.0, 20.0)
SURGE_NOT_BEFORE_H = 25.0
# AMENDMENT_CHURN: one declarant cancels, or amends down to this share of the value, this many
# declarations (the rule wants 3 within 7 days), lodged this far apart.
CHURN_DECLARATIONS = (3, 5)
CHURN_GAP_H = (1.0, 30.0)
CHURN_CHANGE_AFTER_H = (0.5, 3.0)
CHURN_LOWER_FACTOR = (0.4, 0.8)

# --- identifiers -----------------------------------------------------------------
# Container serials walk a permutation of 0..999999 (the stride is coprime with
# 10**6), so a run never repeats a container before a million per owner.
CONTAINER_SERIALS = 1_000_000
CONTAINER_STRIDE = 387_433
RUN_TAG_LENGTH = 4
RUN_TAG_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
BUYER_ID_RANGE = (10**11, 10**12)  # 12-digit citizen identity numbers
COMPANY_ID_RANGE = (10**9, 10**10)  # 10-digit tax codes
IMPORTER_POOL = 2000
DECLARANT_POOL = 400


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """What to generate.

    Stories start during ``duration_s`` seconds of event time from ``start_ms``
    (``math.inf``: without end) and are always emitted whole, so their last
    events come later. ``rate`` is the daily average of events per second;
    ``time_scale`` divides every gap inside a story (60: hours become minutes).
    """

    seed: int
    start_ms: int
    duration_s: float
    rate: float
    pattern_rate: float = 0.05
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"rate must be positive, not {self.rate}")
        if not self.duration_s >= 0:
            raise ValueError(f"duration_s must not be negative, not {self.duration_s}")
        if not 0 <= self.pattern_rate <= 1:
            raise ValueError(f"pattern_rate must be between 0 and 1, not {self.pattern_rate}")
        if not self.time_scale > 0:
            raise ValueError(f"time_scale must be positive, not {self.time_scale}")


@dataclass(frozen=True, slots=True)
class SimulatedEvent:
    """One generated event: an Avro-ready record and, on planted stories only, its label.

    A label is ``{"pattern": rule id, "subject_type": ..., "subject_id": ...}``:
    the alert the story must raise.
    """

    kind: str
    record: dict[str, Any]
    label: dict[str, str] | None


# --- the world ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Office:
    """A customs office, its gates and how its cargo moves."""

    code: str
    locode: str
    mode: str
    gates: tuple[str, ...]
    carriers: tuple[str, ...]
    origins: tuple[str, ...]
    gross_kg_per_vehicle: tuple[float, float]
    clearance_h: tuple[float, float]


SEAPORT = Office("VNCLI01", "VNCLI", "SEA", ("SEA-G1", "SEA-G2", "SEA-G3", "SEA-G4"),
                 ("MEDU", "MAEU", "CMDU", "HLCU", "OOLU", "EGLV"),
                 ("CNSHA", "CNNGB", "SGSIN", "KRPUS", "HKHKG", "JPTYO", "THLCH"), (4_000, 24_000), (1, 12))
AIRPORT = Office("VNSGN02", "VNSGN", "AIR", ("AIR-G1", "AIR-G2"),
                 ("CX", "SQ", "VN", "KE", "CI"),
                 ("HKHKG", "KRICN", "JPNRT", "CNPVG", "SGSIN", "DEFRA", "USLAX"), (40, 1_500), (0.5, 4))
BORDER = Office("VNLSN01", "VNLSN", "ROAD", ("LND-G1", "LND-G2", "LND-G3"),
                ("VTRANS", "SGL", "GXLOG", "PXTRUCK"),
                ("CNPXG", "CNNNG", "LAVTE", "KHPNH"), (2_000, 18_000), (0.25, 3))
OFFICES = (SEAPORT, AIRPORT, BORDER)
# Air waybill numbers start with the airline's three-digit prefix.
AWB_PREFIXES = {"CX": "160", "SQ": "618", "VN": "738", "KE": "180", "CI": "297"}
# Container owner prefixes (ISO 6346, category U).
CONTAINER_OWNERS = ("MSCU", "MAEU", "CMAU", "HLXU", "OOLU", "EGHU", "TGHU", "TCNU")


@dataclass(frozen=True, slots=True)
class Goods:
    """A kind of goods, its unit weight and package size; its median price is the reference table's."""

    hs_code: str
    description: str
    unit: str
    kg_per_unit: float
    kg_per_package: float

    @property
    def usd_per_kg(self) -> float:
        """The shipped reference unit value of the goods' HS code: one source for the world and the rule."""
        reference = shipped_price_table().get(self.hs_code[:6])
        if reference is None:
            raise ValueError(f"HS {self.hs_code} has no row in the shipped reference price table")
        return reference.usd_per_kg


GOODS = (
    Goods("85044090", "power adapters", "pcs", 0.25, 10.0),
    Goods("61091000", "cotton t-shirts", "pcs", 0.2, 15.0),
    Goods("64039990", "leather shoes", "pair", 0.9, 12.0),
    Goods("84713020", "laptops", "pcs", 2.2, 15.0),
    Goods("392690", "plastic articles", "kg", 1.0, 25.0),
    Goods("94036090", "wooden furniture", "pcs", 25.0, 50.0),
    Goods("8708999990", "vehicle parts", "kg", 1.0, 20.0),
    Goods("30049099", "medicaments", "kg", 1.0, 8.0),
    Goods("09011110", "coffee beans", "kg", 1.0, 60.0),
    Goods("72085100", "steel plates", "kg", 1.0, 1000.0),
    Goods("85171300", "smartphones", "pcs", 0.4, 8.0),
    Goods("950300", "toys", "pcs", 0.5, 10.0),
)
PARCEL_GOODS = tuple(g for g in GOODS if g.description in
                     ("power adapters", "cotton t-shirts", "leather shoes", "toys", "smartphones"))
# Repeats weight the draw: most goods come from China.
ORIGINS = ("CN", "CN", "CN", "CN", "VN", "KR", "JP", "TH", "US", "DE", "IN", "MY", "ID", "TW")
PARCEL_ORIGINS = ("CN", "CN", "CN", "KR", "US", "JP")
PLATFORM_DECLARANTS = ("SHOPEE-VN", "LAZADA-VN", "TIKI-VN", "TEMU-VN")
COURIER_DECLARANTS = ("DHL-VN", "FEDEX-VN", "UPS-VN", "EMS-VN")
# Vietnamese plates: a two-digit province code, a series letter, five digits.
PLATE_PROVINCES = (11, 99)
PLATE_SERIES = "ABCDEFGHKLM"


def container_check_digit(prefix: str) -> int:
    """The ISO 6346 check digit of a container's owner code, category and serial (10 characters)."""
    total = 0
    for position, char in enumerate(prefix):
        if char.isdigit():
            value = int(char)
        else:
            # A=10 upwards, skipping the multiples of 11.
            value = ord(char) - ord("A") + 10
            value += (value - 1) // 10
        total += value << position
    return total % 11 % 10


def daily_intensity(time_ms: float) -> float:
    """The share of the peak story rate at this moment of the offices' day."""
    hour = ((time_ms / HOUR) + OFFICE_UTC_OFFSET_H) % 24
    return NIGHT_SHARE + (1 - NIGHT_SHARE) * (1 + math.cos((hour - PEAK_LOCAL_HOUR) / 24 * 2 * math.pi)) / 2


class _Ids:
    """Identifiers unique within a run and, through the run tag, across runs."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.tag = "".join(rng.choice(RUN_TAG_ALPHABET) for _ in range(RUN_TAG_LENGTH))
        self.serials = itertools.count(1)
        self.containers = itertools.count()
        self.container_base = rng.randrange(CONTAINER_SERIALS)

    def event_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def serial(self, prefix: str, separator: str = "") -> str:
        return f"{prefix}{separator}{self.tag}{next(self.serials):07d}"

    def container(self) -> str:
        n = next(self.containers)
        owner = CONTAINER_OWNERS[n % len(CONTAINER_OWNERS)]
        serial = (self.container_base + (n // len(CONTAINER_OWNERS)) * CONTAINER_STRIDE) % CONTAINER_SERIALS
        prefix = f"{owner}{serial:06d}"
        return f"{prefix}{container_check_digit(prefix)}"

    def buyer(self) -> str:
        return str(self.rng.randrange(*BUYER_ID_RANGE))

    def company(self) -> str:
        return str(self.rng.randrange(*COMPANY_ID_RANGE))


@dataclass(slots=True)
class Story:
    """One story's events while it is built.

    Offsets are story time in ms from the story's start; ``add`` divides them
    by the time scale, so a story told at time scale 60 takes a sixtieth as long.
    """

    start_ms: int
    time_scale: float
    label: dict[str, str] | None = None
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)

    def time_at(self, offset_ms: float) -> int:
        """The event time of ``offset_ms`` of story time."""
        return self.start_ms + int(offset_ms / self.time_scale)

    def add(self, offset_ms: float, kind: str, record: dict[str, Any]) -> None:
        """Schedule ``record`` (a ``kind`` event) at ``offset_ms`` of story time."""
        record["event_time"] = self.time_at(offset_ms)
        self.events.append((record["event_time"], kind, record))

    def plant(self, pattern: str, subject_type: str, subject_id: str) -> None:
        """Mark the story as a planted pattern: its alert's rule and subject."""
        self.label = {"pattern": pattern, "subject_type": subject_type, "subject_id": subject_id}


@dataclass(frozen=True, slots=True)
class Twist:
    """How a planted story bends an otherwise clean shipment."""

    # Declared gross weight = manifest weight x this; None: within CLEAN_WEIGHT_SPREAD.
    weight_factor: float | None = None
    # Manifest package count minus the declared one (flipped if that would leave none).
    package_diff: int = 0
    cleared: bool = True
    # "IN" or "OUT": the gate passage at which one seal is found broken.
    broken_seal_at: str | None = None
    # The first item's declared unit value = the goods' reference x this; None: a clean price.
    undervalue_factor: float | None = None
    # Every truck weighed at IN, at its load x this; None: some weighed, within WEIGHBRIDGE_SPREAD.
    weighbridge_factor: float | None = None
    # The truck's plate (every vehicle of the shipment) and the importer; None: drawn as usual.
    plate: str | None = None
    importer: str | None = None


# A scheduled event on the heap: (event time, creation order, kind, record, label).
_Scheduled = tuple[int, int, str, dict[str, Any], dict[str, str] | None]


class Traffic:
    """The world of one simulation run and the building blocks of its stories."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.ids = _Ids(random.Random(f"{config.seed}/{config.start_ms}"))
        self.importers = [str(self.rng.randrange(*COMPANY_ID_RANGE)) for _ in range(IMPORTER_POOL)]
        self.declarants = [str(self.rng.randrange(*COMPANY_ID_RANGE)) for _ in range(DECLARANT_POOL)]
        self.watched = watched_subjects(config)
        self.clean_kinds = [kind for kind in STORY_KINDS if not kind.planted]
        self.planted_kinds = [kind for kind in STORY_KINDS if kind.planted]
        self.stories = 0
        self.story_events = 0

    # --- scheduling ----------------------------------------------------------------

    def events(self) -> Iterator[SimulatedEvent]:
        """Every event of every story, in event-time order (ties in the order they were made)."""
        config = self.config
        end = config.start_ms + config.duration_s * 1000
        heap: list[_Scheduled] = []
        order = itertools.count()
        clock = float(config.start_ms)
        while True:
            # Stories arrive at the peak rate and are kept by the daily intensity
            # (thinning), which gives the day its rhythm.
            clock += self.rng.expovariate(self._peak_stories_per_ms())
            if clock >= end:
                break
            # Every story event is at or after its story's start: all events up to
            # the clock are final.
            while heap and heap[0][0] <= clock:
                yield _pop(heap)
            if self.rng.random() >= daily_intensity(clock):
                continue
            story = self.new_story(int(clock))
            for event_time, kind, record in story.events:
                heapq.heappush(heap, (event_time, next(order), kind, record, story.label))
        while heap:
            yield _pop(heap)

    def _peak_stories_per_ms(self) -> float:
        mean_events = ((PRIOR_EVENTS_PER_STORY * PRIOR_STORIES + self.story_events)
                       / (PRIOR_STORIES + self.stories))
        return self.config.rate / (mean_events * MEAN_INTENSITY) / 1000

    def new_story(self, start_ms: int) -> Story:
        """A clean or planted story starting at ``start_ms``."""
        kinds = self.planted_kinds if self.rng.random() < self.config.pattern_rate else self.clean_kinds
        since_start = (start_ms - self.config.start_ms) * self.config.time_scale
        weights = [k.weight if since_start >= k.not_before_ms else 0.0 for k in kinds]
        kind = self.rng.choices(kinds, weights=weights)[0]
        story = Story(start_ms, self.config.time_scale)
        kind.build(self, story)
        self.stories += 1
        self.story_events += len(story.events)
        return story

    # --- building blocks ---------------------------------------------------------------

    def uniform(self, bounds: tuple[float, float]) -> float:
        """A uniform draw between the two bounds."""
        return self.rng.uniform(*bounds)

    def plate(self) -> str:
        """A Vietnamese truck plate, e.g. 51C-123.45."""
        province, series = self.rng.randint(*PLATE_PROVINCES), self.rng.choice(PLATE_SERIES)
        number = self.rng.randrange(100_000)
        return f"{province}{series}-{number // 100:03d}.{number % 100:02d}"

    def seal(self) -> str:
        """A customs seal number."""
        return f"VN{self.rng.randrange(10**7):07d}"

    def items(self, goods: Goods, net_kg: float) -> list[dict[str, Any]]:
        """Declaration lines of ``goods`` weighing ``net_kg`` together, at realistic prices."""
        lines = self.rng.randint(*ITEM_LINES)
        shares = [self.uniform(ITEM_SHARE_RANGE) for _ in range(lines)]
        items = []
        for share in shares:
            line_kg = round(net_kg * share / sum(shares), 1)
            price = goods.usd_per_kg * self.price_factor()
            quantity = line_kg if goods.unit == "kg" else float(max(1, round(line_kg / goods.kg_per_unit)))
            items.append({"hs_code": goods.hs_code, "description": goods.description,
                          "origin_country": self.rng.choice(ORIGINS), "quantity": quantity,
                          "unit": goods.unit, "net_weight_kg": line_kg, "value_usd": round(line_kg * price, 2)})
        return items

    def price_factor(self) -> float:
        """A clean price's ratio to the goods' median: log-normal, clipped to PRICE_FACTOR_RANGE."""
        low, high = PRICE_FACTOR_RANGE
        return min(max(self.rng.lognormvariate(0, PRICE_SIGMA), low), high)

    def declaration(self, office: Office, doc: str, importer: str, declarant: str, channel: str,
                    items: list[dict[str, Any]], containers: tuple[str, ...], gross_kg: float,
                    packages: int) -> dict[str, Any]:
        """A lodged import declaration (event time is set when the story schedules it)."""
        return {
            "event_id": self.ids.event_id(),
            "event_time": 0,
            "declaration_id": self.ids.serial("D"),
            "action": "LODGED",
            "procedure": "IMPORT",
            "channel": channel,
            "office_code": office.code,
            "declarant_id": declarant,
            "importer_id": importer,
            "transport_doc_no": doc,
            "container_nos": list(containers),
            "destination_office": None,
            "transit_deadline": None,
            "seller_id": None,
            "departure_country": None,
            "tax_type": None,
            "total_value_usd": round(sum(i["value_usd"] for i in items), 2),
            "gross_weight_kg": round(gross_kg, 1),
            "package_count": packages,
            "items": items,
        }

    def again(self, declaration: dict[str, Any], action: str, **changes: Any) -> dict[str, Any]:
        """A later action on a declaration, carrying its full state as the contract says."""
        return {**declaration, "event_id": self.ids.event_id(), "action": action,
                "container_nos": list(declaration["container_nos"]),
                "items": [dict(item) for item in declaration["items"]], **changes}

    def manifest(self, office: Office, carrier: str, declaration: dict[str, Any], gross_kg: float,
                 packages: int) -> dict[str, Any]:
        """The carrier's manifest line for a declaration's transport document."""
        item = declaration["items"][0]
        return {
            "event_id": self.ids.event_id(),
            "event_time": 0,
            "manifest_id": self.ids.serial("M"),
            "office_code": office.code,
            "mode": office.mode,
            "carrier_id": carrier,
            "voyage_no": self.voyage(office, carrier),
            "transport_doc_no": declaration["transport_doc_no"],
            "container_nos": list(declaration["container_nos"]),
            "consignee_id": declaration["importer_id"],
            "port_of_loading": self.rng.choice(office.origins),
            "port_of_discharge": office.locode,
            "goods_description": item["description"],
            "hs_code": item["hs_code"][:6],
            "package_count": packages,
            "gross_weight_kg": round(gross_kg, 1),
        }

    def gate(self, office: Office, direction: str, plate: str, *, container: str | None, doc: str | None,
             seal_no: str | None, seal_intact: bool = True, cargo_kg: float | None = None) -> dict[str, Any]:
        """A truck through a gate; the seal is read only where the load carries one."""
        return {
            "event_id": self.ids.event_id(),
            "event_time": 0,
            "office_code": office.code,
            "gate_id": self.rng.choice(office.gates),
            "direction": direction,
            "vehicle_plate": plate,
            "container_no": container,
            "transport_doc_no": doc,
            "seal_no": seal_no,
            "seal_intact": seal_intact if seal_no else None,
            "cargo_weight_kg": None if cargo_kg is None else round(cargo_kg, 1),
            "scan_result": "CLEAR" if self.rng.random() < SCANNED_SHARE else "NOT_SCANNED",
        }

    def transport_doc(self, office: Office, carrier: str) -> str:
        """A bill of lading (carrier code), air waybill (airline prefix) or CMR number."""
        if office.mode == "AIR":
            return self.ids.serial(AWB_PREFIXES[carrier], "-")
        return self.ids.serial(carrier if office.mode == "SEA" else "CMR")

    def voyage(self, office: Office, carrier: str) -> str:
        """A vessel voyage (612W), a flight (VN123) or a truck trip (VTRANS-4821)."""
        if office.mode == "SEA":
            return f"{self.rng.randint(100, 999)}{self.rng.choice('NSEW')}"
        if office.mode == "AIR":
            return f"{carrier}{self.rng.randint(100, 999)}"
        return f"{carrier}-{self.rng.randint(1000, 9999)}"

    def shipment(self, story: Story, office: Office, twist: Twist = Twist()) -> str:
        """A cargo shipment's whole life at ``office``; ``twist`` bends it into a pattern.

        Manifest and declaration (either first), perhaps an amendment, each
        truck IN on arrival, CLEARED, each truck OUT after clearance. Returns
        the transport document number, the shipment's key.
        """
        rng = self.rng
        if office.mode == "SEA":
            vehicles = rng.randint(*SEA_CONTAINERS)
            containers = tuple(self.ids.container() for _ in range(vehicles))
        elif office.mode == "ROAD":
            vehicles = 1
            containers = (self.ids.container(),) if rng.random() < BORDER_CONTAINER_SHARE else ()
        else:
            vehicles, containers = 1, ()
        goods = rng.choice(GOODS)
        loads = [self.uniform(office.gross_kg_per_vehicle) for _ in range(vehicles)]
        gross_kg = sum(loads)
        items = self.items(goods, gross_kg / self.uniform(PACKAGING_FACTOR))
        if twist.undervalue_factor is not None:
            items[0]["value_usd"] = round(items[0]["net_weight_kg"] * goods.usd_per_kg * twist.undervalue_factor, 2)
        packages = sum(max(1, round(i["net_weight_kg"] / goods.kg_per_package)) for i in items)
        carrier = rng.choice(office.carriers)
        doc = self.transport_doc(office, carrier)
        importer = twist.importer or rng.choice(self.importers)
        declaration = self.declaration(office, doc, importer, rng.choice(self.declarants),
                                       "STANDARD", items, containers, gross_kg, packages)
        if twist.weight_factor is None:
            manifest_kg = gross_kg * (1 + rng.uniform(-CLEAN_WEIGHT_SPREAD, CLEAN_WEIGHT_SPREAD))
        else:
            manifest_kg = gross_kg / twist.weight_factor
        # A manifest lists at least one package: a difference that would leave none goes the other way.
        manifest_packages = packages + twist.package_diff
        if manifest_packages < 1:
            manifest_packages = packages + abs(twist.package_diff)
        manifest = self.manifest(office, carrier, declaration, manifest_kg, manifest_packages)

        manifest_at, lodged_at = 0.0, self.uniform(LODGE_AFTER_MANIFEST_H) * HOUR
        if rng.random() < DECLARATION_FIRST_SHARE:
            manifest_at, lodged_at = lodged_at, manifest_at
        story.add(manifest_at, "manifest", manifest)
        story.add(lodged_at, "declaration", declaration)
        if rng.random() < AMEND_SHARE:
            value = round(declaration["total_value_usd"] * self.uniform(AMEND_VALUE_FACTOR), 2)
            declaration = self.again(declaration, "AMENDED", total_value_usd=value)
            story.add(lodged_at + self.uniform(AMEND_AFTER_H) * HOUR, "declaration", declaration)

        arrival = max(manifest_at, lodged_at) + self.uniform(ARRIVAL_AFTER_DOCS_H) * HOUR
        clearance = arrival + self.uniform(office.clearance_h) * HOUR
        departure = clearance + self.uniform(DEPART_AFTER_CLEARANCE_MIN) * MINUTE
        # Added before the gate events, so even a time scale that squeezes both into
        # one millisecond emits the clearance first.
        if twist.cleared:
            story.add(clearance, "declaration", self.again(declaration, "CLEARED"))
        broken = rng.randrange(vehicles)  # the vehicle whose seal a SEAL_BROKEN twist breaks
        for vehicle in range(vehicles):
            if vehicle:
                spacing = self.uniform(TRUCK_SPACING_MIN) * MINUTE
                arrival, departure = arrival + spacing, departure + spacing
            container = containers[vehicle] if containers else None
            plate = twist.plate or self.plate()
            # Containers and road box bodies are sealed; air cargo vans are not.
            seal = self.seal() if office.mode != "AIR" else None
            by_doc = container is None or rng.random() < IN_NAMES_DOC_SHARE
            story.add(arrival, "gate_event", self.gate(
                office, "IN", plate, container=container, doc=doc if by_doc else None, seal_no=seal,
                seal_intact=not (twist.broken_seal_at == "IN" and vehicle == broken),
                cargo_kg=self.weighing(office, loads[vehicle], twist)))
            out_container, out_doc = self.out_naming(container, doc)
            story.add(departure, "gate_event", self.gate(
                office, "OUT", plate, container=out_container, doc=out_doc, seal_no=seal,
                seal_intact=not (twist.broken_seal_at == "OUT" and vehicle == broken)))
        return doc

    def weighing(self, office: Office, load_kg: float, twist: Twist) -> float | None:
        """What the IN weighbridge reads for a truck's load, if it weighs it."""
        if twist.weighbridge_factor is not None:
            return load_kg * twist.weighbridge_factor
        if office.mode == "AIR" or self.rng.random() >= WEIGHED_SHARE:
            return None
        return load_kg * (1 + self.rng.uniform(-WEIGHBRIDGE_SPREAD, WEIGHBRIDGE_SPREAD))

    def transit(self, story: Story, late_h: float | None = None, wrong_office: bool = False) -> str:
        """Goods cleared for transit at the seaport or airport, trucked to the land border.

        Clean: in at the border before the deadline. ``late_h``: in that many
        hours after it. ``wrong_office``: a detour, in at another office on the
        way, then at the border in time.
        """
        rng = self.rng
        office = rng.choice((SEAPORT, AIRPORT))
        goods = rng.choice(GOODS)
        gross_kg = self.uniform(office.gross_kg_per_vehicle)
        items = self.items(goods, gross_kg / self.uniform(PACKAGING_FACTOR))
        packages = sum(max(1, round(i["net_weight_kg"] / goods.kg_per_package)) for i in items)
        carrier = rng.choice(office.carriers)
        doc = self.transport_doc(office, carrier)
        container = self.ids.container() if office.mode == "SEA" else None
        declaration = self.declaration(office, doc, rng.choice(self.importers), rng.choice(self.declarants),
                                       "STANDARD", items, (container,) if container else (), gross_kg, packages)
        declaration["procedure"] = "TRANSIT"
        declaration["destination_office"] = BORDER.code
        story.add(0, "manifest", self.manifest(office, carrier, declaration, gross_kg, packages))
        lodged_at = self.uniform(LODGE_AFTER_MANIFEST_H) * HOUR
        arrival = lodged_at + self.uniform(ARRIVAL_AFTER_DOCS_H) * HOUR
        clearance = arrival + self.uniform(office.clearance_h) * HOUR
        departure = clearance + self.uniform(DEPART_AFTER_CLEARANCE_MIN) * MINUTE
        deadline = clearance + TRANSIT_DEADLINE_H * HOUR
        declaration["transit_deadline"] = story.time_at(deadline)
        story.add(lodged_at, "declaration", declaration)
        plate = self.plate()
        seal = self.seal() if office.mode != "AIR" else None
        story.add(arrival, "gate_event", self.gate(office, "IN", plate, container=container,
                                                   doc=None if container else doc, seal_no=seal))
        story.add(clearance, "declaration", self.again(declaration, "CLEARED"))
        story.add(departure, "gate_event", self.gate(office, "OUT", plate, container=container, doc=doc,
                                                     seal_no=seal))
        travel = self.uniform(TRANSIT_TRAVEL_H) * HOUR
        arrives = deadline + late_h * HOUR if late_h is not None else min(departure + travel, deadline - MINUTE)
        if wrong_office:
            detour = AIRPORT if office is SEAPORT else SEAPORT
            story.add((departure + arrives) / 2, "gate_event", self.gate(detour, "IN", plate, container=container,
                                                                         doc=doc, seal_no=seal))
        story.add(arrives, "gate_event", self.gate(BORDER, "IN", plate, container=container, doc=doc,
                                                   seal_no=seal))
        return doc

    def out_naming(self, container: str | None, doc: str) -> tuple[str | None, str | None]:
        """What an OUT gate event names: the container, the document, or both."""
        if container is None:
            return None, doc
        draw = self.rng.random()
        if draw < OUT_CONTAINER_ONLY_SHARE:
            return container, None
        if draw < OUT_CONTAINER_ONLY_SHARE + OUT_DOC_ONLY_SHARE:
            return None, doc
        return container, doc

    def parcel(self, story: Story, buyer: str, value_usd: float, offset_ms: float) -> None:
        """One e-commerce or express parcel to ``buyer``, lodged at ``offset_ms`` and cleared soon after."""
        rng = self.rng
        low, high = PARCEL_WEIGHT_KG
        fitting = [g for g in PARCEL_GOODS if low <= value_usd / g.usd_per_kg <= high]
        goods = rng.choice(fitting) if fitting else min(PARCEL_GOODS, key=lambda g: g.usd_per_kg)
        weight = max(0.01, round(value_usd / (goods.usd_per_kg * self.price_factor()), 2))
        express = rng.random() < EXPRESS_SHARE
        item = {"hs_code": goods.hs_code, "description": goods.description,
                "origin_country": rng.choice(PARCEL_ORIGINS), "quantity": 1.0, "unit": goods.unit,
                "net_weight_kg": weight, "value_usd": round(value_usd, 2)}
        declarant = rng.choice(COURIER_DECLARANTS if express else PLATFORM_DECLARANTS)
        declaration = self.declaration(AIRPORT, self.ids.serial("HAWB"), buyer, declarant,
                                       "EXPRESS" if express else "ECOMMERCE", [item], (),
                                       weight * self.uniform(PACKAGING_FACTOR), 1)
        story.add(offset_ms, "declaration", declaration)
        story.add(offset_ms + self.uniform(PARCEL_CLEARED_AFTER_MIN) * MINUTE, "declaration",
                  self.again(declaration, "CLEARED"))

    def parcel_value(self) -> float:
        """A clean e-commerce value: anything from a few dollars to a few hundred."""
        return self.rng.lognormvariate(math.log(PARCEL_VALUE_MEDIAN_USD), PARCEL_VALUE_SIGMA)


def _pop(heap: list[_Scheduled]) -> SimulatedEvent:
    _time, _order, kind, record, label = heapq.heappop(heap)
    # Each event gets its own label dict: a consumer editing one cannot change another.
    return SimulatedEvent(kind, record, dict(label) if label else None)


# --- clean stories ---------------------------------------------------------------------


def sea_cargo(traffic: Traffic, story: Story) -> None:
    """A containerised import through the seaport: bill of lading, 1-3 containers."""
    traffic.shipment(story, SEAPORT)


def road_cargo(traffic: Traffic, story: Story) -> None:
    """A truck across the land border: CMR, a container or a sealed box body."""
    traffic.shipment(story, BORDER)


def air_cargo(traffic: Traffic, story: Story) -> None:
    """Air freight through the airport hub: air waybill, no container, collected by van."""
    traffic.shipment(story, AIRPORT)


def transit_movement(traffic: Traffic, story: Story) -> None:
    """Goods in supervised transit from the seaport or airport to the land border, on time."""
    traffic.transit(story)


def ecommerce_parcel(traffic: Traffic, story: Story) -> None:
    """One e-commerce or express parcel to a one-off buyer."""
    traffic.parcel(story, traffic.ids.buyer(), traffic.parcel_value(), 0)


def repeat_buyer(traffic: Traffic, story: Story) -> None:
    """A near miss: a buyer with up to 3 cheap parcels and some dearer ones within a day."""
    buyer = traffic.ids.buyer()
    rng = traffic.rng
    values = [traffic.uniform(REPEAT_CHEAP_VALUE_USD) for _ in range(rng.randint(2, REPEAT_MAX_CHEAP))]
    values += [traffic.uniform(REPEAT_DEAR_VALUE_USD) for _ in range(rng.randint(0, REPEAT_MAX_DEAR))]
    rng.shuffle(values)
    for value in values:
        traffic.parcel(story, buyer, value, rng.uniform(0, REPEAT_SPAN_H) * HOUR)


# --- planted patterns ------------------------------------------------------------------


def split_shipment(traffic: Traffic, story: Story) -> None:
    """SPLIT_SHIPMENT: one buyer, 4-8 parcels each under 40 USD, together over 80, within hours."""
    buyer = traffic.ids.buyer()
    story.plant("SPLIT_SHIPMENT", "IMPORTER", buyer)
    offset = 0.0
    for _ in range(traffic.rng.randint(*SPLIT_PARCELS)):
        traffic.parcel(story, buyer, traffic.uniform(SPLIT_VALUE_USD), offset)
        offset += traffic.uniform(SPLIT_GAP_MIN) * MINUTE


def manifest_mismatch(traffic: Traffic, story: Story) -> None:
    """MANIFEST_MISMATCH: declared weight over 35 % off the manifest, packages that differ, or both."""
    rng = traffic.rng
    variant = rng.choice(("weight", "packages", "both"))
    factor = None
    if variant != "packages":
        heavy = rng.random() < 0.5
        factor = traffic.uniform(MISMATCH_HEAVY_FACTOR if heavy else MISMATCH_LIGHT_FACTOR)
    package_diff = 0
    if variant != "weight":
        package_diff = rng.randint(*MISMATCH_PACKAGES) * rng.choice((-1, 1))
    doc = traffic.shipment(story, rng.choice(OFFICES), Twist(weight_factor=factor, package_diff=package_diff))
    story.plant("MANIFEST_MISMATCH", "SHIPMENT", doc)


def exit_uncleared(traffic: Traffic, story: Story) -> None:
    """EXIT_WITHOUT_CLEARANCE: a shipment lodged but never cleared drives out."""
    doc = traffic.shipment(story, traffic.rng.choice(OFFICES), Twist(cleared=False))
    story.plant("EXIT_WITHOUT_CLEARANCE", "SHIPMENT", doc)


def exit_unknown_container(traffic: Traffic, story: Story) -> None:
    """EXIT_WITHOUT_CLEARANCE: a container no declaration or manifest lists drives out."""
    office = traffic.rng.choice((SEAPORT, BORDER))
    container = traffic.ids.container()
    story.plant("EXIT_WITHOUT_CLEARANCE", "CONTAINER", container)
    story.add(0, "gate_event", traffic.gate(office, "OUT", traffic.plate(), container=container, doc=None,
                                            seal_no=traffic.seal()))


def seal_broken(traffic: Traffic, story: Story) -> None:
    """SEAL_BROKEN: one seal of an otherwise clean shipment is broken at a gate."""
    twist = Twist(broken_seal_at=traffic.rng.choice(("IN", "OUT")))
    doc = traffic.shipment(story, traffic.rng.choice((SEAPORT, BORDER)), twist)
    story.plant("SEAL_BROKEN", "SHIPMENT", doc)


def undervaluation(traffic: Traffic, story: Story) -> None:
    """UNDERVALUATION: a cargo shipment whose first item is declared at 5-20 % of what such goods cost."""
    twist = Twist(undervalue_factor=traffic.uniform(UNDERVALUE_FACTOR))
    doc = traffic.shipment(story, traffic.rng.choice(OFFICES), twist)
    story.plant("UNDERVALUATION", "SHIPMENT", doc)


def weighbridge_mismatch(traffic: Traffic, story: Story) -> None:
    """WEIGHBRIDGE_MISMATCH: every truck of a shipment weighs 30-70 % more, or 25-60 % less, than declared."""
    heavy = traffic.rng.random() < 0.5
    factor = traffic.uniform(WEIGHBRIDGE_HEAVY_FACTOR if heavy else WEIGHBRIDGE_LIGHT_FACTOR)
    doc = traffic.shipment(story, traffic.rng.choice((SEAPORT, BORDER)), Twist(weighbridge_factor=factor))
    story.plant("WEIGHBRIDGE_MISMATCH", "SHIPMENT", doc)


def transit_overdue(traffic: Traffic, story: Story) -> None:
    """TRANSIT_OVERDUE: transit goods reach the border hours after their deadline."""
    doc = traffic.transit(story, late_h=traffic.uniform(OVERDUE_LATE_H))
    story.plant("TRANSIT_OVERDUE", "SHIPMENT", doc)


def transit_wrong_office(traffic: Traffic, story: Story) -> None:
    """TRANSIT_WRONG_OFFICE: transit goods bound for the border come in at another office on the way."""
    doc = traffic.transit(story, wrong_office=True)
    story.plant("TRANSIT_WRONG_OFFICE", "SHIPMENT", doc)


def amendment_churn(traffic: Traffic, story: Story) -> None:
    """AMENDMENT_CHURN: one declarant cancels, or amends down, 3-5 declarations within days.

    Paper only: the declarations name air waybills no manifest or truck ever
    follows, so no other rule has anything to see.
    """
    rng = traffic.rng
    declarant = traffic.ids.company()
    story.plant("AMENDMENT_CHURN", "DECLARANT", declarant)
    offset = 0.0
    for _ in range(rng.randint(*CHURN_DECLARATIONS)):
        goods = rng.choice(GOODS)
        net_kg = traffic.uniform(AIRPORT.gross_kg_per_vehicle)
        items = traffic.items(goods, net_kg)
        declaration = traffic.declaration(AIRPORT, traffic.transport_doc(AIRPORT, rng.choice(AIRPORT.carriers)),
                                          rng.choice(traffic.importers), declarant, "STANDARD", items, (),
                                          net_kg * traffic.uniform(PACKAGING_FACTOR), 1)
        story.add(offset, "declaration", declaration)
        changed_at = offset + traffic.uniform(CHURN_CHANGE_AFTER_H) * HOUR
        if rng.random() < 0.5:
            story.add(changed_at, "declaration", traffic.again(declaration, "CANCELLED"))
        else:
            lowered = round(declaration["total_value_usd"] * traffic.uniform(CHURN_LOWER_FACTOR), 2)
            story.add(changed_at, "declaration", traffic.again(declaration, "AMENDED", total_value_usd=lowered))
        offset += traffic.uniform(CHURN_GAP_H) * HOUR


def watchlist_hit(traffic: Traffic, story: Story) -> None:
    """WATCHLIST_HIT: a clean shipment, but its truck or its importer is on the watchlist."""
    rng = traffic.rng
    if rng.random() < 0.5:
        plate = rng.choice(traffic.watched.plates)
        traffic.shipment(story, rng.choice((SEAPORT, BORDER)), Twist(plate=plate))
        story.plant("WATCHLIST_HIT", "VEHICLE", plate)
    else:
        importer = rng.choice(traffic.watched.importers)
        traffic.shipment(story, rng.choice(OFFICES), Twist(importer=importer))
        story.plant("WATCHLIST_HIT", "IMPORTER", importer)


@dataclass(frozen=True, slots=True)
class Watched:
    """The trucks and importers a run's watchlist names."""

    plates: tuple[str, ...]
    importers: tuple[str, ...]


def watched_subjects(config: SimulationConfig) -> Watched:
    """The watched trucks and importers of a run: from the seed and start, like its identifiers."""
    rng = random.Random(f"{config.seed}/{config.start_ms}/watchlist")
    plates = tuple(f"{rng.randint(*PLATE_PROVINCES)}{rng.choice(PLATE_SERIES)}-{rng.randrange(1000):03d}.W{n}"
                   for n in range(WATCHED_PLATES))
    importers = tuple(f"W{rng.randrange(*COMPANY_ID_RANGE)}" for _ in range(WATCHED_IMPORTERS))
    return Watched(plates, importers)


def watchlist_entries(config: SimulationConfig) -> list[SimulatedEvent]:
    """The watchlist a run starts with (``watchlist_entry`` events), empty when nothing is planted."""
    if config.pattern_rate == 0:
        return []
    watched = watched_subjects(config)
    subjects = [("VEHICLE", p, "truck seen in earlier smuggling cases") for p in watched.plates]
    subjects += [("IMPORTER", i, "importer under investigation") for i in watched.importers]
    return [SimulatedEvent("watchlist_entry", {
        "entry_id": f"sim-{kind.lower()}-{value}", "subject_type": kind, "value": value,
        "severity": WATCH_SEVERITY, "reason": reason, "added_by": "cargoguard simulate",
        "added_at": config.start_ms, "expires_at": None}, None) for kind, value, reason in subjects]


def declarant_surge(traffic: Traffic, story: Story) -> None:
    """DECLARANT_SURGE: a declarant never seen before files 22-30 declarations within hours.

    Paper only, like the churn story. Drawn only after the rule's first day of
    observation (its warm-up), so only in runs longer than a day.
    """
    rng = traffic.rng
    declarant = traffic.ids.company()
    story.plant("DECLARANT_SURGE", "DECLARANT", declarant)
    span = traffic.uniform(SURGE_SPAN_H) * HOUR
    for _ in range(rng.randint(*SURGE_DECLARATIONS)):
        goods = rng.choice(GOODS)
        net_kg = traffic.uniform(AIRPORT.gross_kg_per_vehicle)
        declaration = traffic.declaration(AIRPORT, traffic.transport_doc(AIRPORT, rng.choice(AIRPORT.carriers)),
                                          rng.choice(traffic.importers), declarant, "STANDARD",
                                          traffic.items(goods, net_kg), (), net_kg * traffic.uniform(PACKAGING_FACTOR),
                                          1)
        story.add(rng.uniform(0, span), "declaration", declaration)


# --- the registry ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoryKind:
    """A kind of story: how often it is drawn (among clean or among planted ones) and its builder."""

    name: str
    weight: float
    planted: bool
    build: Callable[[Traffic, Story], None]
    # Drawn only this long (story time) after the run starts: a surge needs history to stand out.
    not_before_ms: float = 0.0


STORY_KINDS = (
    StoryKind("sea_cargo", 0.20, False, sea_cargo),
    StoryKind("road_cargo", 0.12, False, road_cargo),
    StoryKind("air_cargo", 0.08, False, air_cargo),
    StoryKind("ecommerce_parcel", 0.52, False, ecommerce_parcel),
    StoryKind("repeat_buyer", 0.08, False, repeat_buyer),
    StoryKind("transit_movement", 0.04, False, transit_movement),
    StoryKind("split_shipment", 1.0, True, split_shipment),
    StoryKind("manifest_mismatch", 1.0, True, manifest_mismatch),
    StoryKind("exit_uncleared", 0.5, True, exit_uncleared),
    StoryKind("exit_unknown_container", 0.5, True, exit_unknown_container),
    StoryKind("seal_broken", 1.0, True, seal_broken),
    StoryKind("undervaluation", 1.0, True, undervaluation),
    StoryKind("weighbridge_mismatch", 1.0, True, weighbridge_mismatch),
    StoryKind("transit_overdue", 0.5, True, transit_overdue),
    StoryKind("transit_wrong_office", 0.5, True, transit_wrong_office),
    StoryKind("amendment_churn", 1.0, True, amendment_churn),
    StoryKind("watchlist_hit", 1.0, True, watchlist_hit),
    StoryKind("declarant_surge", 1.0, True, declarant_surge, not_before_ms=SURGE_NOT_BEFORE_H * HOUR),
)


def generate(config: SimulationConfig) -> Iterator[SimulatedEvent]:
    """The traffic of ``config`` in event-time order: the same config always gives the same events.

    The run's watchlist (``watchlist_entries``) is not among them: it goes out first, apart.
    """
    return Traffic(config).events()
