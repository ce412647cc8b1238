"""The container subject (key: ``container_no``): which shipment a container belongs to.

Declarations and manifests that list a container link it to their transport
document. A gate event that names only a container is resolved through those
links and handed to its shipment. When no link is known yet, the gate event
waits up to the feed skew (EXIT_WITHOUT_CLEARANCE's ``feed_skew_seconds``) of
stream time for one; still unresolved then, its broken seal is reported on
the container, and an OUT event is a container that leaves with no
declaration or manifest at all.

Serialized form: the dataclass fields as a JSON object, version in ``v``
(currently 1): ``{"container_no": str, "links": {doc: first link event time},
"pending": {event_id: gate event}, "decided": [event_id], "raised":
{alert_id: [version, digest]}, "v": 1}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.rules import exit_without_clearance, seal_broken
from agents.subjects.common import Context, Forward, Outcome, RoutedEvent, by_event_time, remember
from agents.subjects.routes import SHIPMENTS
from agents.subjects.shipment import gate_exit

STATE_VERSION = 1
# A reused container keeps only its most recent shipments.
LINK_MEMORY = 16


# A dict-backed dataclass: what orjson writes fastest.
@dataclass
class ContainerState:
    """The links and unresolved gate events of one container."""

    container_no: str
    links: dict[str, int] = field(default_factory=dict)
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    decided: list[str] = field(default_factory=list)
    raised: dict[str, list[Any]] = field(default_factory=dict)

    v: int = STATE_VERSION

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ContainerState:
        """Rebuild from the serialized form (takes ownership of ``doc``)."""
        if doc.get("v") != STATE_VERSION:
            raise ValueError(f"container state version {doc.get('v')!r} is not {STATE_VERSION}")
        return cls(**doc)


def resolve(links: Mapping[str, int], event_time: int, skew: int) -> str | None:
    """The shipment a container belonged to at ``event_time``.

    The shipment linked last, no later than the event (plus the feed skew);
    failing that, the earliest later one: goods declared after they left are
    still that shipment's.
    """
    before = [(t, doc) for doc, t in links.items() if t <= event_time + skew]
    if before:
        return max(before)[1]
    after = [(t, doc) for doc, t in links.items()]
    return min(after)[1] if after else None


def process(state: ContainerState | None, key: str, events: Sequence[RoutedEvent],
            context: Context) -> tuple[ContainerState, Outcome]:
    """Apply links and container-only gate events; hand resolved gate events on."""
    state = state if state is not None else ContainerState(container_no=key)
    outcome = Outcome()
    rules = context.rules
    skew = exit_without_clearance.skew_ms(rules)
    for kind, event in by_event_time(events):
        if kind == "link":
            doc = event["transport_doc_no"]
            # The first time a document lists the container: when the
            # container became that shipment's. Repeats change nothing.
            state.links[doc] = min(state.links.get(doc, event["event_time"]), event["event_time"])
            if len(state.links) > LINK_MEMORY:
                del state.links[min(state.links, key=state.links.__getitem__)]
        elif kind == "gate":
            event_id = event["event_id"]
            if event_id in state.decided or event_id in state.pending:
                continue
            doc = resolve(state.links, event["event_time"], skew)
            if doc is not None:
                # Resolved at once: a redelivery is resolved the same way and
                # the shipment ignores it, so there is nothing to remember.
                outcome.forwards.append(Forward(SHIPMENTS, doc, "gate", {**event, "transport_doc_no": doc}))
                continue
            state.pending[event_id] = dict(event)

    for event_id, event in sorted(state.pending.items()):
        doc = resolve(state.links, event["event_time"], skew)
        if doc is not None:
            outcome.forwards.append(Forward(SHIPMENTS, doc, "gate",
                                            {**event, "transport_doc_no": doc}))
        else:
            due = event["event_time"] + skew
            if context.watermark is None or context.watermark < due:
                outcome.wake_at(due)
                continue
            # Still unknown once the feed skew has passed: the checks run on the container.
            # (Raising the seal earlier would report it twice, on container and shipment.)
            for finding in (seal_broken.evaluate(event, rules, "CONTAINER", key),
                            exit_without_clearance.evaluate_unknown_container_exit(gate_exit(event), rules)
                            if event["direction"] == "OUT" else None):
                if finding is not None:
                    outcome.findings.append(finding)
        del state.pending[event_id]
        remember(state.decided, event_id)
    return state, outcome


def is_empty(state: ContainerState) -> bool:
    """True when the container has nothing worth storing."""
    return not state.links and not state.pending and not state.raised
