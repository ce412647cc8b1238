"""The detection logic decides the same whatever order events arrive in, as long as stream time holds.

With several workers (or a failover) the events of different input
partitions reach a subject in another order than they were published.
Stream time never passes an event still on its way, so the guarantee to
check is: deliver the events in any interleaving of their partitions, keep
stream time just behind the oldest event not yet delivered, and the newest
version of every alert is what in-order delivery gives.
"""

import heapq
import random
from dataclasses import replace

import orjson
import pytest

from agents.rules import seal_broken, split_shipment, transit, undervaluation
from agents.rules.config import load_rule_book
from agents.rules.watchlist_hit import WatchEntry, Watchlist
from agents.subjects import importer, scoring
from agents.subjects.common import Context
from streams.runtime.alert_versions import REATTRIBUTED_VERSION_STEP, new_versions, to_scoring
from streams.tools.simulate import FILE_START_MS
from streams.tools.traffic import SimulationConfig, generate, watchlist_entries
from tests.builders import HOUR, MINUTE, T0, declaration, gate_event, next_id, parcel
from tests.oracle import Oracle

RULES = load_rule_book()
PARTITIONS = 12
DAY = 24 * HOUR


def deliver(events, order, watchlist=None, advance_every=1):
    """Feed ``order`` (a permutation of ``events``), stream time just behind the oldest undelivered event.

    ``advance_every`` > 1 holds stream time for that many events, then lets it
    jump (a broker outage holds it, and the backlog after it settles at once).
    """
    oracle = Oracle(RULES, watchlist)
    waiting = [(record["event_time"], n) for n, (_kind, record) in enumerate(events)]
    heapq.heapify(waiting)
    index = {id(record): n for n, (_kind, record) in enumerate(events)}
    delivered: set[int] = set()
    for n, (kind, record) in enumerate(order, 1):
        oracle.feed(kind, record, advance=False)
        delivered.add(index[id(record)])
        while waiting and waiting[0][1] in delivered:
            heapq.heappop(waiting)
        if waiting and n % advance_every == 0:
            oracle.advance(waiting[0][0] - 1)
    oracle.advance(max(record["event_time"] for _kind, record in events) + 2 * DAY)
    return oracle


def interleaved(events, rng):
    """The events split over partitions (order kept within each), delivered in bursts from one at a time."""
    partitions: dict[int, list] = {}
    for event in events:
        partitions.setdefault(rng.randrange(PARTITIONS), []).append(event)
    queues = list(partitions.values())
    order = []
    while queues:
        queue = rng.choice(queues)
        burst = rng.randint(1, 40)
        order += queue[:burst]
        del queue[:burst]
        queues = [q for q in queues if q]
    return order


def as_seen(alerts):
    return {alert_id: (f.rule_id, f.subject_id, f.severity, f.score, f.explanation, f.evidence, f.declaration_ids,
                       f.trigger_event_ids, f.event_time, f.prior_alerts)
            for alert_id, f in alerts.items()}


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_simulated_traffic_in_any_partition_interleaving_gives_the_same_newest_alerts(seed):
    config = SimulationConfig(seed=seed, start_ms=FILE_START_MS, duration_s=1200, rate=1, pattern_rate=0.3)
    events = [(e.kind, e.record) for e in generate(config)]

    def watchlist():
        entries = Watchlist()
        for entry in watchlist_entries(config):
            entries.put(WatchEntry.from_record(entry.record))
        return entries

    in_order = as_seen(deliver(events, events, watchlist()).alerts)
    assert len(in_order) > 40
    rng = random.Random(seed)
    for _ in range(4):
        assert as_seen(deliver(events, interleaved(events, rng), watchlist()).alerts) == in_order
    # Stream time held for a while, then jumping: what settles at once must not change a decision.
    for advance_every in (50, 300):
        assert as_seen(deliver(events, events, watchlist(), advance_every).alerts) == in_order


def test_a_broken_seal_seen_before_its_declaration_names_it_once_it_arrives():
    doc, declarant = next_id("BL"), next_id("DCL")
    lodged = declaration(transport_doc_no=doc, declarant_id=declarant, event_time=T0)
    gate = gate_event("IN", transport_doc_no=doc, seal_intact=False, event_time=T0 + HOUR)
    later = declaration(transport_doc_no=doc, declarant_id=next_id("DCL"), event_time=T0 + 2 * HOUR)
    events = [("declaration", lodged), ("gate_event", gate), ("declaration", later)]
    in_order = deliver(events, events)
    gate_first = deliver(events, [events[1], events[2], events[0]])
    (alert,) = [f for f in gate_first.alerts.values() if f.rule_id == seal_broken.RULE_ID]
    assert alert.declaration_ids == (lodged["declaration_id"],)  # on file at the gate, not the later one
    assert alert.declarant_id == declarant
    assert as_seen(gate_first.alerts) == as_seen(in_order.alerts)
    assert gate_first.versions[alert.alert_id] > REATTRIBUTED_VERSION_STEP  # it moved to the declarant's history


