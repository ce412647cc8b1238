"""Where each input event goes: which subjects (shipment, importer, container, ...) must see it.

One repartition per key kind: the router sends every event once to each
subject kind that needs it, trimmed to the fields that kind uses. A kind
that serves only rules that are all disabled rests: it is sent nothing, so
a disabled rule costs nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.rules import amendment_churn, declarant_surge, split_shipment, undervaluation
from agents.rules.config import RuleBook
from agents.subjects.hs_code import priced_lines
from agents.subjects.importer import is_split_candidate

SHIPMENTS = "shipments"
CONTAINERS = "containers"
IMPORTERS = "importers"
DECLARANTS = "declarants"
HS_CODES = "hscodes"
SCORING = "scoring"
# LODGED declarations, scored by the router with the risk model (``lodged``), when one is loaded.
OFFICES = "offices"
SUBJECT_KINDS = (SHIPMENTS, CONTAINERS, IMPORTERS, DECLARANTS, HS_CODES, SCORING, OFFICES)
# The kinds that wait for stream time, and so need the router's progress reports.
TIMED_KINDS = (SHIPMENTS, CONTAINERS, IMPORTERS, DECLARANTS, HS_CODES, OFFICES)
# The kinds that serve nothing but these rules. Shipments and containers serve
# most rules and scoring every alert: they never rest.
SERVES_ONLY: dict[str, tuple[str, ...]] = {
    IMPORTERS: (split_shipment.RULE_ID,),
    DECLARANTS: (amendment_churn.RULE_ID, declarant_surge.RULE_ID),
    HS_CODES: (undervaluation.RULE_ID,),
}
NONE_RESTING: frozenset[str] = frozenset()


def resting_kinds(rules: RuleBook) -> frozenset[str]:
    """The subject kinds none of whose rules is enabled: they are sent no events."""
    resting = [kind for kind, rule_ids in SERVES_ONLY.items() if not any(map(rules.enabled, rule_ids))]
    return frozenset(resting) if resting else NONE_RESTING


@dataclass(frozen=True, slots=True)
class Route:
    """One delivery of an input event to a subject."""

    subject_kind: str
    key: str
    kind: str
    fields: Mapping[str, Any]


def _links(event: Mapping[str, Any]) -> list[Route]:
    doc = event["transport_doc_no"]
    return [
        Route(CONTAINERS, container, "link", {
            "container_no": container,
            "transport_doc_no": doc,
            "event_time": event["event_time"],
            "event_id": event["event_id"],
        })
        for container in dict.fromkeys(event.get("container_nos") or ())
    ]


def routes_for(feed: str, event: Mapping[str, Any], resting: frozenset[str] = NONE_RESTING) -> list[Route]:
    """The subjects an event of ``feed`` (declaration, manifest, gate_event) goes to.

    A gate event naming neither a transport document nor a container goes
    nowhere: only its own checks (a broken seal) apply, in the router.
    Kinds in ``resting`` get nothing.
    """
    if feed == "declaration":
        # Only the HS codes need the items, summed per code; leaving them behind keeps batches small.
        slim = {k: v for k, v in event.items() if k != "items"}
        routes = [Route(SHIPMENTS, event["transport_doc_no"], "decl", slim)]
        if DECLARANTS not in resting:
            routes.append(Route(DECLARANTS, event["declarant_id"], "decl", slim))
        if HS_CODES not in resting:
            routes.extend(Route(HS_CODES, hs6, "line", line) for hs6, line in priced_lines(event).items())
        if IMPORTERS not in resting and is_split_candidate(event):
            routes.append(Route(IMPORTERS, event["importer_id"], "decl", slim))
        return routes + _links(event)
    if feed == "manifest":
        return [Route(SHIPMENTS, event["transport_doc_no"], "manifest", event), *_links(event)]
    if feed == "gate_event":
        if event.get("transport_doc_no"):
            return [Route(SHIPMENTS, event["transport_doc_no"], "gate", event)]
        if event.get("container_no"):
            return [Route(CONTAINERS, event["container_no"], "gate", event)]
        return []
    raise ValueError(f"unknown feed {feed!r}")


@dataclass(slots=True)
class LinkMemory:
    """Container links already forwarded, so their repeats need not be.

    Every declaration event (lodged, amended, cleared) and every manifest
    repeats its containers; the container subject keeps a link's first time
    only, so a repeat at the same or a later time changes nothing there.
    Forgetting (a restart, the size bound) only costs a redundant link.
    """

    capacity: int
    first_times: OrderedDict[tuple[str, str], int] = field(default_factory=OrderedDict)

    def clear(self) -> None:
        """Forget every link (a failed step may have noted links it never sent)."""
        self.first_times.clear()

    def is_news(self, route: Route) -> bool:
        """True unless ``route`` repeats a link already forwarded at an earlier or equal time."""
        if route.kind != "link":
            return True
        link = (route.key, route.fields["transport_doc_no"])
        known = self.first_times.get(link)
        time = route.fields["event_time"]
        if known is not None and known <= time:
            self.first_times.move_to_end(link)
            return False
        self.first_times[link] = time
        self.first_times.move_to_end(link)
        if len(self.first_times) > self.capacity:
            self.first_times.popitem(last=False)
        return True