def test_an_amendment_that_arrives_before_stream_time_passed_the_original_does_not_replace_it():
    doc = next_id("BL")
    cheap = declaration(transport_doc_no=doc, event_time=T0, total_value_usd=900.0)
    cheap["items"] = [dict(cheap["items"][0], value_usd=900.0)]  # 1 USD/kg of power adapters
    fixed = dict(declaration(transport_doc_no=doc, event_time=T0 + HOUR), declaration_id=cheap["declaration_id"],
                 action="AMENDED")
    events = [("declaration", cheap), ("declaration", fixed)]
    oracle = Oracle(RULES)
    oracle.watermark = T0 - HOUR  # both arrive before stream time reaches either
    for kind, record in events:
        oracle.feed(kind, record, advance=False)
    oracle.advance(T0 + 2 * HOUR)
    (alert,) = [f for f in oracle.alerts.values() if f.rule_id == undervaluation.RULE_ID]
    assert alert.trigger_event_ids == (cheap["event_id"],)


def test_a_parcel_amended_over_the_limit_early_still_counts_as_it_stood_before():
    buyer = next_id("BUYER")
    parcels = [parcel(buyer, 25.0, T0 + i * HOUR) for i in range(4)]
    raised = dict(parcels[0], event_id=next_id("ev"), action="AMENDED", total_value_usd=60.0,
                  event_time=T0 + 5 * HOUR)
    events = [("declaration", p) for p in parcels] + [("declaration", raised)]
    in_order = deliver(events, events)
    early = deliver(events, [events[4], *events[:4]])
    splits = [f for f in early.alerts.values() if f.rule_id == split_shipment.RULE_ID]
    assert len(splits) == 1 and len(splits[0].declaration_ids) == 4
    assert as_seen(early.alerts) == as_seen(in_order.alerts)


def finding_event(rule_id, declarant, time, version=1):
    doc = declaration(declarant_id=declarant, event_time=time)
    finding = seal_broken.evaluate(gate_event("IN", transport_doc_no=doc["transport_doc_no"], seal_intact=False,
                                              event_time=time), RULES, "SHIPMENT", doc["transport_doc_no"])
    assert finding is not None
    finding = replace(finding, rule_id=rule_id, declarant_id=declarant)
    return finding, ("finding", orjson.loads(orjson.dumps({"finding": finding, "version": version,
                                                           "event_time": time})))


def scores_after(order):
    state, raised, sent = None, {}, {}
    for event in order:
        state, outcome = scoring.process(state, "DECLARANT:D", [event], Context(RULES, None))
        for finding, version in new_versions(outcome.findings, raised, outcome.version_floor).versions:
            sent[finding.alert_id] = (finding.score, version)
    return sent


def test_an_earlier_alert_that_reaches_scoring_late_raises_the_scores_after_it():
    early, early_event = finding_event("SEAL_BROKEN", "D", T0)
    late, late_event = finding_event("SEAL_BROKEN", "D", T0 + DAY)
    in_order = scores_after([early_event, late_event])
    reversed_ = scores_after([late_event, early_event])
    assert in_order[late.alert_id][0] == reversed_[late.alert_id][0] == 75
    assert reversed_[late.alert_id][1] == 2  # first scored 70, then re-sent
    assert in_order[early.alert_id][0] == reversed_[early.alert_id][0] == 70


def test_a_withdrawn_alert_no_longer_counts():
    early, early_event = finding_event("SEAL_BROKEN", "D", T0)
    late, late_event = finding_event("SEAL_BROKEN", "D", T0 + DAY)
    withdraw = ("withdraw", {"alert_id": early.alert_id, "event_time": T0})
    assert scores_after([early_event, late_event, withdraw])[late.alert_id] == (70, 2)  # 75, then 70


def test_a_finding_whose_history_changes_jumps_versions_and_leaves_the_old_history():
    finding, _event = finding_event("SEAL_BROKEN", None, T0)
    raised: dict = {}
    assert [(key, kind) for key, kind, _ in to_scoring([finding], raised)] == [(f"SHIPMENT:{finding.subject_id}",
                                                                                "finding")]
    assert to_scoring([finding], raised) == []  # the same again: nothing
    moved = replace(finding, declarant_id="D9")
    sent = to_scoring([moved], raised)
    assert [(key, kind) for key, kind, _ in sent] == [(f"SHIPMENT:{finding.subject_id}", "withdraw"),
                                                      ("DECLARANT:D9", "finding")]
    assert sent[1][2]["version"] == 1 + REATTRIBUTED_VERSION_STEP


def test_transit_overdue_mentions_only_what_was_seen_by_the_deadline():
    item = transit.Transit("D1", "e1", "VNSGN02", "VNLSN01", deadline=T0 + 12 * HOUR, cleared_at=T0)
    after = {"office_code": "VNLSN01", "event_time": T0 + 13 * HOUR}
    elsewhere = {"office_code": "VNHPH01", "event_time": T0 + MINUTE}
    late = transit.overdue("BL1", item, [after], RULES)
    assert late is not None and "seen at" not in late.explanation
    seen = transit.overdue("BL1", item, [after, elsewhere], RULES)
    assert seen is not None and seen.explanation.endswith("; it was seen at VNHPH01.")


def test_an_importer_whose_parcels_arrive_before_any_stream_time_is_judged_once_there_is_one():
    buyer = next_id("BUYER")
    parcels = [("decl", parcel(buyer, 25.0, T0 + i * HOUR)) for i in range(4)]
    state, outcome = importer.process(None, buyer, parcels, Context(RULES, watermark=None))
    assert outcome.next_due == T0
    state, outcome = importer.process(state, buyer, [], Context(RULES, watermark=T0 + 4 * HOUR))
    assert [f.rule_id for f in outcome.findings] == [split_shipment.RULE_ID]
